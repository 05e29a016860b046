"""LENET paper experiments: Table 1's nine cases (plus two runs for the linear-scaling-rule
comparison), the interleaved timing run and the per-case memory probes.

One budget table (TIERS). Training runs are cached one per (case, seed) so a long study
resumes where it stopped and claims sharing runs train them once. Their cache key hashes
only the sources that determine a run (data, model, loop, schedule), so editing a figure
or a claim's evaluation does not retrain 33 LeNets; timing and memory use the spine's
`cached` (keyed by all of nasrepro, as they are cheap).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from nasrepro.data.mnist import fingerprint as mnist_fingerprint
from nasrepro.data.mnist import load_mnist
from nasrepro.experiments.cache import cached, cached_file, config_hash, source_fingerprint
from nasrepro.measure.environment import machine_class
from nasrepro.parallel import Unit, choice_from_env, run_units
from nasrepro.paths import PACKAGE_DIR, cache_dir
from nasrepro.progress import Ticker
from nasrepro.train.lenet_loop import Case, run_stack
from nasrepro.train.lenet_memory import memory_in_subprocess
from nasrepro.train.lenet_timing import interleaved_timing
from nasrepro.train.threads import torch_threads

# Table 1 (train batch, test batch, base lr); 1000 iterations each.
CASES: dict[str, Case] = {
    "1": Case(64, 128, 0.01),
    "2": Case(32, 64, 0.01),
    "3": Case(128, 256, 0.01),
    "4": Case(64, 128, 0.04),
    "5": Case(64, 128, 0.001),
    "6": Case(32, 64, 0.02),
    "7": Case(64, 128, 0.0025),
    "8": Case(64, 128, 0.1),
    "9": Case(32, 64, 0.005),
}
# LENET-9: doubling the batch from case 1 under each rule (the paper's inverse rule halves
# the lr, Goyal et al.'s linear scaling rule doubles it). Halving is cases 6 and 9.
RULE_CASES: dict[str, Case] = {
    "128@0.005": Case(128, 256, 0.005),
    "128@0.02": Case(128, 256, 0.02),
}
ALL_CASES: dict[str, Case] = {**CASES, **RULE_CASES}

MEMORY_WINDOW_STEPS = 5  # profiled training steps of the LENET-3 probe (+ one test pass)
BATCH_CASES = ("2", "1", "3")          # batch 32, 64, 128 at lr 0.01 (LENET-1, -3)
LR_CASES = ("1", "4", "5", "7", "8")   # batch 64, lr 0.01 .. 0.1 (LENET-2, -3, Fig. 5)

TIERS: dict[str, dict[str, Any]] = {
    # the paper's full scale (1000 iterations, test every 100) on the CPU, 1 seed (the paper
    # ran each case once): ~230 CPU-s per seed on the AMD EPYC kind; on the Intel Xeon kind the
    # one-seed study took 182 s wall in a fresh-clone default run (docs/lenet.md, 2026-12-06);
    # 2 worker processes x 1 thread. 3 seeds (until
    # 2026-12-06) put the default run at 16-22 minutes on the Intel kind, over the 15-minute
    # limit; `--seeds 3` still runs them. stack 1: a LeNet step at batch >= 32 is
    # compute-bound on the CPU; stacking the runs of a batch size measured 5 % faster at
    # batch 32 and 19-24 % slower at 64 and 128 (larger working set), so each run trains
    # alone here. Timing: 15 interleaved repeats x 10 iterations per case: a 10-iteration
    # block's thread CPU time has IQR/median 4-6 %
    # (measured over 25 repeats), so a median over 15 has a standard error of ~1.3 %, well
    # inside LENET-2's 10 % and LENET-1's 1.2x doubling margins. Memory: 50 iterations + 1
    # test pass per case for RSS, then 5 profiled steps + 1 test pass for the allocator peak
    # (noise measured 0 bytes).
    "smoke": {"seeds": 1, "iters": 1000, "eval_every": 100, "threads": 1, "workers": 2,
              "stack": 1, "timing_reps": 15, "timing_block": 10, "timing_warmup": 5,
              "memory_iters": 50},
    # more seeds and longer timing blocks; meant for a GPU, where small LeNet steps should be
    # launch-bound, so all runs of a batch size train as one stack (stack 0 = all). Not yet
    # measured on a GPU (none in the session that wrote this): check before relying on it.
    "full": {"seeds": 10, "iters": 1000, "eval_every": 100, "threads": 0, "workers": 1,
             "stack": 0, "timing_reps": 21, "timing_block": 50, "timing_warmup": 20,
             "memory_iters": 200},
}

_RUN_SOURCES = ("data/mnist.py", "models/lenet.py", "train/lenet_loop.py", "train/schedules.py")


def _run_code_hash() -> str:
    """Code hash of the sources that decide a run's numbers (docstrings/comments excluded)."""
    return source_fingerprint(PACKAGE_DIR, _RUN_SOURCES)


