"""Speed gates of the batched REINFORCE search (pytest-benchmark; `nasrepro bench`).

Two workloads, both the REWARD-4/5 search's inner loop (factorized controller, Adam, EMA
baseline, table look-up, reward):
- the 64-seed kernel: SEEDS searches of one (reward, source) batched as rows against one
  search alone, STEPS updates each (speed-up = SEEDS * t(one) / t(batched));
- the smoke run as the experiment batches it: `reward_search.run_search` on the smoke tier's
  config (4 rewards x 3 latency sources x 50 seeds = 600 searches as rows of one batch,
  grouped rewards and per-row sources), shortened to SMOKE_STEPS samples, against a loop
  that runs the same kind of search one at a time (`run_search` with one seed of one
  (reward, source) group; the table loaded once), over LOOP_SEARCHES searches, one per
  group and seed 0..: the same work per search, scaled down in the number of searches.
The ratio of samples per second (batched / one-at-a-time loop) is asserted above a floor
and written to $NASREPRO_REPORTS/bench/search_batching.json when that variable is set.
"""

import functools
import json
import os
import time
from pathlib import Path

import pytest
import torch

from nasrepro.data.nb201 import load_table
from nasrepro.experiments import reward_search as rs
from nasrepro.nas.controllers.factorized import FactorizedController
from nasrepro.nas.reinforce import TableLookup, run_reinforce
from nasrepro.nas.rewards import proposed_reward
from nasrepro.train.threads import torch_threads

SEEDS = 64
STEPS = 200
SMOKE_STEPS = 100
LOOP_SEARCHES = 12  # one search per (reward, source) group of the smoke run
# Floor of batched / one-at-a-time samples per second. Measured on the shared 2-core
# development machine (AVX-512, load average 8.9-9.4, one torch thread): 136, 139, 144 and
# 159x in four runs (spread +-8 %; docs/nb201.md). 40x is below a third of the lowest, room
# for CPUs whose vector and interpreter speeds differ from this one, and above what a lost
# batching gives: evaluating the reward row by row inside the batched step (a mutant, run
# once) measured 7x.
MIN_BATCHING_RATIO = 40.0


@pytest.fixture(scope="module")
def table():
    return load_table()


def _search(table, n_seeds: int) -> None:
    t = float(torch.quantile(table.latency_ms("1080ti_256"), 0.74))
    g = torch.Generator().manual_seed(0)
    ctl = FactorizedController(n_seeds, g)
    run_reinforce(ctl, TableLookup(table, ["1080ti_256"] * n_seeds),
                  functools.partial(proposed_reward, target_ms=t), STEPS, lr=0.01,
                  generator=g)


@pytest.mark.parametrize("n_seeds", [1, SEEDS], ids=["one_seed", f"batched_{SEEDS}"])
def test_bench_reinforce(benchmark, table, n_seeds):
    with torch_threads(1):
        benchmark.pedantic(_search, args=(table, n_seeds), rounds=5, iterations=1,
                           warmup_rounds=1)
    if getattr(benchmark, "disabled", False) or benchmark.stats is None:
        return  # --benchmark-disable: ran once as a smoke check, nothing to time
    per_s = n_seeds * STEPS / benchmark.stats.stats.median
    benchmark.extra_info["samples_per_s"] = per_s
    # absolute floor (measured ~45,000 samples/s batched, ~900 one seed, 2-core CPU);
    # the relative gate is `nasrepro bench` against this machine's stored baseline.
    if n_seeds == SEEDS:
        assert per_s > 2000, f"batched search too slow: {per_s:.0f} samples/s"


@functools.lru_cache(maxsize=1)
def _smoke_work():
    """(batched config, [config of each one-at-a-time search]): the smoke run."""
    cfg = rs.search_config("smoke", n_samples=SMOKE_STEPS, block=SMOKE_STEPS)
    groups = [(r, s) for s in cfg["sources"] for r in cfg["rewards"]]
    singles = []
    for i in range(LOOP_SEARCHES):
        r, s = groups[i % len(groups)]
        one = rs.search_config("smoke", seeds=1, n_samples=SMOKE_STEPS, block=SMOKE_STEPS,
                               rewards=(r,), sources=(s,), base_seed=i // len(groups))
        singles.append(one)
    return cfg, singles


@pytest.fixture(scope="module")
def smoke_table():
    """The table the smoke search reads (table_for its sources), loaded once."""
    return rs.table_for(tuple(_smoke_work()[0]["sources"]))


def _batched(table) -> float:
    """Seconds of the smoke run's batched search (samples: rows x SMOKE_STEPS; the table
    loaded once, as for the loop)."""
    cfg, _ = _smoke_work()
    t0 = time.perf_counter()
    rs.run_search(cfg, table=table)
    return time.perf_counter() - t0


def _loop(table) -> float:
    """Seconds of LOOP_SEARCHES searches run one at a time (table loaded once)."""
    _, singles = _smoke_work()
    t0 = time.perf_counter()
    for one in singles:
        rs.run_search(one, table=table)
    return time.perf_counter() - t0


def _rows(cfg) -> int:
    return cfg["seeds"] * len(cfg["rewards"]) * len(cfg["sources"])


def test_bench_smoke_search_batched(benchmark, smoke_table):
    """The smoke run's 600 searches as one batch, SMOKE_STEPS samples each."""
    cfg, _ = _smoke_work()
    benchmark.pedantic(_batched, args=(smoke_table,), rounds=3, iterations=1)
    if getattr(benchmark, "disabled", False) or benchmark.stats is None:
        return
    benchmark.extra_info["samples_per_s"] = _rows(cfg) * SMOKE_STEPS / \
        benchmark.stats.stats.median


def test_bench_smoke_search_one_at_a_time(benchmark, smoke_table):
    """The same searches run singly, LOOP_SEARCHES of them (the loop's unit of work)."""
    benchmark.pedantic(_loop, args=(smoke_table,), rounds=3, iterations=1)
    if getattr(benchmark, "disabled", False) or benchmark.stats is None:
        return
    benchmark.extra_info["samples_per_s"] = LOOP_SEARCHES * SMOKE_STEPS / \
        benchmark.stats.stats.median


def test_batched_search_beats_one_at_a_time_loop(smoke_table):
    """Samples per second of the batched smoke search against the one-at-a-time loop,
    measured alternately in this run (best of 2 each, one thread, as run_search pins)."""
    cfg, _ = _smoke_work()
    batched, loop = [], []
    for _ in range(2):
        batched.append(_batched(smoke_table))
        loop.append(_loop(smoke_table))
    batched_rate = _rows(cfg) * SMOKE_STEPS / min(batched)
    loop_rate = LOOP_SEARCHES * SMOKE_STEPS / min(loop)
    ratio = batched_rate / loop_rate
    line = {"searches_batched": _rows(cfg), "steps": SMOKE_STEPS,
            "loop_searches": LOOP_SEARCHES, "batched_s": min(batched), "loop_s": min(loop),
            "batched_samples_per_s": batched_rate, "loop_samples_per_s": loop_rate,
            "ratio": ratio, "floor": MIN_BATCHING_RATIO, "load_avg_1m": os.getloadavg()[0]}
    print("search batching:", json.dumps(line))
    if os.environ.get("NASREPRO_REPORTS"):
        from nasrepro.files import atomic_write_json

        atomic_write_json(Path(os.environ["NASREPRO_REPORTS"]) / "bench" /
                          "search_batching.json", line)
    assert ratio >= MIN_BATCHING_RATIO, line
