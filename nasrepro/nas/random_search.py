"""Random search over NAS-Bench-201 cells, batched over seeds: the reference every learned
controller must beat.

Written against a lookup callable (ops [S, k, 6] long -> (accuracy [S, k], latency
[S, k]) tensors) so it needs nothing but the benchmark table's lookup, whatever units the
table uses. Each seed draws from its own torch.Generator, so S seeds batched are exactly
S runs one seed at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from nasrepro.errors import ConfigError
from nasrepro.nas.search_space import N_EDGES, N_OPS

Lookup = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class SearchTrace:
    """Every architecture a search evaluated, in order, per seed.

    ops [S, n, 6] long; acc [S, n] and lat [S, n] as the lookup returned them."""

    ops: torch.Tensor
    acc: torch.Tensor
    lat: torch.Tensor

    def __post_init__(self) -> None:
        s, n = self.ops.shape[:2]
        if self.ops.shape != (s, n, N_EDGES) or self.acc.shape != (s, n) \
                or self.lat.shape != (s, n):
            raise ConfigError(f"SearchTrace shapes disagree: ops {tuple(self.ops.shape)}, "
                              f"acc {tuple(self.acc.shape)}, lat {tuple(self.lat.shape)}")


def seed_generators(seeds: Sequence[int], device: str | torch.device = "cpu"
                    ) -> list[torch.Generator]:
    """One independent generator per seed."""
    if not seeds:
        raise ConfigError("need at least one seed")
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]


def random_cells(seeds: Sequence[int], n: int, device: str | torch.device = "cpu"
                 ) -> torch.Tensor:
    """n cells per seed, each op uniform and independent: [S, n, 6] long."""
    if n < 1:
        raise ConfigError(f"random search needs n >= 1 samples, got {n}")
    return torch.stack([torch.randint(0, N_OPS, (n, N_EDGES), generator=g, device=device)
                        for g in seed_generators(seeds, device)])


def random_search(seeds: Sequence[int], n_samples: int, lookup: Lookup,
                  device: str | torch.device = "cpu") -> SearchTrace:
    """Uniform random search: n_samples independent cells per seed, looked up at once."""
    ops = random_cells(seeds, n_samples, device)
    acc, lat = lookup(ops)
    return SearchTrace(ops=ops, acc=acc, lat=lat)