def stacks(keys: list[str], seeds: list[int], size: int) -> list[list[tuple[str, int]]]:
    """Group the (case, seed) runs by batch size, in stacks of at most `size` members (0 =
    one stack per batch size), the costliest stacks first (so two workers finish together)."""
    by_batch: dict[int, list[tuple[str, int]]] = {}
    for s in seeds:
        for k in keys:
            by_batch.setdefault(ALL_CASES[k].batch, []).append((k, s))
    out = []
    for batch in sorted(by_batch, reverse=True):
        members = by_batch[batch]
        n = size or len(members)
        out += [members[i:i + n] for i in range(0, len(members), n)]
    return sorted(out, key=lambda st: -ALL_CASES[st[0][0]].batch * len(st))


def train_stack(members: list[tuple[str, int]], iters: int, eval_every: int, device: str,
                threads: int = 0, data=None) -> list[dict[str, np.ndarray]]:
    """One cached stacked training run of `members` [(case key, seed), ...] (one batch size);
    a stack of one is an ordinary single run.

    The members are part of the key: a stack's float sums may differ from another stack's in
    the last bits. On the CPU the thread count is part of the key too (CPU runs must be
    bit-reproducible)."""
    import torch

    cases = [ALL_CASES[k] for k, _ in members]
    with torch_threads(threads if device == "cpu" else 0):  # restored after
        cfg = {"members": [[k, s] for k, s in members],
               "cases": [[c.batch, c.test_batch, c.base_lr] for c in cases],
               "iters": iters, "eval_every": eval_every, "device": device,
               "threads": torch.get_num_threads() if device == "cpu" else 0,
               "code": _run_code_hash(), "data": mnist_fingerprint(),
               "machine_class": machine_class(device)}  # float results differ by code path
        path = cache_dir() / "lenet_run" / f"{config_hash(cfg)}.pkl"

        def compute() -> list[dict[str, np.ndarray]]:
            ticker = Ticker("LeNet " + ", ".join(f"case {k} seed {s}" for k, s in members),
                            iters, "iterations", every_s=30)  # a stack trains 15-60 s
            return run_stack(data if data is not None else load_mnist(device=device), cases,
                             [s for _, s in members], iters, eval_every, device,
                             on_block=ticker.update)

        return cached_file(path, compute)  # unreadable file: moved aside and recomputed


def solver_settings() -> dict[str, float]:
    """The solver a study run uses, read from the objects themselves (so a changed default
    shows up in the claim's config and fails it as news): Caffe SGD + inv policy."""
    from nasrepro.models.lenet import StackedCaffeSGD, StackedLeNet
    from nasrepro.train import lenet_loop

    opt = StackedCaffeSGD(StackedLeNet([0]))
    return {"momentum": opt.momentum, "weight_decay": opt.weight_decay,
            "bias_lr_mult": max(opt.lr_mult), "lr_policy": "inv",
            "gamma": lenet_loop.GAMMA, "power": lenet_loop.POWER}


def _finished(members: list[tuple[str, int]], runs: list[dict[str, np.ndarray]]) -> str:
    return ", ".join(f"case {k} seed {sd}: test acc {float(r['test_acc'][-1]):.4f}"
                     for (k, sd), r in zip(members, runs, strict=True))


class StudyEta:
    """Seconds left of a study whose stacks (`costs`: relative work, in submission order)
    run `workers` at a time: the throughput so far, with the stacks in flight counted
    half done (at the first finish the other worker's stack is nearly done too; counting it
    as not started made the first ETA 10 min for 2 min of work)."""

    def __init__(self, costs: list[int], workers: int) -> None:
        self.costs, self.workers = costs, max(workers, 1)
        self.done: set[int] = set()
        self.started = time.perf_counter()

    def finished(self, i: int) -> float:
        """Record stack i as finished; the ETA of the rest."""
        self.done.add(i)
        left = [j for j in range(len(self.costs)) if j not in self.done]
        in_flight = left[:self.workers]  # submission order: the next ones started first
        credit = sum(self.costs[j] for j in self.done) + 0.5 * sum(
            self.costs[j] for j in in_flight)
        elapsed = time.perf_counter() - self.started
        return elapsed / credit * (sum(self.costs) - credit) if credit else float("nan")


