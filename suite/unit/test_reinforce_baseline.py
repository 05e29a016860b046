"""REINFORCE's moving-average baseline: bias-corrected, so it starts at the first reward."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nasrepro.nas.reinforce import EMABaseline


def test_first_baseline_is_the_first_reward():
    b = EMABaseline(3, momentum=0.9)
    r = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    assert torch.allclose(b.update(r), r)


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=20), st.floats(0.0, 0.99))
def test_baseline_is_the_normalised_weighted_mean(rewards, m):
    b = EMABaseline(1, momentum=m)
    for r in rewards:
        got = b.update(torch.tensor([r], dtype=torch.float64)).item()
    weights = [(1 - m) * m ** (len(rewards) - 1 - i) for i in range(len(rewards))]
    expected = sum(w * r for w, r in zip(weights, rewards, strict=True)) / sum(weights)
    assert got == pytest.approx(expected, abs=1e-9)


def test_constant_rewards_give_that_constant():
    b = EMABaseline(2, momentum=0.99)
    for _ in range(5):
        out = b.update(torch.tensor([0.7, 0.1], dtype=torch.float64))
    assert torch.allclose(out, torch.tensor([0.7, 0.1], dtype=torch.float64))
