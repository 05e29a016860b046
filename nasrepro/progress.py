"""Live progress lines that reach the terminal while pytest captures test output.

Long experiments call `emit(line)` (or a `Ticker`) instead of print: under pytest the suite's
plugin (conftest.py) installs a writer that suspends output capture for the line, so a
40-minute study is not silent; anywhere else lines go to stderr. Plain lines, one per update,
so CI logs read the same as a terminal. Local worker processes (nasrepro.parallel, the stage
runner) send their lines to the driver (`worker_init`, `forward`), which emits them: a
worker's own stderr is captured with the driver's under pytest.

Why not tqdm (checked 2026-12-06 with tqdm 4.70): its bars redraw one line with '\r',
which pytest's capture and CI logs turn into noise, and its ETA is its own rate estimate,
while the stage runner's ETA comes from measured per-epoch times of each stage kind. Its
`format_meter` alone would format these lines, at the cost of a dependency and a
misleading rate column where the ETA is not rate-based.
"""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Callable
from typing import Any

_writer: Callable[[str], None] | None = None


def set_writer(writer: Callable[[str], None] | None) -> None:
    """Route progress lines through `writer` (None: back to stderr)."""
    global _writer
    _writer = writer


def emit(line: str) -> None:
    """Show one progress line now."""
    if _writer is not None:
        _writer(line)
    else:
        print(line, file=sys.stderr, flush=True)


def worker_init(lines: Any) -> None:
    """Initializer of a local worker process: its progress lines go into `lines` (a
    multiprocessing queue the driver drains with `forward`)."""
    set_writer(lines.put)


def forward(lines: Any) -> None:
    """Emit, in the driver, every line the workers have put into `lines` so far."""
    while True:
        try:
            line = lines.get_nowait()
        except (queue.Empty, OSError, EOFError, ValueError):  # empty, or the queue closed
            return
        emit(line)


def fmt_seconds(seconds: float) -> str:
    """'42s', '3m05s', '1h02m03s'."""
    m, s = divmod(round(max(seconds, 0.0)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Ticker:
    """Progress of one stage: `update(done)` emits 'stage: done/total, elapsed, ETA' at most
    every `every_s` seconds (and always at the end)."""

    def __init__(self, stage: str, total: int, unit: str = "", every_s: float = 10.0) -> None:
        self.stage, self.total, self.unit, self.every_s = stage, total, unit, every_s
        self.started = time.perf_counter()
        self._last = -float("inf")

    def update(self, done: int, extra: str = "", eta: float | None = None) -> None:
        """Report `done` of `total` (rate-limited). eta: seconds left when the caller knows
        better than the mean so far (e.g. from measured per-epoch times); else the mean."""
        now = time.perf_counter()
        if done < self.total and now - self._last < self.every_s:
            return
        self._last = now
        elapsed = now - self.started
        if eta is None:
            eta = elapsed / done * (self.total - done) if done else float("nan")
        eta_s = "?" if eta != eta else fmt_seconds(eta)  # nan: nothing done yet
        unit = f" {self.unit}" if self.unit else ""
        emit(f"[{self.stage}] {done}/{self.total}{unit}, {fmt_seconds(elapsed)} elapsed, "
             f"ETA {eta_s}" + (f"; {extra}" if extra else ""))
