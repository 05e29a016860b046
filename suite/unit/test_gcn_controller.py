"""The GC-NAS controller: it uses the graph, truncation hides old decisions, seeds batch
exactly, log-probabilities and entropies match explicit enumeration, draws follow them."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasrepro.errors import ConfigError
from nasrepro.nas.controllers.gcn import (
    INPUT_NODE,
    N_NODES,
    OUTPUT_NODE,
    QUERY,
    UNDECIDED,
    GCNController,
    dag_adjacency,
    decision_states,
    op_node,
    truncation_masks,
)
from nasrepro.nas.search_space import EDGES, N_EDGES, N_OPS

ALL_CELLS = torch.tensor(list(itertools.product(range(N_OPS), repeat=N_EDGES)))  # [15625, 6]


def next_op_probs(ctl: GCNController, ops: torch.Tensor, t: int) -> torch.Tensor:
    """Distribution of decision t given ops[:, :t] (the rest of ops is not read)."""
    return ctl.distributions(ops)[:, t].exp()


def test_dag_adjacency_is_the_cell_line_graph():
    d = dag_adjacency()
    for e, (dst, src) in enumerate(EDGES):
        assert d[INPUT_NODE, op_node(e)] == (src == 0)
        assert d[op_node(e), OUTPUT_NODE] == (dst == 3)
        for f, (_, src_f) in enumerate(EDGES):
            assert d[op_node(e), op_node(f)] == (src_f == dst)
    assert d.sum() == 3 + 3 + 4  # input fan-out, output fan-in, edge->edge (0->2,4; 1->5; 2->5)
    assert torch.equal(torch.triu(d, 1), d), "a DAG in topological node order"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, N_OPS - 1), min_size=N_EDGES, max_size=N_EDGES))
def test_decision_states_reveal_exactly_the_earlier_decisions(ops):
    states = decision_states(torch.tensor([ops]))[0]  # [6, N]
    for t in range(N_EDGES):
        row = states[t]
        assert row[INPUT_NODE] != row[OUTPUT_NODE]
        for k in range(N_EDGES):
            expected = ops[k] if k < t else (QUERY if k == t else UNDECIDED)
            assert row[op_node(k)] == expected


@settings(max_examples=20, deadline=None)
@given(st.integers(0, N_EDGES))
def test_truncation_masks_keep_the_last_m_decisions(m):
    keep = truncation_masks(m)
    for t in range(N_EDGES):
        for k in range(N_EDGES):
            hidden = k < t - m
            assert bool(keep[t, op_node(k)].sum() == 0) == hidden
    assert torch.equal(truncation_masks(None), torch.ones(N_EDGES, N_NODES, N_NODES))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_next_op_distribution_changes_when_an_earlier_decision_changes(seed):
    """The acceptance test of the issue: the GCN reads earlier decisions off the graph.
    For every decision t and every earlier decision k < t, changing op k (all else fixed)
    changes the distribution of decision t."""
    ctl = GCNController([seed])
    base = torch.randint(0, N_OPS, (1, N_EDGES), generator=torch.Generator().manual_seed(seed))
    for t in range(1, N_EDGES):
        p0 = next_op_probs(ctl, base, t)
        for k in range(t):
            changed = base.clone()
            changed[0, k] = (changed[0, k] + 1) % N_OPS
            diff = (next_op_probs(ctl, changed, t) - p0).abs().max().item()
            assert diff > 1e-6, f"decision {t} ignores decision {k} (max |Δp| = {diff:.2e})"
        # later decisions are never read
        later = base.clone()
        later[0, t:] = (later[0, t:] + 2) % N_OPS
        assert torch.allclose(next_op_probs(ctl, later, t), p0, atol=0, rtol=0)


@pytest.mark.parametrize("m", [0, 1, 2])
def test_truncation_hides_decisions_older_than_m(m):
    ctl = GCNController([0], truncate_m=m)
    base = torch.tensor([[3, 1, 2, 4, 0, 3]])
    for t in range(1, N_EDGES):
        p0 = next_op_probs(ctl, base, t)
        for k in range(t):
            changed = base.clone()
            changed[0, k] = (changed[0, k] + 1) % N_OPS
            diff = (next_op_probs(ctl, changed, t) - p0).abs().max().item()
            if k < t - m:
                assert diff == 0.0, f"m={m}: decision {t} still sees decision {k}"
            else:
                assert diff > 1e-6, f"m={m}: decision {t} should see decision {k}"


def test_empty_adjacency_cannot_see_earlier_decisions():
    """Sanity floor for the graph-use test: without connections nothing propagates."""
    ctl = GCNController([0], adjacency="empty")
    base = torch.tensor([[3, 1, 2, 4, 0, 3]])
    changed = torch.tensor([[0, 0, 0, 0, 0, 3]])
    assert torch.equal(next_op_probs(ctl, base, 5), next_op_probs(ctl, changed, 5))


def test_shuffled_adjacency_differs_from_the_dag_per_seed():
    ctl = GCNController([0, 1, 2], adjacency="shuffled")
    dag = GCNController([0], adjacency="dag")
    for s in range(3):
        assert not torch.equal(ctl.agg[s], dag.agg[0])
    assert not torch.equal(ctl.agg[0], ctl.agg[1])


def _single(ctl: GCNController, s: int, **kwargs) -> GCNController:
    return GCNController([ctl.seeds[s]], hidden=ctl.hidden, layers=ctl.layers,
                         truncate_m=ctl.truncate_m, adjacency=ctl.adjacency_modes[s], **kwargs)


def test_seed_batching_equals_each_seed_alone():
    """S seeds batched == S single-seed controllers: same init, draws, log-probs, and the
    same parameters after Adam steps on a summed REINFORCE-style loss."""
    seeds, modes = [3, 5, 7], ["dag", "shuffled", "dag"]
    batched = GCNController(seeds, adjacency=modes, truncate_m=2)
    singles = [_single(batched, s) for s in range(3)]
    opt_b = torch.optim.Adam(batched.parameters(), lr=0.01)
    opt_s = [torch.optim.Adam(c.parameters(), lr=0.01) for c in singles]
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        u = torch.rand(3, N_EDGES, generator=gen)
        ops = batched.draw(u)
        lp, ent = batched.log_prob_entropy(ops)
        reward = torch.tensor([0.3, 0.7, 0.5])
        opt_b.zero_grad()
        (-(reward * lp).sum() - 0.01 * ent.sum()).backward()
        opt_b.step()
        for s, (c, o) in enumerate(zip(singles, opt_s, strict=True)):
            ops_s = c.draw(u[s : s + 1])
            assert torch.equal(ops_s[0], ops[s])
            lp_s, ent_s = c.log_prob_entropy(ops_s)
            torch.testing.assert_close(lp_s[0], lp[s])
            torch.testing.assert_close(ent_s[0], ent[s])
            o.zero_grad()
            (-(reward[s] * lp_s).sum() - 0.01 * ent_s.sum()).backward()
            o.step()
    for s, c in enumerate(singles):
        for (name, pb), (_, ps) in zip(batched.named_parameters(), c.named_parameters(),
                                       strict=True):
            torch.testing.assert_close(pb[s : s + 1], ps, msg=f"seed {s} param {name}")


@pytest.mark.parametrize("kwargs", [{}, {"truncate_m": 1}, {"adjacency": "shuffled"}])
def test_log_prob_and_entropy_match_enumeration(kwargs):
    """Over all 15625 cells: probabilities sum to 1, and the expected path entropy equals
    the joint entropy -sum p log p (chain rule)."""
    ctl = GCNController([1], **kwargs)
    with torch.no_grad():
        lp, ent = ctl.log_prob_entropy(ALL_CELLS[None])  # [1, 15625]
    p = lp.double().exp()
    torch.testing.assert_close(p.sum(-1), torch.ones(1, dtype=torch.float64), atol=1e-5,
                               rtol=0)
    joint_entropy = -(p * lp.double()).sum(-1)
    torch.testing.assert_close((p * ent.double()).sum(-1), joint_entropy, atol=1e-4, rtol=0)
    # log p of a cell = sum of per-decision log-probs read off the distributions
    per_decision = ctl.distributions(ALL_CELLS[None, :50])
    manual = per_decision.gather(-1, ALL_CELLS[None, :50, :, None])
    torch.testing.assert_close(manual.squeeze(-1).sum(-1), lp[:, :50])


def test_draw_is_the_inverse_cdf_of_the_distributions():
    ctl = GCNController([0, 1, 2, 3])
    u = torch.rand(4, N_EDGES, generator=torch.Generator().manual_seed(1))
    ops = ctl.draw(u)
    cdf = ctl.distributions(ops).exp().cumsum(-1)  # [S, 6, ops]
    lo = torch.where(ops > 0, cdf.gather(-1, (ops - 1).clamp(min=0)[..., None])[..., 0],
                     torch.zeros_like(u))
    hi = cdf.gather(-1, ops[..., None])[..., 0]
    assert bool((lo - 1e-6 <= u).all() and (u < hi + 1e-6).all())


def test_sampled_cells_follow_the_policy():
    """2000 copies of one seed's controller: empirical frequency of the first two decisions
    matches the enumerated probabilities (4 sigma band)."""
    n = 2000
    ctl = GCNController([0] * n)
    sample = ctl.sample(torch.Generator().manual_seed(0))
    pair = sample.ops[:, 0] * N_OPS + sample.ops[:, 1]
    freq = torch.bincount(pair, minlength=N_OPS**2).double() / n
    one = GCNController([0])  # the same seed alone: the same policy
    firsts = ALL_CELLS[:: N_OPS**4]  # the 25 (op0, op1) prefixes, rest zero
    with torch.no_grad():
        logp = one.distributions(firsts[None])[0]  # [25, 6, ops]
    probs = (logp[:, 0].exp().gather(-1, firsts[:, :1])[:, 0]
             * logp[:, 1].exp().gather(-1, firsts[:, 1:2])[:, 0]).double()
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0, dtype=torch.float64))
    sigma = (probs * (1 - probs) / n).sqrt()
    assert bool(((freq - probs).abs() <= 4 * sigma + 1e-3).all())


def test_sample_protocol_and_gradients():
    ctl = GCNController([0, 1])
    s = ctl.sample(torch.Generator().manual_seed(0))
    assert s.ops.shape == (2, N_EDGES) and s.ops.dtype == torch.long
    assert s.log_prob.shape == (2,) and s.entropy.shape == (2,)
    assert bool((s.log_prob < 0).all()) and bool((s.entropy > 0).all())
    (s.log_prob.sum() + s.entropy.sum()).backward()
    for name, p in ctl.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert ctl.n_params_per_seed() == sum(p[0].numel() for p in ctl.parameters())


def test_bad_options_raise_config_errors():
    with pytest.raises(ConfigError, match="adjacency"):
        GCNController([0], adjacency="ring")
    with pytest.raises(ConfigError, match="one mode per seed"):
        GCNController([0, 1], adjacency=["dag"])
    with pytest.raises(ConfigError, match="at least one seed"):
        GCNController([])
    with pytest.raises(ConfigError, match="truncate_m"):
        GCNController([0], truncate_m=-1)
