"""Controllers (factorized 6x5 logits, ENAS-style LSTM) and the batched REINFORCE loop."""

import functools
import math

import pytest
import torch

from nasrepro.data.nb201 import load_table
from nasrepro.nas.controllers import lstm
from nasrepro.nas.controllers.base import Controller
from nasrepro.nas.controllers.factorized import FactorizedController, sample_categorical
from nasrepro.nas.controllers.lstm import LSTMController
from nasrepro.nas.reinforce import GroupedReward, TableLookup, run_reinforce
from nasrepro.nas.rewards import mnasnet_reward, proposed_reward

FACTORIES = {"factorized": FactorizedController, "lstm": LSTMController}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_protocol_shapes_and_determinism(name):
    ctl = FACTORIES[name](7, torch.Generator().manual_seed(1))
    assert isinstance(ctl, Controller) and ctl.n_seeds == 7
    assert all(p.shape[0] == 7 for p in ctl.parameters())
    a = ctl.sample(torch.Generator().manual_seed(3))
    b = ctl.sample(torch.Generator().manual_seed(3))
    assert a.ops.shape == (7, 6) and a.ops.dtype == torch.long
    assert a.log_prob.shape == (7,) and a.entropy.shape == (7,)
    assert torch.equal(a.ops, b.ops) and torch.equal(a.log_prob, b.log_prob)
    assert bool(((a.ops >= 0) & (a.ops < 5)).all())
    assert a.log_prob.requires_grad and a.entropy.requires_grad


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_seeds_do_not_mix(name):
    """The gradient of seed 0's log-prob touches only seed 0's parameters."""
    ctl = FACTORIES[name](4, torch.Generator().manual_seed(0))
    smp = ctl.sample(torch.Generator().manual_seed(0))
    smp.log_prob[0].backward()
    for p in ctl.parameters():
        assert p.grad is None or float(p.grad[1:].abs().sum()) == 0.0


def test_factorized_log_prob_matches_distribution():
    ctl = FactorizedController(3, torch.Generator().manual_seed(0), init_std=1.0)
    smp = ctl.sample(torch.Generator().manual_seed(5))
    probs = ctl.probs()
    expected = torch.log(probs.gather(-1, smp.ops.unsqueeze(-1)).squeeze(-1)).sum(-1)
    torch.testing.assert_close(smp.log_prob.detach(), expected)
    ent = -(probs * probs.log()).sum(-1).sum(-1)
    torch.testing.assert_close(smp.entropy.detach(), ent)


def test_sample_categorical_frequencies():
    logits = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4])).expand(40000, 4)
    idx, _, _ = sample_categorical(logits, torch.Generator().manual_seed(0))
    freq = torch.bincount(idx, minlength=4).double() / idx.numel()
    torch.testing.assert_close(freq, torch.tensor([0.1, 0.2, 0.3, 0.4],
                                                  dtype=torch.float64), atol=0.01, rtol=0)


@pytest.mark.parametrize("method", ["sample", "sample_many"])
def test_lstm_logits_bounded_by_tanh_constant(method, monkeypatch):
    """ENAS' bound tc * tanh(logits / temperature) keeps every op's probability at least
    e^-tc / (e^-tc + (K-1) e^tc): checked on a controller whose raw logits are huge (output
    layer scaled 1e4), so that without the bound ops get log-probs of about -1e3."""
    tc, k = 2.5, 5
    ctl = LSTMController(3, torch.Generator().manual_seed(0), tanh_constant=tc)
    with torch.no_grad():
        ctl.w_out.mul_(1e4)
        ctl.b_out.mul_(1e4)
    seen = []

    def recording(logits, generator):
        seen.append(logits.detach())
        return sample_categorical(logits, generator)

    monkeypatch.setattr(lstm, "sample_categorical", recording)
    g = torch.Generator().manual_seed(0)
    smp = ctl.sample(g) if method == "sample" else ctl.sample_many(g, 4)
    assert len(seen) == 6 and all(s.shape[-1] == k for s in seen)
    min_log_p = math.log(math.exp(-2 * tc) / (math.exp(-2 * tc) + k - 1))
    for logits in seen:   # every op of every decision, not only the sampled one
        assert bool((torch.log_softmax(logits, -1) >= min_log_p - 1e-5).all())
    # the public outputs agree: each decision's entropy >= -log(max prob) >= this
    min_entropy = math.log(1 + (k - 1) * math.exp(-2 * tc))
    assert bool((smp.log_prob >= 6 * min_log_p - 1e-4).all())
    assert bool((smp.entropy >= 6 * min_entropy - 1e-5).all())


