"""The speed gate of `nasrepro bench`: each benchmark's median against the stored baseline of
this machine class, in units of this machine's speed today, with a slowdown confirmed before
it fails.

Why: on the project's 2-core VMs single medians move by up to ~30 % between quiet runs
minutes apart, and whole machines of one class run 1.3-1.8x apart from session to session
(the same default run's LENET folder: 183 s on one, 287-327 s on another; docs/gate.md
"Speed gates"). So
- the machine factor = the median over all benchmarks of (this run / baseline), at least 1,
  is divided out: a slower machine slows every benchmark, a regression a few;
- a benchmark more than the class's threshold slower than that is timed again in a fresh
  process, up to `retries` times, and its best median counts: noise does not repeat;
- a machine factor above the class's machine limit (default 2x) fails the run as a whole:
  a global slowdown that large is news either way (a regression or the wrong machine).
Thresholds per machine class: `gate.json` beside the baseline, with their rationale.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasrepro.errors import ConfigError, DataError

DEFAULT_THRESHOLD = 0.25
DEFAULT_MACHINE_LIMIT = 1.0  # a machine factor above 2x fails the run
MIN_FOR_FACTOR = 5  # fewer benchmarks in a run (a -k selection): no machine factor
GATE_FILE = "gate.json"


def medians(bench_json: dict[str, Any]) -> dict[str, float]:
    """{benchmark fullname: median seconds} of a pytest-benchmark JSON document."""
    return {b["fullname"]: float(b["stats"]["median"]) for b in bench_json["benchmarks"]}


def load(path: Path) -> dict[str, Any]:
    """A pytest-benchmark JSON document (DataError naming the file when unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a readable pytest-benchmark JSON ({exc})") from None


def latest_baseline(storage: Path) -> Path | None:
    """The newest baseline saved under `storage` by `nasrepro bench --save`."""
    found = sorted(storage.rglob("*_baseline.json"), key=lambda p: p.name) \
        if storage.is_dir() else []
    return found[-1] if found else None


@dataclass(frozen=True)
class Limits:
    """The gate's limits for a class: per-benchmark slowdown (beyond the machine factor) and
    machine factor, as fractions; where they come from and why."""

    threshold: float
    machine: float
    source: str
    why: str

    def machine_exceeded(self, factor: float) -> bool:
        """Whether the machine factor itself is past its limit."""
        return factor - 1.0 > self.machine


def class_limits(storage: Path, override: float | None) -> Limits:
    """--threshold (percent), else the class's gate.json (`threshold_percent`,
    `machine_limit_percent` optional, `rationale`), else the defaults."""
    machine = DEFAULT_MACHINE_LIMIT
    path = storage / GATE_FILE
    gate: dict[str, Any] = {}
    if path.is_file():
        try:
            gate = json.loads(path.read_text(encoding="utf-8"))
            pct, why = float(gate["threshold_percent"]), str(gate["rationale"])
            machine = float(gate.get("machine_limit_percent", 100 * machine)) / 100.0
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{path}: needs threshold_percent and rationale ({exc})") from None
    if override is not None:
        if not 0 < override < 1000:
            raise ConfigError(f"--threshold {override}: give a slowdown in percent, e.g. 25")
        return Limits(override / 100.0, machine, "--threshold", "given on the command line")
    if gate:
        return Limits(pct / 100.0, machine, GATE_FILE, why)
    return Limits(DEFAULT_THRESHOLD, machine, "default",
                  f"no {GATE_FILE} for this class: the defaults; write one with the class's "
                  "measured spread")


def machine_factor(base: dict[str, float], first: dict[str, float]) -> float:
    """How much slower this machine runs today than when the baseline was recorded: the
    median over the benchmarks of both of (this run / baseline), at least 1 (a faster
    machine is not credited: a benchmark that did not speed up with it is not news). 1 for a
    run of fewer than MIN_FOR_FACTOR benchmarks, whose median says little about the machine."""
    common = sorted(k for k in base if k in first)
    if len(common) < MIN_FOR_FACTOR:
        return 1.0
    return max(1.0, statistics.median(first[k] / base[k] for k in common))


def over(base: dict[str, float], best: dict[str, float], threshold: float,
         factor: float = 1.0) -> list[str]:
    """Benchmarks of the baseline whose best median is more than `threshold` slower than the
    baseline times the machine factor."""
    return sorted(k for k in base if k in best
                  and Row(k, base[k], best[k], factor=factor).failed(threshold))


def confirm(base: dict[str, float], first: dict[str, float], threshold: float, retries: int,
            rerun: Callable[[list[str]], dict[str, float]], factor: float = 1.0
            ) -> tuple[dict[str, float], dict[str, int]]:
    """Time the benchmarks over the threshold again (`rerun(names)` -> their medians), up to
    `retries` times, keeping each benchmark's best median; returns (best medians, timings
    per benchmark)."""
    best, timed = dict(first), {k: 1 for k in first}
    for _ in range(retries):
        slow = over(base, best, threshold, factor)
        if not slow:
            break
        again = rerun(slow)
        for k in slow:
            if k in again:
                best[k] = min(best[k], again[k])
                timed[k] += 1
    return best, timed


@dataclass(frozen=True)
class Row:
    """One benchmark: baseline median, best median of this run, how often it was timed."""

    name: str
    base: float | None
    best: float | None
    timed: int = 1
    factor: float = 1.0

    @property
    def change(self) -> float | None:
        """best / (baseline x machine factor) - 1."""
        if self.base is None or self.best is None:
            return None
        return self.best / (self.base * self.factor) - 1.0

    def failed(self, threshold: float) -> bool:
        """Still slower than the threshold after its retries, or gone from the run."""
        return self.best is None or (self.change is not None and self.change > threshold)


def rows(base: dict[str, float], best: dict[str, float], timed: dict[str, int],
         factor: float = 1.0) -> list[Row]:
    """A row for every benchmark of either side, sorted by name."""
    return [Row(k, base.get(k), best.get(k), timed.get(k, 0), factor)
            for k in sorted(set(base) | set(best))]


def failed(table: list[Row], limits: Limits, factor: float) -> bool:
    """The gate's verdict: a benchmark still slower after its retries, one gone, or the
    whole machine factor past its limit."""
    return limits.machine_exceeded(factor) or any(r.failed(limits.threshold) for r in table)


def report_lines(table: list[Row], limits: Limits, factor: float) -> list[str]:
    """The comparison table and the verdict lines."""
    out = [f"{'benchmark':<64} {'baseline':>10} {'best now':>10} {'change*':>8} {'timed':>5}"]
    for r in table:
        base = f"{r.base * 1e3:8.2f}ms" if r.base is not None else f"{'—':>10}"
        best = f"{r.best * 1e3:8.2f}ms" if r.best is not None else f"{'gone':>10}"
        change = f"{r.change:+8.1%}" if r.change is not None else f"{'new':>8}"
        flag = "  SLOWER" if r.failed(limits.threshold) else ""
        out.append(f"{r.name.split('::')[-1]:<64} {base} {best} {change} {r.timed:>5}{flag}")
    out.append(f"* beyond the machine factor {factor:.2f} (median of this run / baseline, at "
               f"least 1; limit {1 + limits.machine:.2f})")
    bad = [r for r in table if r.failed(limits.threshold)]
    limit = f"+{limits.threshold:.0%} ({limits.source})"
    if limits.machine_exceeded(factor):
        out.append(f"speed gate: FAILED, every benchmark {factor:.2f}x slower than the baseline "
                   f"(over the machine limit {1 + limits.machine:.2f}x): a global regression, "
                   "or a machine unlike the baseline's")
    if bad:
        out.append(f"speed gate: FAILED, {len(bad)} of {len(table)} benchmark(s) slower than "
                   f"{limit} after their retries, or gone")
    elif not limits.machine_exceeded(factor):
        out.append(f"speed gate: passed, {len(table)} benchmark(s) within {limit}")
    return out
