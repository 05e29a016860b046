"""Regularized evolution (Real et al., AAAI 2019) over NAS-Bench-201 cells, batched over seeds.

Aging evolution as in the paper and NAS-Bench-201's R-EA baseline:
  1. evaluate `population` random cells (they count towards the sample budget);
  2. each cycle: draw `tournament` distinct members uniformly, take the fittest as the
     parent, mutate it (one edge, chosen uniformly, gets a different op, chosen uniformly
     among the other 4, NB201's mutate_arch), evaluate the child, add it and remove the
     *oldest* member (not the worst: the regularisation).
Fitness is a callable of (accuracy, latency), here the search's reward, so evolution
optimises the same objective as the REINFORCE controllers.

All randomness of seed s is drawn up front from that seed's own generator, so S seeds
batched are exactly S single-seed runs, and the cycle loop is pure tensor work.
Defaults follow NB201's R-EA script (ea_population 10, ea_sample_size 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from nasrepro.errors import ConfigError
from nasrepro.nas.random_search import Lookup, SearchTrace, seed_generators
from nasrepro.nas.search_space import N_EDGES, N_OPS

Fitness = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mutate(parents: torch.Tensor, edge: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Change one op per cell: parents [B, 6], edge [B] in 0..5, shift [B] in 1..4.

    The op on `edge` becomes (op + shift) mod 5, so it always differs from the parent's
    and each of the other 4 ops is equally likely when shift is uniform."""
    child = parents.clone()
    rows = torch.arange(parents.shape[0], device=parents.device)
    child[rows, edge] = (parents[rows, edge] + shift) % N_OPS
    return child


def regularized_evolution(seeds: Sequence[int], n_samples: int, lookup: Lookup,
                          fitness: Fitness, population: int = 10, tournament: int = 3,
                          device: str | torch.device = "cpu") -> SearchTrace:
    """Aging evolution with n_samples evaluations per seed (population included)."""
    if not 1 <= tournament <= population:
        raise ConfigError(f"need 1 <= tournament ({tournament}) <= population ({population})")
    if n_samples < population:
        raise ConfigError(f"n_samples ({n_samples}) must cover the initial population "
                          f"({population})")
    s = len(seeds)
    cycles = n_samples - population
    gens = seed_generators(seeds, device)
    init = torch.stack([torch.randint(0, N_OPS, (population, N_EDGES), generator=g,
                                      device=device) for g in gens])  # [S, P, 6]
    # per cycle: tournament keys [P], mutated edge, op shift
    keys = torch.stack([torch.rand(cycles, population, generator=g, device=device)
                        for g in gens])  # [S, C, P]
    edges = torch.stack([torch.randint(0, N_EDGES, (cycles,), generator=g, device=device)
                         for g in gens])  # [S, C]
    shifts = torch.stack([torch.randint(1, N_OPS, (cycles,), generator=g, device=device)
                          for g in gens])  # [S, C]

    acc0, lat0 = lookup(init)
    pop_ops, pop_fit = init.clone(), fitness(acc0, lat0)  # [S, P, 6], [S, P]
    ops_hist = torch.empty(s, n_samples, N_EDGES, dtype=torch.long, device=device)
    acc_hist = torch.empty(s, n_samples, dtype=acc0.dtype, device=device)
    lat_hist = torch.empty(s, n_samples, dtype=lat0.dtype, device=device)
    ops_hist[:, :population], acc_hist[:, :population], lat_hist[:, :population] = \
        init, acc0, lat0
    rows = torch.arange(s, device=device)
    for c in range(cycles):
        # `tournament` distinct members: the ones with the smallest random keys
        members = keys[:, c].argsort(dim=-1)[:, :tournament]  # [S, k]
        best = members.gather(1, pop_fit.gather(1, members).argmax(dim=1, keepdim=True))
        parent = pop_ops[rows, best[:, 0]]  # [S, 6]
        child = mutate(parent, edges[:, c], shifts[:, c])
        acc, lat = lookup(child[:, None])  # [S, 1]
        oldest = c % population  # members are replaced in birth order
        pop_ops[:, oldest] = child
        pop_fit[:, oldest] = fitness(acc, lat)[:, 0]
        i = population + c
        ops_hist[:, i], acc_hist[:, i], lat_hist[:, i] = child, acc[:, 0], lat[:, 0]
    return SearchTrace(ops=ops_hist, acc=acc_hist, lat=lat_hist)
