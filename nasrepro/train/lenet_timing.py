"""Interleaved timing of LeNet training cases (LENET-1, -2, -9), robust on a shared machine.

Every repeat trains one block of iterations of every case, in an order rotated each repeat,
so a slow phase of the machine hits all cases alike and ratios come from the same run.

Which clock: on CUDA, device-synchronised wall-clock time (Stopwatch). On the CPU the run uses
one intra-op thread, so all of a step's work happens on the calling thread, and we time it
with that thread's CPU time (time.thread_time): on a machine shared with other jobs, wall
time also counts the slices the OS gave to other processes, which is noise, not LeNet's cost.
On a dedicated single-thread run the two agree; both are recorded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from nasrepro.data.mnist import MNIST
from nasrepro.measure.timers import Stopwatch, synchronize
from nasrepro.train.lenet_loop import Case, LeNetTrainer


def interleaved_timing(data: MNIST, cases: dict[str, Case], reps: int, block: int,
                       warmup: int = 5, device: str = "cpu", seed: int = 0
                       ) -> dict[str, object]:
    """Seconds per 100 training iterations of each case, one value per repeat.

    Returns {"per_case": {case: array}, "wall_per_case": {case: array}, "clock": name}:
    per_case is the verdict clock (thread CPU time on the CPU, synchronised wall on CUDA).
    """
    on_cpu = torch.device(device).type == "cpu"
    trainers = {k: LeNetTrainer(data, c, seed, device) for k, c in cases.items()}
    for t in trainers.values():
        t.train(warmup)
    synchronize(device)
    keys = list(trainers)
    wall: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    for r in range(reps):
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:
            sw = Stopwatch(device)
            c0 = time.thread_time()
            with sw.measure():
                trainers[k].train(block)
            cpu[k].append((time.thread_time() - c0) * 100.0 / block)
            wall[k].append(sw.total * 100.0 / block)
    wall_a = {k: np.asarray(v) for k, v in wall.items()}
    return {"per_case": {k: np.asarray(v) for k, v in cpu.items()} if on_cpu else wall_a,
            "wall_per_case": wall_a,
            "clock": "thread CPU time (1 thread)" if on_cpu else "synchronised wall clock"}


def same_repeat_ratio(per_case: dict[str, np.ndarray], key: str, ref: str) -> float:
    """Median over repeats of case `key`'s time / case `ref`'s time in the same repeat: the
    paired comparison the interleaving exists for (a slow phase scales both alike)."""
    return float(np.median(per_case[key] / per_case[ref]))


def paired_spread(per_case: dict[str, np.ndarray], keys: Sequence[str], ref: str) -> float:
    """max/min - 1 of the cases' same-repeat ratios to `ref` (a member of `keys`, ratio 1):
    how far apart the cases' costs are, with the machine's drift between repeats cancelled.
    The cases' own medians would not cancel it: on a VM whose speed changes in phases the
    medians of 15 repeats can land in different phases (measured: 0.125-0.231 unpaired vs
    0.010-0.029 paired on the same three runs, docs/gate.md)."""
    ratios = [same_repeat_ratio(per_case, k, ref) for k in keys]
    return max(ratios) / min(ratios) - 1.0
