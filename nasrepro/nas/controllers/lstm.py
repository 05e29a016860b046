"""An LSTM controller as in NAS (Zoph & Le 2017) / ENAS (Pham et al. 2018), batched
over seeds: every weight has a leading seed dimension S, so S controllers run as one
batched computation and never mix.

One decision per edge (6 steps). At step t the LSTM reads the embedding of the previous
decision (a learned start vector at t = 0), its output gives op logits, and the logits
are shaped as in ENAS: logits / temperature, then tanh_constant * tanh(.).

Defaults follow NAS-Bench-201's ENAS controller (the RNN controller that benchmark uses
on this search space): hidden size 32, 2 layers, temperature 5.0, tanh constant 2.5,
uniform(-0.1, 0.1) initialisation; ENAS' entropy weight 1e-4 is a REINFORCE argument.
Why: temperature and tanh bound the logits to [-2.5, 2.5] so the policy cannot collapse
onto one op early; the entropy bonus adds the same pressure to keep exploring.
"""

from __future__ import annotations

import torch
from torch import nn

from nasrepro.nas.controllers.base import Controller, Sample
from nasrepro.nas.controllers.factorized import sample_categorical
from nasrepro.nas.search_space import N_EDGES, N_OPS


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator | None,
             device: str | torch.device) -> nn.Parameter:
    gdev = generator.device if generator is not None else device
    w = torch.rand(shape, generator=generator, device=gdev) * 2 * bound - bound
    return nn.Parameter(w.to(device))


class LSTMController(Controller):
    """ENAS-style LSTM policy over the 6 edges, parameters [S, ...] per seed."""

    def __init__(self, n_seeds: int, generator: torch.Generator | None = None,
                 hidden: int = 32, layers: int = 2, temperature: float = 5.0,
                 tanh_constant: float = 2.5, init_range: float = 0.1,
                 device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.n_seeds, self.hidden, self.layers = n_seeds, hidden, layers
        self.temperature, self.tanh_constant = temperature, tanh_constant
        s, h = n_seeds, hidden
        self.start = _uniform((s, h), init_range, generator, device)          # input at t=0
        self.embed = _uniform((s, N_OPS, h), init_range, generator, device)   # op -> input
        # layer l: gates = [x, h] @ w[l] + b[l], gate order (input, forget, cell, output)
        self.w = nn.ParameterList(_uniform((s, 2 * h, 4 * h), init_range, generator, device)
                                  for _ in range(layers))
        self.b = nn.ParameterList(_uniform((s, 4 * h), init_range, generator, device)
                                  for _ in range(layers))
        self.w_out = _uniform((s, h, N_OPS), init_range, generator, device)
        self.b_out = _uniform((s, N_OPS), init_range, generator, device)

    def _cell(self, layer: int, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """One LSTM cell step for all seeds: x, h, c [S, H] -> h, c [S, H]."""
        z = torch.baddbmm(self.b[layer].unsqueeze(1), torch.cat([x, h], -1).unsqueeze(1),
                          self.w[layer]).squeeze(1)                           # [S, 4H]
        i, f, g, o = z.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def sample(self, generator: torch.Generator) -> Sample:
        s, h = self.n_seeds, self.hidden
        zeros = self.start.new_zeros(s, h)
        hs, cs = [zeros] * self.layers, [zeros] * self.layers
        x = self.start
        ops, log_probs, entropies = [], [], []
        seed_idx = torch.arange(s, device=x.device)
        for _ in range(N_EDGES):
            for layer in range(self.layers):
                hs[layer], cs[layer] = self._cell(layer, x, hs[layer], cs[layer])
                x = hs[layer]
            logits = torch.baddbmm(self.b_out.unsqueeze(1), x.unsqueeze(1),
                                   self.w_out).squeeze(1)                     # [S, 5]
            logits = self.tanh_constant * torch.tanh(logits / self.temperature)
            op, lp, ent = sample_categorical(logits, generator)
            ops.append(op)
            log_probs.append(lp)
            entropies.append(ent)
            x = self.embed[seed_idx, op]                                       # [S, H]
        return Sample(ops=torch.stack(ops, -1), log_prob=torch.stack(log_probs, -1).sum(-1),
                      entropy=torch.stack(entropies, -1).sum(-1))

    def _cell_many(self, layer: int, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """One LSTM cell step for k draws per seed: x, h, c [S, k, H] -> h, c [S, k, H]."""
        z = torch.baddbmm(self.b[layer].unsqueeze(1), torch.cat([x, h], -1), self.w[layer])
        i, f, g, o = z.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def sample_many(self, generator: torch.Generator, k: int) -> Sample:
        """k independent draws per seed from the current policy (ENAS-style updates average
        several samples): ops [S, k, 6], log_prob and entropy [S, k]."""
        s, h = self.n_seeds, self.hidden
        zeros = self.start.new_zeros(s, k, h)
        hs, cs = [zeros] * self.layers, [zeros] * self.layers
        x = self.start.unsqueeze(1).expand(s, k, h)
        ops, log_probs, entropies = [], [], []
        seed_idx = torch.arange(s, device=x.device).unsqueeze(1)
        for _ in range(N_EDGES):
            for layer in range(self.layers):
                hs[layer], cs[layer] = self._cell_many(layer, x, hs[layer], cs[layer])
                x = hs[layer]
            logits = torch.baddbmm(self.b_out.unsqueeze(1), x, self.w_out)   # [S, k, 5]
            logits = self.tanh_constant * torch.tanh(logits / self.temperature)
            op, lp, ent = sample_categorical(logits, generator)
            ops.append(op)
            log_probs.append(lp)
            entropies.append(ent)
            x = self.embed[seed_idx, op]                                       # [S, k, H]
        return Sample(ops=torch.stack(ops, -1), log_prob=torch.stack(log_probs, -1).sum(-1),
                      entropy=torch.stack(entropies, -1).sum(-1))
