"""Unit tests of tolerances, verdicts, statistics, records, baselines and the cache."""

import json
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nasrepro.claims import ClaimResult, Measurement, Tolerance, Verdict, baselines, stats
from nasrepro.claims.records import build_record
from nasrepro.claims.verdicts import combine
from nasrepro.errors import ConfigError, CorruptFileWarning
from nasrepro.experiments import cache


def test_tolerance_kinds():
    R, N = Verdict.REPRODUCED, Verdict.NOT_REPRODUCED
    assert Tolerance("absolute", 1e-4, "r").check(0.84357, 0.84352)[0] is R
    assert Tolerance("absolute", 1e-4, "r").check(0.8437, 0.84352)[0] is N
    assert Tolerance("relative", 0.1, "r").check(105, 100)[0] is R
    assert Tolerance("relative", 0.1, "r").check(111, 100)[0] is N
    assert Tolerance("std_multiple", 2, "r").check(1.5, 1.0, std=0.3)[0] is R
    assert Tolerance("std_multiple", 2, "r", std=0.2).check(1.5, 1.0, std=9)[0] is N
    assert Tolerance("one_sided", 0.05, "r").check(0, p_value=0.01)[0] is R
    assert Tolerance("one_sided", 0.05, "r").check(0, p_value=0.2)[0] is N
    assert Tolerance("at_most", 0.0, "r").check(0.09, 0.1)[0] is R
    assert Tolerance("at_least", 0.0, "r").check(0.09, 0.1)[0] is N


def test_tolerance_needs_rationale_and_known_kind():
    with pytest.raises(ConfigError, match="rationale"):
        Tolerance("absolute", 1.0, "  ")
    with pytest.raises(ConfigError, match="unknown"):
        Tolerance("fuzzy", 1.0, "because")


def test_combine_verdicts():
    R, P, N, X = (Verdict.REPRODUCED, Verdict.PARTIAL, Verdict.NOT_REPRODUCED,
                  Verdict.NOT_RUN)
    assert combine([R, R]) is R
    assert combine([N, N]) is N
    assert combine([R, N]) is P
    assert combine([R, X]) is R
    assert combine([X]) is X
    assert combine([]) is X


def _exact_mw_p(x, y):
    """Exact permutation p-value of U_less for tiny samples (reference implementation)."""
    import itertools

    allv = list(x) + list(y)

    def u_less(a, b):
        return sum((ai < bi) + 0.5 * (ai == bi) for ai in a for bi in b)

    obs = u_less(x, y)
    count = total = 0
    for idx in itertools.combinations(range(len(allv)), len(x)):
        a = [allv[i] for i in idx]
        b = [allv[i] for i in range(len(allv)) if i not in idx]
        total += 1
        count += u_less(a, b) >= obs - 1e-12
    return count / total


def test_mann_whitney_matches_exact_permutation_roughly():
    x = [1, 2, 3, 4, 6, 7]
    y = [5, 8, 9, 10, 11, 12]
    res = stats.mann_whitney_less(x, y)
    assert res["u"] == 34.0  # 6+6+6+6+5+5 pairs with x < y
    assert res["p"] == pytest.approx(_exact_mw_p(x, y), abs=0.01)
    assert stats.mann_whitney_less(y, x)["p"] > 0.95


def test_mann_whitney_handles_censored_ties():
    censored = 5001.0
    x = [4000, 4250, censored, censored]
    y = [censored] * 4
    res = stats.mann_whitney_less(x, y)
    assert 0 < res["p"] < 0.5 and res["effect"] == pytest.approx(0.75)


def test_welch_t_known_value():
    # t = -2.0 with dof 10 -> one-sided p = 0.036694 (Student t tables)
    assert stats._student_t_cdf(-2.0, 10.0) == pytest.approx(0.036694, abs=1e-6)
    assert stats._student_t_cdf(1.812461, 10.0) == pytest.approx(0.95, abs=1e-6)
    res = stats.welch_t_less([1, 2, 3, 4], [5, 6, 7, 8])
    assert res["p"] < 0.01


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50))
def test_summarize_orders_quartiles(values):
    s = stats.summarize(values)
    assert s["min"] <= s["q1"] <= s["median"] <= s["q3"] <= s["max"]


def test_linear_fit_exact_line():
    fit = stats.linear_fit([32, 64, 128], [1.0, 2.0, 4.0])
    assert fit["slope"] == pytest.approx(1 / 32) and fit["r2"] == pytest.approx(1.0)


def _record(verdict_value=0.5, tier="smoke", config=None):
    tol = Tolerance("absolute", 0.1, "test")
    res = ClaimResult("REWARD-1", [Measurement("x", [verdict_value, verdict_value + 0.01],
                                               paper=0.5, tolerance=tol, band=0.05)],
                      config=config or {"a": 1})
    return build_record(res, tier=tier, paper="REWARD", spec={}, config_hash=str(config),
                        env={}, started=0.0)


def test_baseline_compare_statuses():
    base = baselines.build_baseline([_record(0.5)])
    assert baselines.compare(_record(0.5), base).status == "match"
    moved = baselines.compare(_record(0.57), base)
    assert moved.status == "changed" and "left the accepted" in moved.problems[0]
    flipped = baselines.compare(_record(0.9), base)
    assert any("verdict changed" in p for p in flipped.problems)
    assert baselines.compare(_record(0.5), None).status == "missing"
    other = baselines.compare(_record(0.5, config={"a": 2}), base)
    assert other.status == "config-changed" and "a: 1 -> 2" in other.problems[0]


