"""Properties of Caffe's "inv" learning-rate policy (nasrepro.train.schedules.caffe_inv_lr)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasrepro.train.schedules import caffe_inv_lr

base_lrs = st.floats(min_value=1e-6, max_value=10.0, allow_nan=False)
gammas = st.floats(min_value=1e-6, max_value=1.0, allow_nan=False)
powers = st.floats(min_value=0.05, max_value=3.0, allow_nan=False)
iters = st.integers(min_value=0, max_value=10**6)


@given(base_lrs, gammas, powers)
def test_lr_at_zero_is_base_lr(base_lr, gamma, power):
    assert caffe_inv_lr(0, base_lr, gamma, power) == base_lr


@given(iters, base_lrs, gammas, powers)
def test_strictly_decreasing(it, base_lr, gamma, power):
    assert caffe_inv_lr(it + 1, base_lr, gamma, power) < caffe_inv_lr(it, base_lr, gamma, power)


@given(iters, base_lrs, gammas, powers)
def test_matches_closed_form(it, base_lr, gamma, power):
    expected = base_lr * math.exp(-power * math.log1p(gamma * it))
    assert math.isclose(caffe_inv_lr(it, base_lr, gamma, power), expected, rel_tol=1e-12)


def test_paper_values():
    # the paper's gamma 0.001, power 0.75: lr(1000) = base_lr * 2**-0.75
    assert math.isclose(caffe_inv_lr(1000, 0.01), 0.01 * 2 ** -0.75, rel_tol=1e-15)


def test_negative_iteration_rejected():
    with pytest.raises(ValueError, match="iteration"):
        caffe_inv_lr(-1, 0.01)
