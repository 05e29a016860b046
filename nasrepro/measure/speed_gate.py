"""The speed gate of `nasrepro bench`: each benchmark's median against the stored baseline of
this machine class, with a slowdown confirmed before it fails.

Why confirm: on the project's 2-core VMs single benchmark medians move by up to ~30 % (quiet)
and ~70 % (a neighbour's burst) between runs minutes apart, with no code change (measured,
docs/gate.md "Speed gates"). A benchmark over the threshold is therefore timed again in a
fresh process, up to `retries` times, and its best median counts: noise does not repeat, a
regression does. The threshold is per machine class (`gate.json` beside the baseline, with
its measured rationale), default 25 %.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasrepro.errors import ConfigError, DataError

DEFAULT_THRESHOLD = 0.25
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


def class_threshold(storage: Path, override: float | None) -> tuple[float, str, str]:
    """(threshold as a fraction, where it comes from, why): --threshold, else the class's
    gate.json (`threshold_percent` + `rationale`), else the default."""
    if override is not None:
        if not 0 < override < 1000:
            raise ConfigError(f"--threshold {override}: give a slowdown in percent, e.g. 25")
        return override / 100.0, "--threshold", "given on the command line"
    path = storage / GATE_FILE
    if path.is_file():
        try:
            gate = json.loads(path.read_text(encoding="utf-8"))
            pct, why = float(gate["threshold_percent"]), str(gate["rationale"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: needs threshold_percent and rationale ({exc})") from None
        return pct / 100.0, GATE_FILE, why
    return DEFAULT_THRESHOLD, "default", (f"no {GATE_FILE} for this class: the default; write "
                                          "one with the class's measured spread")


def over(base: dict[str, float], best: dict[str, float], threshold: float) -> list[str]:
    """Benchmarks of the baseline whose best median is more than `threshold` slower."""
    return sorted(k for k in base if k in best and best[k] > base[k] * (1.0 + threshold))


def confirm(base: dict[str, float], first: dict[str, float], threshold: float, retries: int,
            rerun: Callable[[list[str]], dict[str, float]]
            ) -> tuple[dict[str, float], dict[str, int]]:
    """Time the benchmarks over the threshold again (`rerun(names)` -> their medians), up to
    `retries` times, keeping each benchmark's best median; returns (best medians, timings
    per benchmark)."""
    best, timed = dict(first), {k: 1 for k in first}
    for _ in range(retries):
        slow = over(base, best, threshold)
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

    @property
    def change(self) -> float | None:
        if self.base is None or self.best is None:
            return None
        return self.best / self.base - 1.0

    def failed(self, threshold: float) -> bool:
        """Still slower than the threshold after its retries, or gone from the run."""
        return self.best is None or (self.change is not None and self.change > threshold)


def rows(base: dict[str, float], best: dict[str, float], timed: dict[str, int]) -> list[Row]:
    """A row for every benchmark of either side, sorted by name."""
    return [Row(k, base.get(k), best.get(k), timed.get(k, 0))
            for k in sorted(set(base) | set(best))]


def report_lines(table: list[Row], threshold: float, source: str) -> list[str]:
    """The comparison table and a last line with the verdict."""
    out = [f"{'benchmark':<70} {'baseline':>10} {'best now':>10} {'change':>8} {'timed':>5}"]
    for r in table:
        base = f"{r.base * 1e3:8.2f}ms" if r.base is not None else f"{'—':>10}"
        best = f"{r.best * 1e3:8.2f}ms" if r.best is not None else f"{'gone':>10}"
        change = f"{r.change:+8.1%}" if r.change is not None else f"{'new':>8}"
        flag = "  SLOWER" if r.failed(threshold) else ""
        out.append(f"{r.name.split('::')[-1]:<70} {base} {best} {change} {r.timed:>5}{flag}")
    bad = [r for r in table if r.failed(threshold)]
    limit = f"+{threshold:.0%} ({source})"
    out.append(f"speed gate: FAILED, {len(bad)} of {len(table)} benchmark(s) slower than "
               f"{limit} after their retries, or gone" if bad else
               f"speed gate: passed, {len(table)} benchmark(s) within {limit}")
    return out
