"""Unit tests of claims.stats (scipy layer) and claims.survival (censored times to event),
and the recomputation of the log-rank p-values from the accepted records' own fields."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from nasrepro.claims import stats
from nasrepro.claims import survival as sv

ROOT = Path(__file__).resolve().parents[2]

# block-resolution times with an event flag, as the settling sample produces them
_runs = st.lists(st.tuples(st.integers(1, 20).map(lambda b: 250.0 * b), st.booleans()),
                 min_size=2, max_size=40)


def _split(runs):
    return np.array([t for t, _ in runs]), np.array([o for _, o in runs])


# ----------------------------------------------------------------------------- stats.py

def test_mann_whitney_method_by_size_and_ties():
    assert stats.mw_method([1, 2, 3], [4, 5, 6]) == "exact"
    assert stats.mw_method([1, 2, 2], [4, 5, 6]) == "asymptotic"  # ties
    big = np.arange(51.0)
    assert stats.mw_method(big, big + 0.5) == "asymptotic"  # > MW_EXACT_MAX_N


def test_mann_whitney_exact_value_and_direction():
    # complete separation of 8 vs 8: exact one-sided p = 1 / C(16, 8)
    x, y = np.arange(8.0), np.arange(8.0) + 10
    res = stats.mann_whitney_less(x, y)
    assert res["method"] == "exact" and res["effect"] == 1.0
    assert res["p"] == pytest.approx(1 / 12870, rel=1e-9)
    assert stats.mann_whitney_less(y, x)["p"] == pytest.approx(1.0)


def test_mann_whitney_all_tied_is_no_evidence():
    res = stats.mann_whitney_less([5.0] * 4, [5.0] * 6)
    assert res["p"] == 1.0 and res["effect"] == 0.5


@given(st.lists(st.integers(0, 6), min_size=2, max_size=30),
       st.lists(st.integers(0, 6), min_size=2, max_size=30))
def test_mann_whitney_effect_complements(x, y):
    a, b = stats.mann_whitney_less(x, y), stats.mann_whitney_less(y, x)
    assert a["effect"] + b["effect"] == pytest.approx(1.0)
    assert 0.0 <= a["p"] <= 1.0


def test_welch_matches_scipy():
    x, y = [1.0, 2.5, 3.0, 4.2], [5.0, 6.1, 7.0, 8.5, 9.0]
    res = stats.welch_t_less(x, y)
    ref = sps.ttest_ind(x, y, equal_var=False, alternative="less")
    assert res["p"] == pytest.approx(ref.pvalue) and res["dof"] == pytest.approx(ref.df)


def test_bootstrap_median_interval_is_deterministic_and_covers():
    x = np.random.default_rng(1).normal(10, 2, size=40)
    a, b = stats.median_ci(x), stats.median_ci(x)
    assert a == b and a["low"] <= a["median"] <= a["high"]
    d = stats.median_difference_ci(x + 5, x)
    assert d["difference"] == pytest.approx(5.0) and d["low"] <= 5.0 <= d["high"]


# ----------------------------------------------------------------------------- survival.py

@given(_runs)
def test_km_is_monotone_and_bounded(runs):
    t, o = _split(runs)
    c = sv.km(t, o)
    assert np.all(np.diff(c["survival"]) <= 1e-12)
    assert np.all((c["survival"] >= 0) & (c["survival"] <= 1))
    f = [sv.fraction_by(t, o, n) for n in (0, 1000, 2500, 5000)]
    assert f == sorted(f)


@given(_runs)
def test_rmst_bounded_by_horizon_and_min_time(runs):
    t, o = _split(runs)
    r = sv.rmst(t, o, 5000.0)
    assert min(t.min(), 5000.0) - 1e-9 <= r <= 5000.0 + 1e-9


def test_without_censoring_km_is_the_ecdf_and_rmst_the_mean():
    t = np.array([250.0, 500, 500, 1000, 2000])
    o = np.ones(5, bool)
    assert sv.fraction_by(t, o, 500) == pytest.approx(0.6)
    assert sv.km_median(t, o) == 500.0
    assert sv.rmst(t, o, 5000.0) == pytest.approx(t.mean())


def test_median_not_reached_is_never_a_value():
    t, o = sv.from_coded([5250.0, 5250, 4000, 5250], [True, True, False, True], 5000.0)
    assert list(t) == [5000.0, 5000.0, 4000.0, 5000.0] and list(o) == [False, False, True, False]
    assert sv.km_median(t, o) is None
    text = sv.describe(t, o, 5000.0)
    assert text.startswith("not reached within 5000") and "5250" not in text


@given(_runs, _runs)
def test_logrank_antisymmetric(x, y):
    (xt, xo), (yt, yo) = _split(x), _split(y)
    if not (xo.any() or yo.any()):
        return
    a, b = sv.logrank_sooner(xt, xo, yt, yo), sv.logrank_sooner(yt, yo, xt, xo)
    if a == {"z": 0.0, "p": 1.0}:  # zero variance: no information, p = 1 both ways
        assert b == a
        return
    assert a["z"] == pytest.approx(-b["z"], abs=1e-9)
    assert a["p"] + b["p"] == pytest.approx(1.0, abs=1e-9)


def test_logrank_direction_sooner_events_give_small_p():
    early = (np.array([250.0, 500, 750, 1000, 1250, 5000, 5000, 5000]),
             np.array([True] * 5 + [False] * 3))
    late = (np.array([4000.0, 4500] + [5000] * 6), np.array([True, True] + [False] * 6))
    assert sv.logrank_sooner(*early, *late)["p"] < 0.05
    assert sv.logrank_sooner(*late, *early)["p"] > 0.95


@given(_runs, _runs, st.sampled_from([0.0, 250.0, 500.0]))
def test_non_inferiority_is_logrank_with_shifted_times(x, y, margin):
    (xt, xo), (yt, yo) = _split(x), _split(y)
    if not (xo.any() or yo.any()):
        return
    a = sv.non_inferior_sooner(xt, xo, yt, yo, margin)
    b = sv.logrank_sooner(xt, xo, yt + margin, yo)
    assert a == b
    if margin == 0.0:
        assert a == sv.logrank_sooner(xt, xo, yt, yo)


def test_rmst_difference_sign_and_interval():
    x = (np.array([250.0, 500, 750, 1000, 5000, 5000]), np.array([True] * 4 + [False] * 2))
    y = (np.array([3000.0, 4000, 5000, 5000, 5000, 5000]), np.array([True] * 2 + [False] * 4))
    d = sv.rmst_difference_ci(*x, *y, 5000.0)
    assert d["difference"] > 0 and d["low"] <= d["difference"] <= d["high"]


# ------------------------------------------------- recompute from the records' own fields

def _per_seed(record: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{group: (times, events)} from a record's per-seed table (headers '<g> time/event')."""
    table = next(t for t in record["tables"] if t["title"].startswith("Per-seed"))
    h = table["headers"]
    out = {}
    for i, name in enumerate(h):
        if name.endswith(" time"):
            g = name[: -len(" time")]
            j = h.index(f"{g} event")
            out[g] = (np.array([r[i] for r in table["rows"]], dtype=float),
                      np.array([r[j] for r in table["rows"]], dtype=bool))
    return out


