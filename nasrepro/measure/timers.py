"""Device-synchronised wall-clock timing: CUDA work is asynchronous, so a timer that
does not synchronise measures kernel launches, not work."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def synchronize(device: str | torch.device) -> None:
    """Wait for queued work on `device` (no-op on CPU)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


class Stopwatch:
    """Accumulates synchronised intervals: `with sw.measure(): ...`; `sw.total`, `sw.laps`."""

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = device
        self.laps: list[float] = []

    @contextmanager
    def measure(self):
        synchronize(self.device)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            synchronize(self.device)
            self.laps.append(time.perf_counter() - t0)

    @property
    def total(self) -> float:
        return float(sum(self.laps))


def median_time(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1,
                device: str | torch.device = "cpu") -> dict[str, float]:
    """Run fn warmup + repeats times; median, min and IQR of the synchronised times (s)."""
    for _ in range(warmup):
        fn()
    sw = Stopwatch(device)
    for _ in range(repeats):
        with sw.measure():
            fn()
    arr = np.asarray(sw.laps)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    return {"median": float(med), "min": float(arr.min()), "iqr": float(q3 - q1),
            "repeats": repeats}
