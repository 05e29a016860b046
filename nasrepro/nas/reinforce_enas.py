"""REINFORCE as NAS-Bench-201's ENAS controller is trained there, batched over seeds.

Settings (EnasSettings) and where each is documented, D-X-Y/AutoDL-Projects:
  samples_per_update 20     scripts-search/NAS-Bench-201-algos/ENAS.sh --controller_num_aggregate
  baseline_decay     0.99   same script, --controller_bl_dec
  entropy_weight     1e-4   same script, --controller_entropy_weight
  lr 0.001, betas (0, 0.999), eps 0.001   configs/nas-benchmark/algos/ENAS.config
                                           (controller_lr / _betas / _eps)
  clip_norm          5.0    exps/NAS-Bench-201-algos/ENAS.py, train_controller
                            (clip_grad_norm_ before each controller step)
How a step goes there (train_controller), and here:
  each of the samples_per_update architectures is drawn from the same policy (the step
  comes after all of them), so here they are drawn at once (sample_many);
  reward = task reward + entropy_weight * entropy of that draw ("entropy added to the
  reward"); baseline: the first task reward, then b <- b - (1 - decay) (b - reward) per
  sample, updated before the advantage; loss = mean over the samples of
  -log_prob * (reward - b); gradient-norm clipping, Adam step.
Our choices (written down, not documented there): the entropy bonus enters the reward
detached (ENAS.py keeps it in the autograd graph, so its gradient also flows through the
reward and the baseline; we keep the REINFORCE estimator plus a bonus); the norm is
clipped per seed (clip_grad_norm_ over the whole batch would couple independent seeds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from nasrepro.nas.controllers.base import Controller
from nasrepro.nas.reinforce import Lookup, RewardFn


@dataclass(frozen=True)
class EnasSettings:
    """NAS-Bench-201's ENAS controller-training settings (see the module docstring)."""

    samples_per_update: int = 20
    lr: float = 0.001
    betas: tuple[float, float] = (0.0, 0.999)
    eps: float = 0.001
    clip_norm: float = 5.0
    baseline_decay: float = 0.99
    entropy_weight: float = 1e-4


def clip_grad_norm_per_seed_(params: list[torch.nn.Parameter], n_seeds: int,
                             max_norm: float) -> torch.Tensor:
    """clip_grad_norm_ (L2, coefficient max_norm / (norm + 1e-6), at most 1) applied to
    each seed's slice of every parameter [S, ...] separately; returns the norms [S]."""
    grads = [p.grad for p in params if p.grad is not None]
    if any(g.shape[0] != n_seeds for g in grads):
        raise ValueError("clip_grad_norm_per_seed_: every parameter needs a leading seed "
                         f"dimension of {n_seeds}")
    sq = sum(g.reshape(n_seeds, -1).pow(2).sum(1) for g in grads)
    norm = torch.as_tensor(sq).sqrt()
    coef = (max_norm / (norm + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))
    return norm


ManyObserver = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], None]


def run_reinforce_enas(controller: Controller, lookup: Lookup, reward_fn: RewardFn,
                       n_samples: int, *, settings: EnasSettings,
                       generator: torch.Generator, observe: ManyObserver | None = None,
                       progress: Callable[[int], None] | None = None) -> None:
    """Train `controller` (needs sample_many) on n_samples architectures per seed,
    k = settings.samples_per_update per Adam step.

    lookup and reward_fn act on S * k rows, seed-major (row s * k + j = seed s's j-th draw
    of the step; build them with each seed's source / target repeated k times).
    observe(t0, row, acc, lat, task_reward), tensors [S, k], sees each step's draws;
    t0 = index of the step's first sample."""
    k = settings.samples_per_update
    if n_samples % k:
        raise ValueError(f"n_samples {n_samples} is not a multiple of samples_per_update {k}")
    s = controller.n_seeds
    params = list(controller.parameters())
    opt = torch.optim.Adam(params, lr=settings.lr, betas=settings.betas, eps=settings.eps)
    baseline: torch.Tensor | None = None
    decay = settings.baseline_decay
    for u in range(n_samples // k):
        smp = controller.sample_many(generator, k)  # type: ignore[attr-defined]
        with torch.no_grad():
            row, acc, lat = lookup(smp.ops.reshape(s * k, -1))
            task = reward_fn(acc, lat).to(torch.float64).view(s, k)
            reward = task + settings.entropy_weight * smp.entropy.to(torch.float64)
            adv = torch.empty_like(reward)
            for j in range(k):  # the baseline moves sample by sample, as in ENAS.py
                baseline = task[:, j] if baseline is None else baseline - (1 - decay) * (
                    baseline - reward[:, j])
                adv[:, j] = reward[:, j] - baseline
            if observe is not None:
                observe(u * k, row.view(s, k), acc.view(s, k), lat.view(s, k), task)
        loss = -(adv.to(smp.log_prob.dtype) * smp.log_prob).sum() / k
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm_per_seed_(params, s, settings.clip_norm)
        opt.step()
        if progress is not None:
            progress((u + 1) * k)