def study(seeds: Iterable[int], tier: str, device: str,
          keys: Iterable[str] = tuple(ALL_CASES)) -> dict[str, list[dict[str, np.ndarray]]]:
    """{case key: [run per seed]} for all cases, trained in stacks of one batch size
    (`TIERS[tier]["stack"]` members at most). Each stack is a unit of nasrepro.parallel: on
    the CPU by default `workers` processes of `threads` threads each (LeNet steps are too
    small for two OpenMP threads to pay off, and on a shared machine a descheduled thread
    stalls its partner at every barrier); with --executor ray, Ray tasks."""
    b = TIERS[tier]
    seeds, keys = list(seeds), list(keys)
    jobs = stacks(keys, seeds, b["stack"])
    args = [(st, b["iters"], b["eval_every"], device, b["threads"]) for st in jobs]
    # at most a line every 5 s (and the last): a stack trains for 15-60 s, so each still
    # gets its line; a study read back from the cache prints two, not one per stack
    ticker = Ticker(f"LeNet study, {len(seeds)} seed(s)", len(jobs), "training stacks",
                    every_s=5)
    units = [Unit(train_stack, a, "LeNet stack " + ", ".join(f"case {k} seed {sd}"
                                                            for k, sd in st), cached=True)
             for st, a in zip(jobs, args, strict=True)]
    default_jobs = b["workers"] if device == "cpu" else 1
    # a stack's work ~ (batch + 32) x members: its 11 test passes cost about as much as 32
    # images a step (measured on the Intel VM: 1000 steps + tests 65 s at batch 128, 25 s
    # at 32)
    eta = StudyEta([(ALL_CASES[st[0][0]].batch + 32) * len(st) for st in jobs],
                   choice_from_env().jobs or default_jobs)
    done = run_units(units, device=device, default_jobs=default_jobs,
                     cpus_per_unit=max(b["threads"], 1),
                     on_done=lambda i, n, runs: ticker.update(
                         n, _finished(jobs[i], runs), eta=eta.finished(i)))
    found = {m: run for st, runs in zip(jobs, done, strict=True)
             for m, run in zip(st, runs, strict=True)}
    return {k: [found[(k, s)] for s in seeds] for k in keys}


def curve(runs: list[dict[str, np.ndarray]], field: str) -> np.ndarray:
    """seeds x checkpoints array of one recorded field."""
    return np.stack([r[field] for r in runs])


def timing(tier: str, device: str) -> dict[str, Any]:
    """Interleaved timing of all nine cases (seconds per 100 training iterations, one value
    per repeat) plus the settings it ran with. Cached per code version."""
    b = TIERS[tier]
    cfg = {"tier": tier, "device": device, "reps": b["timing_reps"],
           "block": b["timing_block"], "warmup": b["timing_warmup"], "threads": b["threads"]}

    def compute() -> dict[str, Any]:
        import torch

        with torch_threads(b["threads"] if device == "cpu" else 0):
            measured = interleaved_timing(load_mnist(device=device), CASES, b["timing_reps"],
                                          b["timing_block"], b["timing_warmup"], device)
            threads = torch.get_num_threads()
        return {**measured, **cfg, "threads": threads}

    return cached("lenet_timing", cfg, compute, data=mnist_fingerprint())


def memory(tier: str, device: str) -> dict[str, dict[str, float]]:
    """Per-case memory (RSS mean/max, measured tensor memory), each case in a fresh process."""
    b = TIERS[tier]
    keys = sorted(set(BATCH_CASES) | set(LR_CASES))
    cfg = {"tier": tier, "device": device, "iters": b["memory_iters"], "cases": keys,
           "window_steps": MEMORY_WINDOW_STEPS}

    def compute() -> dict[str, dict[str, float]]:
        # two probes at a time (RSS is per process, so they do not disturb each other)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            res = pool.map(lambda k: memory_in_subprocess(CASES[k], b["memory_iters"], device,
                                                          MEMORY_WINDOW_STEPS), keys)
            return dict(zip(keys, res, strict=True))

    return cached("lenet_memory", cfg, compute, data=mnist_fingerprint())


def main() -> None:
    """Pre-compute (resumably) the study of a tier: `python -m nasrepro.experiments.lenet`."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--tier", default="smoke", choices=tuple(TIERS))
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    t0 = time.perf_counter()
    study(range(a.seeds or TIERS[a.tier]["seeds"]), a.tier, a.device)
    print(f"[lenet] study done in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