def test_record_is_valid_json_with_spread(tmp_path):
    rec = _record(0.5)
    m = rec["measurements"][0]
    assert m["spread"]["n"] == 2 and m["verdict"] == "REPRODUCED"
    json.dumps(rec, allow_nan=False)


def test_measurement_without_tolerance_or_verdict_is_an_error():
    with pytest.raises(ConfigError):
        Measurement("x", 1.0).evaluate()


def test_cache_computes_once_and_survives_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"v": np.arange(3)}

    a = cache.cached("t", {"k": 1}, compute)
    b = cache.cached("t", {"k": 1}, compute)
    assert len(calls) == 1 and list(b["v"]) == [0, 1, 2] and list(a["v"]) == [0, 1, 2]
    (path,) = (tmp_path / "cache" / "t").glob("*.pkl")
    path.write_bytes(b"\x80garbage")
    with pytest.warns(CorruptFileWarning, match=r"could not be read.*moved aside"):
        cache.cached("t", {"k": 1}, compute)
    assert len(calls) == 2
    assert len(list(path.parent.glob("*.pkl.corrupt-*"))) == 1  # kept for inspection, not lost
    assert pickle.loads(path.read_bytes())["v"].tolist() == [0, 1, 2]
    cache.cached("t", {"k": 2}, compute)
    assert len(calls) == 3


def test_stored_only_reads_stored_results_and_never_computes(tmp_path, monkeypatch):
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return 7

    def two_parts():  # a thin wrapper around two cached results, like a parallel unit
        return cache.cached("t", {"k": 1}, compute) + cache.cached("t", {"k": 2}, compute)

    def swallows():  # an `except Exception` in the unit cannot turn "not stored" into a value
        try:
            return cache.cached("t", {"k": 3}, compute)
        except Exception:
            return -1

    assert cache.stored_only(two_parts) is cache.NOT_STORED and calls == []
    cache.cached("t", {"k": 1}, compute)
    assert cache.stored_only(two_parts) is cache.NOT_STORED and calls == [1]  # k=2 missing
    assert two_parts() == 14 and calls == [1, 1]
    assert cache.stored_only(two_parts) == 14 and calls == [1, 1]
    assert cache.stored_only(swallows) is cache.NOT_STORED and calls == [1, 1]
    assert cache.stored_only(lambda: 5) is cache.NOT_STORED  # read nothing: not a cached unit
    assert cache.cached("t", {"k": 3}, compute) == 7  # outside stored_only it computes again


def test_nan_refused_in_records(tmp_path):
    from nasrepro.files import atomic_write_json

    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "x.json", {"v": math.nan})
    assert list(tmp_path.iterdir()) == []  # no half-written or temp file left


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=20))
def test_json_safe_values_are_valid_json_and_read_back(values):
    from nasrepro.claims.records import json_safe, number

    text = json.dumps(json_safe({"ours": values, "center": values[0] if values else None}),
                      allow_nan=False)
    back = [number(v) for v in json.loads(text)["ours"]]
    assert len(back) == len(values)
    for a, b in zip(values, back, strict=True):
        assert a == b or (math.isnan(a) and math.isnan(b))


def test_table_cells_write_non_finite_numbers_as_records_do():
    """A table cell wrote a float NaN as Python's 'nan' (a tensor NaN as 'NaN'): the same
    value spelt two ways in one record, and `number` refused the table's spelling."""
    from nasrepro.claims.records import number

    res = ClaimResult("X-1")
    res.table("t", ["a", "b", "c", "d"],
              [[math.nan, torch.tensor(math.inf), np.float64(-math.inf), np.int64(3)]])
    row = res.tables[0]["rows"][0]
    assert row == ["NaN", "Infinity", "-Infinity", 3]
    assert all(type(v) in (str, int) for v in row)
    assert math.isnan(number(row[0])) and number(row[1]) == math.inf


def test_number_refuses_text_that_is_not_a_recorded_number():
    from nasrepro.claims.records import number

    with pytest.raises(ValueError, match="not a recorded number"):
        number("nan")  # json_safe writes 'NaN'; anything else is a corrupt record


def test_no_difference_tolerance_reproduces_only_without_a_difference():
    tol = Tolerance("no_difference", 0.01, "r")
    assert tol.check(0.91, 1.0, p_value=0.3)[0] is Verdict.REPRODUCED
    assert tol.check(0.91, 1.0, p_value=1e-4)[0] is Verdict.NOT_REPRODUCED
    with pytest.raises(ConfigError):
        tol.check(0.91, 1.0)


def test_mann_whitney_two_sided_symmetric():
    x, y = [1, 2, 3, 4, 6, 7], [5, 8, 9, 10, 11, 12]
    a, b = stats.mann_whitney_two_sided(x, y), stats.mann_whitney_two_sided(y, x)
    assert a["p"] == pytest.approx(b["p"]) and a["p"] == pytest.approx(
        2 * stats.mann_whitney_less(x, y)["p"])


def test_a_measurement_without_a_value_needs_a_verdict():
    # regression: a None value silently became NOT RUN and dropped out of the claim's verdict
    # (one met item + one unmeasured one read REPRODUCED, "1 of 1" rows met)
    with pytest.raises(ConfigError, match="'m' has no value: give it a verdict"):
        Measurement("m", None, paper=1.0, tolerance=Tolerance("absolute", 1.0, "t")).evaluate()
    forced = Measurement("m", None, paper=1.0, verdict=Verdict.NOT_REPRODUCED)
    assert forced.evaluate() is Verdict.NOT_REPRODUCED
