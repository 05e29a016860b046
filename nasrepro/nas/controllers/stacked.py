"""Several controllers run as one batch: their seed rows stacked in order.

Why: a batched search with a different optimizer setting per block of rows (e.g. one
Adam learning rate per block) is one run of run_reinforce with one parameter group per
block, instead of one run per setting (the per-step cost is mostly fixed overhead).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nasrepro.nas.controllers.base import Controller, Sample


class StackedController(Controller):
    """Rows of parts[0], then parts[1], ...; each part keeps its own parameters, so an
    optimizer can give each part its own parameter group."""

    def __init__(self, parts: Sequence[Controller]) -> None:
        super().__init__()
        if not parts:
            raise ValueError("StackedController: give at least one controller")
        self.parts = nn.ModuleList(parts)
        self.n_seeds = sum(p.n_seeds for p in parts)

    def sample(self, generator: torch.Generator) -> Sample:
        got = [p.sample(generator) for p in self.parts]
        return Sample(ops=torch.cat([g.ops for g in got]),
                      log_prob=torch.cat([g.log_prob for g in got]),
                      entropy=torch.cat([g.entropy for g in got]))

    def sample_many(self, generator: torch.Generator, k: int) -> Sample:
        """k draws per row from the current policy: ops [S, k, 6], log_prob/entropy [S, k]."""
        got = [p.sample_many(generator, k) for p in self.parts]  # type: ignore[operator]
        return Sample(ops=torch.cat([g.ops for g in got]),
                      log_prob=torch.cat([g.log_prob for g in got]),
                      entropy=torch.cat([g.entropy for g in got]))

    def adam(self, lrs: Sequence[float], **kwargs: float | tuple[float, float]
             ) -> torch.optim.Adam:
        """Adam with one parameter group per part, part i at learning rate lrs[i]."""
        if len(lrs) != len(self.parts):
            raise ValueError(f"StackedController.adam: {len(lrs)} learning rates for "
                             f"{len(self.parts)} parts")
        return torch.optim.Adam([{"params": list(p.parameters()), "lr": float(lr)}
                                 for p, lr in zip(self.parts, lrs, strict=True)], **kwargs)
