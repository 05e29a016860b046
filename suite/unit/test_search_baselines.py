"""Random search and regularized evolution: shapes, seed batching, mutation, selection.

The lookup here is a small closed-form objective of the ops (a test fixture for the
search algorithms, not a stand-in for benchmark data; the claims use the NB201 table)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasrepro.errors import ConfigError
from nasrepro.nas.evolution import mutate, regularized_evolution
from nasrepro.nas.random_search import SearchTrace, random_search
from nasrepro.nas.search_space import N_EDGES, N_OPS

COST = torch.tensor([0.0, 0.5, 2.0, 4.0, 1.0])  # per-op "latency"


def toy_lookup(ops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """acc grows with the number of conv3x3 edges (fraction), lat = 1 + sum of op costs."""
    acc = (ops == 3).sum(-1).double() / N_EDGES * 0.9
    lat = 1.0 + COST[ops].sum(-1).double()
    return acc, lat


def toy_fitness(acc: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
    return acc


def test_random_search_shapes_and_range():
    tr = random_search([0, 1, 2], 300, toy_lookup)
    assert isinstance(tr, SearchTrace)
    assert tr.ops.shape == (3, 300, N_EDGES) and tr.acc.shape == (3, 300)
    assert int(tr.ops.min()) == 0 and int(tr.ops.max()) == N_OPS - 1
    freq = torch.bincount(tr.ops.flatten(), minlength=N_OPS).double() / tr.ops.numel()
    assert bool(((freq - 0.2).abs() < 0.03).all())


def test_random_search_batched_equals_alone():
    tr = random_search([4, 9], 50, toy_lookup)
    for s, seed in enumerate([4, 9]):
        alone = random_search([seed], 50, toy_lookup)
        assert torch.equal(alone.ops[0], tr.ops[s])
        assert torch.equal(alone.acc[0], tr.acc[s])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, N_OPS - 1), min_size=N_EDGES, max_size=N_EDGES),
       st.integers(0, N_EDGES - 1), st.integers(1, N_OPS - 1))
def test_mutate_changes_exactly_the_chosen_edge(parent, edge, shift):
    p = torch.tensor([parent])
    child = mutate(p, torch.tensor([edge]), torch.tensor([shift]))[0]
    diff = (child != p[0]).nonzero().flatten().tolist()
    assert diff == [edge]
    assert 0 <= int(child[edge]) < N_OPS


def test_mutation_shifts_reach_every_other_op():
    p = torch.full((4, N_EDGES), 2)
    child = mutate(p, torch.zeros(4, dtype=torch.long), torch.arange(1, 5))
    assert sorted(child[:, 0].tolist()) == [0, 1, 3, 4]


def test_evolution_children_are_one_mutation_from_the_live_population():
    """With aging, the population before evaluation i is exactly evaluations i-P..i-1, so
    every child must be at Hamming distance 1 from one of them (its parent)."""
    p = 10
    tr = regularized_evolution([0, 1], 200, toy_lookup, toy_fitness, population=p,
                               tournament=3)
    for s in range(2):
        for i in range(p, 200):
            dist = (tr.ops[s, i - p : i] != tr.ops[s, i]).sum(-1)
            assert int((dist == 1).sum()) >= 1, f"seed {s} eval {i}"


def test_evolution_batched_equals_alone():
    tr = regularized_evolution([2, 7], 120, toy_lookup, toy_fitness)
    for s, seed in enumerate([2, 7]):
        alone = regularized_evolution([seed], 120, toy_lookup, toy_fitness)
        assert torch.equal(alone.ops[0], tr.ops[s])
        assert torch.equal(alone.lat[0], tr.lat[s])


def test_evolution_beats_random_search_on_the_toy_objective():
    seeds = list(range(8))
    evo = regularized_evolution(seeds, 400, toy_lookup, toy_fitness)
    rnd = random_search(seeds, 400, toy_lookup)
    assert float(evo.acc[:, -100:].mean()) > float(rnd.acc[:, -100:].mean()) + 0.2


def test_full_tournament_picks_the_fittest_member():
    """tournament == population: the parent is always the population's fittest."""
    p = 5
    tr = regularized_evolution([3], 60, toy_lookup, toy_fitness, population=p, tournament=p)
    for i in range(p, 60):
        window = tr.ops[0, i - p : i]
        best = toy_fitness(*toy_lookup(window)).max()
        parents = window[(window != tr.ops[0, i]).sum(-1) == 1]
        assert float(toy_fitness(*toy_lookup(parents)).max()) == float(best)


def test_evolution_bad_options():
    with pytest.raises(ConfigError, match="tournament"):
        regularized_evolution([0], 100, toy_lookup, toy_fitness, population=3, tournament=4)
    with pytest.raises(ConfigError, match="initial population"):
        regularized_evolution([0], 5, toy_lookup, toy_fitness, population=10)
    with pytest.raises(ConfigError, match="n >= 1"):
        random_search([0], 0, toy_lookup)
