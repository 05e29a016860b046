"""The LENET timing quantities compare cases within a repeat, so a machine whose speed drifts
between repeats does not move them (the LENET-2 bug: unpaired medians spread 0.125-0.231 on
an Intel VM where the same runs' paired ratios spread 0.010-0.029)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nasrepro.train.lenet_timing import paired_spread, same_repeat_ratio

costs = st.lists(st.floats(0.5, 2.0), min_size=2, max_size=5)


@settings(max_examples=60, deadline=None)
@given(cost=costs, half=st.integers(1, 12), base=st.floats(0.5, 3.0),
       step=st.floats(1.2, 2.0), slow_first=st.booleans(), data=st.data())
def test_paired_spread_ignores_drift_between_repeats(cost, half, base, step, slow_first, data):
    """The machine jitters per repeat (x1-1.1, shared by the cases) and changes phase (speed
    x `step`) in the middle repeat, after the first `split` cases ran: pairing cancels the
    drift in every other repeat, while the cases' own medians land in different phases.
    (A drift every case shares in every repeat would cancel in unpaired medians too.)"""
    n = 2 * half + 1
    jitter = np.asarray(data.draw(st.lists(st.floats(1.0, 1.1), min_size=n, max_size=n)))
    split = data.draw(st.integers(1, len(cost) - 1))   # cases [0, split) run before it
    first, second = (base * step, base) if slow_first else (base, base * step)

    def slowness(k: int) -> np.ndarray:
        before = np.arange(n) < half + (k < split)       # the middle repeat: by position
        return np.where(before, first, second) * jitter

    per = {str(k): c * slowness(k) for k, c in enumerate(cost)}
    keys = list(per)
    # the data is a trap: case `split`'s median and case 0's are in different phases
    unpaired = float(np.median(per[str(split)]) / np.median(per["0"]))
    assert not np.isclose(unpaired, cost[split] / cost[0], rtol=0.05)
    expected = max(cost) / min(cost) - 1.0
    assert np.isclose(paired_spread(per, keys, "0"), expected, rtol=1e-9, atol=1e-12)
    for k, c in enumerate(cost):
        assert np.isclose(same_repeat_ratio(per, str(k), "0"), c / cost[0], rtol=1e-9)
        pair = max(c, cost[0]) / min(c, cost[0]) - 1.0
        assert np.isclose(paired_spread(per, ["0", str(k)], "0"), pair, rtol=1e-9,
                          atol=1e-12)


def test_unpaired_medians_would_see_drift_that_paired_ratios_cancel():
    # two equal-cost cases, 15 repeats; the machine runs at 1.0x for 7 repeats and 1.3x for
    # 7, and switched phase in the middle of repeat 8, after case "1" and before case "4"
    phase = np.array([1.0] * 7 + [0.0] + [1.3] * 7)
    per = {"1": np.where(phase == 0, 1.3, phase), "4": np.where(phase == 0, 1.0, phase)}
    medians = [float(np.median(v)) for v in per.values()]
    assert max(medians) / min(medians) - 1 > 0.25          # what the old definition saw
    assert paired_spread(per, ["1", "4"], "1") == 0.0       # 14 of 15 repeats: equal


def test_paired_spread_sees_a_real_cost_difference():
    rng = np.random.default_rng(0)
    speed = rng.uniform(1.0, 1.3, 15)
    per = {"1": 1.0 * speed, "4": 1.0 * speed, "5": 1.2 * speed}   # case 5 really 20 % dearer
    assert np.isclose(paired_spread(per, ["1", "4", "5"], "1"), 0.2)