def _censored(t: np.ndarray, e: np.ndarray) -> sps.CensoredData:
    return sps.CensoredData(uncensored=t[e], right=t[~e])


def _baselines(tier: str, claim: str) -> list:
    """Every committed baseline of a claim in a tier (one per machine class if keyed so)."""
    base = ROOT / "reference_results" / "baselines" / tier
    return sorted([*base.glob(f"{claim}.json"), *base.glob(f"*/{claim}.json")])


@pytest.mark.parametrize("tier", ["smoke", "full"])
def test_reward_4_logrank_recomputed_from_record(tier):
    (path,) = _baselines(tier, "REWARD-4")
    base = json.loads(path.read_text())
    g = _per_seed(base)
    run = base["runs"][0]
    name = next(n for n in run["p_values"] if n.startswith("proposed settles sooner"))
    res = sps.logrank(_censored(*g["proposed"]), _censored(*g["mnasnet"]),
                      alternative="greater")
    assert run["p_values"][name] == pytest.approx(float(res.pvalue), rel=1e-9)


@pytest.mark.parametrize("tier", ["smoke", "full"])
def test_gcnas_1_logrank_recomputed_from_record(tier):
    paths = _baselines(tier, "GCNAS-1")
    assert paths
    for path in paths:
        base = json.loads(path.read_text())
        g = _per_seed(base)
        run = base["runs"][0]
        items = [n for n in run["p_values"] if n.startswith("GCN reaches")]
        assert len(items) == len(base["config"]["rewards"])
        for reward, name in zip(base["config"]["rewards"], items, strict=True):
            assert f"[{reward}," in name
            margin = float(re.search(r"RNN \+ (\d+) samples", name).group(1))
            gt, ge = g[f"{reward} GCN"]
            rt, re_ = g[f"{reward} RNN"]
            res = sps.logrank(_censored(gt, ge), _censored(rt + margin, re_),
                              alternative="greater")
            assert run["p_values"][name] == pytest.approx(float(res.pvalue), rel=1e-9)