@pytest.fixture(scope="module")
def table():
    return load_table()


def test_reinforce_learns_a_rewarded_op(table):
    """Reward = 1 when edge 0 is nor_conv_3x3 else 0: its probability must rise."""
    s = 3
    ctl = FactorizedController(s, torch.Generator().manual_seed(0))
    lookup = TableLookup(table, ["1080ti_256"] * s)
    g = torch.Generator().manual_seed(0)
    state = {}

    def look(ops):
        state["ops"] = ops
        return lookup(ops)

    def reward(acc, lat):
        return (state["ops"][:, 0] == 3).double()

    run_reinforce(ctl, look, reward, 300, lr=0.05, generator=g)
    assert bool((ctl.probs()[:, 0, 3] > 0.8).all())


def test_batched_rows_are_independent_searches(table):
    """Changing one row's reward leaves every other row's trajectory unchanged given the
    same draws (Adam is element-wise and the loss is a sum over rows)."""
    t = float(torch.quantile(table.latency_ms("1080ti_256"), 0.74))
    prop = functools.partial(proposed_reward, target_ms=t)
    mnas = functools.partial(mnasnet_reward, target_ms=t)

    def run(last):
        ctl = FactorizedController(3, torch.Generator().manual_seed(0))
        rf = GroupedReward([(prop, [0, 1]), (last, [2])], 3)
        return run_reinforce(ctl, TableLookup(table, ["1080ti_256"] * 3), rf, 300,
                             lr=0.05, generator=torch.Generator().manual_seed(0))

    a, b = run(prop), run(mnas)
    assert torch.equal(a.row[:2], b.row[:2]) and torch.equal(a.reward[:2], b.reward[:2])
    assert not torch.equal(a.reward[2], b.reward[2])


def test_grouped_reward_rows(table):
    acc = torch.tensor([0.7, 0.7, 0.6], dtype=torch.float64)
    lat = torch.tensor([10.0, 10.0, 20.0], dtype=torch.float64)
    rf = GroupedReward([(functools.partial(mnasnet_reward, target_ms=17.0), [0, 2]),
                        (functools.partial(proposed_reward, target_ms=17.0), [1])], 3)
    out = rf(acc, lat)
    assert float(out[0]) == pytest.approx(mnasnet_reward(0.7, 10.0, 17.0))
    assert float(out[1]) == pytest.approx(proposed_reward(0.7, 10.0, 17.0))
    assert float(out[2]) == pytest.approx(mnasnet_reward(0.6, 20.0, 17.0))
    with pytest.raises(ValueError, match="exactly one group"):
        GroupedReward([(rf, [0])], 2)


def test_table_lookup_per_row_source(table):
    lk = TableLookup(table, ["1080ti_256", "silver_4210r"])
    ops = table.ops[[9930, 9930]]
    rows, acc, lat = lk(ops)
    assert rows.tolist() == [9930, 9930]
    assert float(acc[0]) == pytest.approx(float(table.acc[9930]) / 100)
    assert float(lat[0]) == float(table.latency_ms("1080ti_256")[9930])
    assert float(lat[1]) == float(table.latency_ms("silver_4210r")[9930])
