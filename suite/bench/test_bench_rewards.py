"""Speed gate: the vectorised rewards over 10^6 (accuracy, latency) pairs.

`nasrepro bench` (tox -e bench) compares medians with this machine's stored baseline and
fails past the threshold; in the default test run these execute once, as plain tests.
"""

import numpy as np
import pytest
import torch

from nasrepro.nas.rewards import mnasnet_reward, proposed_reward

N = 1_000_000


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    return rng.uniform(0.01, 1.0, N), rng.uniform(0.1, 40.0, N)


@pytest.mark.parametrize("fn", [mnasnet_reward, proposed_reward], ids=["mnasnet", "proposed"])
def test_bench_reward_numpy(benchmark, pairs, fn):
    acc, lat = pairs
    out = benchmark(fn, acc, lat)
    assert out.shape == (N,) and np.isfinite(out).all()


@pytest.mark.parametrize("fn", [mnasnet_reward, proposed_reward], ids=["mnasnet", "proposed"])
def test_bench_reward_torch(benchmark, pairs, fn):
    acc, lat = (torch.from_numpy(x).float() for x in pairs)
    out = benchmark(fn, acc, lat)
    assert out.shape == (N,) and bool(torch.isfinite(out).all())


def test_bench_reward_vectorised_beats_python_loop(pairs):
    """Guards the point of vectorisation: 10^4 scalar calls cost more than 10^6 vectorised."""
    import time

    acc, lat = pairs
    t0 = time.perf_counter()
    proposed_reward(acc, lat)
    vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    for a, l_ in zip(acc[:10_000], lat[:10_000], strict=True):
        proposed_reward(float(a), float(l_))
    loop = time.perf_counter() - t0
    assert vec < loop, f"vectorised 1e6: {vec:.3f}s vs 1e4 scalar calls: {loop:.3f}s"
