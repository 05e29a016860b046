"""The NAS-Bench-201 REINFORCE baseline's policy: a 6 x 5 table of logits per seed.

NAS-Bench-201 (Dong & Yang, ICLR 2020) and NATS-Bench run REINFORCE with a policy that
is one independent categorical distribution per edge: `arch_parameters = 1e-3 * randn(
edges, ops)`. Here that table has a leading seed dimension: logits [S, 6, 5].
"""

from __future__ import annotations

import torch
from torch import nn

from nasrepro.nas.controllers.base import Controller, Sample
from nasrepro.nas.search_space import N_EDGES, N_OPS


def sample_categorical(logits: torch.Tensor, generator: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw one index per row of logits [..., K] by inverse CDF with a seeded generator.

    Returns (index [...] long, log_prob [...], entropy [...]); log_prob and entropy stay
    differentiable. One uniform per row keeps the random stream independent of K.
    """
    logp = torch.log_softmax(logits, dim=-1)
    p = logp.exp()
    u = torch.rand((*logits.shape[:-1], 1), generator=generator, device=logits.device,
                   dtype=p.dtype)
    idx = (p.detach().cumsum(-1) < u).sum(-1).clamp_max(logits.shape[-1] - 1)
    log_prob = logp.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
    entropy = -(p * logp).sum(-1)
    return idx, log_prob, entropy


class FactorizedController(Controller):
    """Independent categorical per edge: logits [S, 6, 5], initialised 1e-3 * N(0, 1)
    as in NAS-Bench-201's REINFORCE baseline."""

    def __init__(self, n_seeds: int, generator: torch.Generator | None = None,
                 init_std: float = 1e-3, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.n_seeds = n_seeds
        init = torch.randn(n_seeds, N_EDGES, N_OPS, generator=generator,
                           device=generator.device if generator is not None else device)
        self.logits = nn.Parameter((init_std * init).to(device))

    def probs(self) -> torch.Tensor:
        """Current op probabilities [S, 6, 5] (for reports and tests)."""
        return torch.softmax(self.logits.detach(), dim=-1)

    def sample(self, generator: torch.Generator) -> Sample:
        ops, log_prob, entropy = sample_categorical(self.logits, generator)
        return Sample(ops=ops, log_prob=log_prob.sum(-1), entropy=entropy.sum(-1))

    def sample_many(self, generator: torch.Generator, k: int) -> Sample:
        """k independent draws per seed: ops [S, k, 6], log_prob and entropy [S, k]."""
        logits = self.logits.unsqueeze(1).expand(self.n_seeds, k, N_EDGES, N_OPS)
        ops, log_prob, entropy = sample_categorical(logits, generator)
        return Sample(ops=ops, log_prob=log_prob.sum(-1), entropy=entropy.sum(-1))
