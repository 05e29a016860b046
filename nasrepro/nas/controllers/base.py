"""The controller protocol every search in the suite uses.

A controller is a policy over NAS-Bench-201 cells (6 edges x 5 ops) for S independent
seeds at once: every parameter has a leading seed dimension S, and nothing mixes seeds,
so S searches run as one batched computation and are exactly the searches one would get
one seed at a time (Adam is element-wise, losses are summed over seeds).

sample(generator) draws one architecture per seed and returns a Sample:
  ops       LongTensor [S, 6]   op index per edge, edge order of nasrepro.nas.search_space
  log_prob  Tensor     [S]      log-probability of the drawn cell (differentiable)
  entropy   Tensor     [S]      entropy of the per-decision distributions (differentiable)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Sample:
    """One drawn cell per seed, with what REINFORCE needs."""

    ops: torch.Tensor  # [S, 6] long
    log_prob: torch.Tensor  # [S]
    entropy: torch.Tensor  # [S]


class Controller(nn.Module):
    """Base class: subclasses set self.n_seeds and implement sample()."""

    n_seeds: int

    def sample(self, generator: torch.Generator) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError
