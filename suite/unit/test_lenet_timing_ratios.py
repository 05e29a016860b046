"""The LENET timing quantities compare cases within a repeat, so a machine whose speed drifts
between repeats does not move them (the LENET-2 bug: unpaired medians spread 0.125-0.231 on
an Intel VM where the same runs' paired ratios spread 0.010-0.029)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nasrepro.train.lenet_timing import paired_spread, same_repeat_ratio

costs = st.lists(st.floats(0.5, 2.0), min_size=2, max_size=5)
drift = st.lists(st.floats(0.5, 3.0), min_size=3, max_size=25)


@settings(max_examples=60, deadline=None)
@given(costs, drift)
def test_paired_spread_ignores_drift_between_repeats(cost, speed):
    # case k's time in repeat r = its cost x the machine's slowness in that repeat
    per = {str(k): c * np.asarray(speed) for k, c in enumerate(cost)}
    keys = list(per)
    expected = max(cost) / min(cost) - 1.0
    assert np.isclose(paired_spread(per, keys, "0"), expected, rtol=1e-9, atol=1e-12)
    for k, c in enumerate(cost):
        assert np.isclose(same_repeat_ratio(per, str(k), "0"), c / cost[0], rtol=1e-9)


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
