"""Unit and property tests of nasrepro.nas.rewards."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nasrepro.nas.rewards import (
    latency_term,
    mnasnet_hard_reward,
    mnasnet_reward,
    proposed_reward,
    tunas_abs_reward,
)

ALL = [mnasnet_reward, proposed_reward, mnasnet_hard_reward,
       lambda a, lat, t=17.0: tunas_abs_reward(a, lat, t, -0.07)]


@pytest.mark.parametrize("fn", ALL)
def test_percentage_accuracy_gives_clear_error(fn):
    with pytest.raises(ValueError, match=r"acc: .*fraction.*percentage\? divide by 100"):
        fn(80.0, 10.0)
    with pytest.raises(ValueError, match="acc:"):
        fn(torch.tensor([0.5, 84.0]), torch.tensor([10.0, 12.0]))


@pytest.mark.parametrize("fn", ALL)
@pytest.mark.parametrize("lat", [0.0, -3.0, math.inf, math.nan])
def test_bad_latency_gives_clear_error(fn, lat):
    with pytest.raises(ValueError, match="latency_ms"):
        fn(0.5, lat)


@pytest.mark.parametrize("acc", [-0.1, math.nan])
def test_bad_accuracy_rejected(acc):
    with pytest.raises(ValueError, match="acc:"):
        mnasnet_reward(acc, 10.0)


@pytest.mark.parametrize("target", [0.0, -17.0, math.inf])
def test_bad_target_rejected(target):
    with pytest.raises(ValueError, match="target_ms"):
        mnasnet_reward(0.5, 10.0, target)
    with pytest.raises(ValueError, match="target_ms"):
        proposed_reward(0.5, 10.0, target)


def test_proposed_needs_target_above_one_ms():
    with pytest.raises(ValueError, match="T must be > 1"):
        proposed_reward(0.5, 0.5, 1.0)


def test_scalar_in_float_out_and_array_kinds_preserved():
    assert isinstance(mnasnet_reward(0.8, 8.0), float)
    assert isinstance(proposed_reward(np.array([0.8]), np.array([8.0])), np.ndarray)
    out = proposed_reward(torch.tensor([0.8], dtype=torch.float64), torch.tensor([8.0]))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64


def test_numpy_and_torch_agree():
    rng = np.random.default_rng(0)
    acc = rng.uniform(0.01, 1, 1000)
    lat = rng.uniform(0.1, 40, 1000)
    for fn in ALL:
        a = fn(acc, lat)
        b = fn(torch.from_numpy(acc), torch.from_numpy(lat)).numpy()
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_hard_reward_is_accuracy_below_target_and_scaled_above():
    assert mnasnet_hard_reward(0.7, 10.0) == pytest.approx(0.7)
    assert mnasnet_hard_reward(0.7, 34.0) == pytest.approx(0.35)


def test_tunas_abs_reward_penalises_distance_both_ways():
    assert tunas_abs_reward(0.7, 17.0, 17.0, -0.1) == pytest.approx(0.7)
    assert tunas_abs_reward(0.7, 8.5, 17.0, -0.1) == pytest.approx(0.65)
    assert tunas_abs_reward(0.7, 25.5, 17.0, -0.1) == pytest.approx(0.65)


@given(lat=st.floats(0.01, 100.0))
def test_latency_term_continuous_and_zero_past_cutoff(lat):
    f = float(latency_term(np.array(lat)))
    cutoff = 1.5 * 17 - 1
    if lat >= cutoff:
        assert f == 0.0
    else:
        assert f > 0.0
        assert f == pytest.approx(math.log(25.5 - lat) / math.log(17))


@given(acc=st.floats(0.0, 1.0), lat=st.floats(0.01, 17.0))
def test_mnasnet_below_target_rewards_speed(acc, lat):
    """Below T (alpha < 0) the MnasNet reward is at least the accuracy."""
    assert mnasnet_reward(acc, lat) >= acc - 1e-15
