"""Result records: what one claim run measured, its verdict, and the environment.

A record is JSON at reports/results/<tier>/<CLAIM>.json, written atomically. The report
and the baseline comparison read only records, never re-running an experiment.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasrepro.claims.stats import summarize
from nasrepro.claims.tolerances import Tolerance
from nasrepro.claims.verdicts import Verdict, combine
from nasrepro.errors import ConfigError, DataError
from nasrepro.files import atomic_write_json, read_json
from nasrepro.paths import results_dir

SCHEMA = 1


@dataclass
class Measurement:
    """One compared quantity: ours (a value, or one per seed) against the paper's.

    `band` is the regression band against the accepted baseline (absolute, on the
    central value); None means the quantity is not regression-checked (e.g. wall time on
    unknown hardware). `verdict` is computed from the tolerance unless given.
    `paper` is the paper's own number (None when it prints none); `threshold`, when set, is
    the claim's bound the tolerance is checked against instead (e.g. 'difference >= 0'),
    so the report never shows a threshold as if the paper had printed it.
    """

    name: str
    ours: float | Sequence[float] | None
    paper: float | None = None
    source: str = ""
    tolerance: Tolerance | None = None
    unit: str = ""
    band: float | None = 0.0
    p_value: float | None = None
    verdict: Verdict | None = None
    detail: str = ""
    threshold: float | None = None

    def reference(self) -> float | None:
        """What the tolerance compares with: the claim's threshold if set, else the paper's."""
        return self.threshold if self.threshold is not None else self.paper

    def center(self) -> float | None:
        """Our central value: the value itself, or the median over seeds."""
        if self.ours is None:
            return None
        if isinstance(self.ours, (int, float)):
            return float(self.ours)
        return summarize(list(self.ours))["median"]

    def spread(self) -> dict[str, Any] | None:
        """Median/IQR/mean/std over seeds, or None for a single value."""
        if self.ours is None or isinstance(self.ours, (int, float)):
            return None
        return summarize(list(self.ours))

    def evaluate(self) -> Verdict:
        """Set and return the verdict from the tolerance (unless one was given)."""
        if self.verdict is not None:
            self.verdict = Verdict(self.verdict)
            return self.verdict
        if self.ours is None:  # a silent NOT RUN would drop the item from the claim verdict
            raise ConfigError(f"measurement {self.name!r} has no value: give it a verdict "
                              "(NOT RUN with the reason in its detail, or NOT REPRODUCED "
                              "when the experiment ran and could not produce the number)")
        if self.tolerance is None:
            raise ConfigError(f"measurement {self.name!r}: give a tolerance or a verdict")
        spread = self.spread()
        std = spread["std"] if spread else None
        verdict, detail = self.tolerance.check(self.center(), self.reference(), std=std,
                                               p_value=self.p_value)
        self.verdict = verdict
        self.detail = f"{self.detail}; {detail}" if self.detail else detail
        return verdict

    def to_dict(self) -> dict[str, Any]:
        ours = self.ours
        if ours is not None and not isinstance(ours, (int, float)):
            ours = [float(v) for v in ours]
        return {
            "name": self.name,
            "ours": ours,
            "center": self.center(),
            "spread": self.spread(),
            "paper": self.paper,
            "threshold": self.threshold,
            "source": self.source,
            "tolerance": self.tolerance.to_dict() if self.tolerance else None,
            "unit": self.unit,
            "band": self.band,
            "p_value": self.p_value,
            "verdict": str(self.verdict) if self.verdict is not None else None,
            "detail": self.detail,
        }


@dataclass
class ClaimResult:
    """Everything a claim test reports: measurements, notes, tables and figures.

    `verdict` defaults to the combination of the measurements' verdicts; a claim with a
    rule of its own (e.g. 'all orderings must hold') sets it explicitly with a note.
    """

    claim: str
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict | None = None
    not_run_reason: str = ""

    def add(self, m: Measurement) -> Measurement:
        self.measurements.append(m)
        return m

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Attach an extra table (rendered with tabulate in the report)."""
        self.tables.append({"title": title, "headers": list(headers),
                            "rows": [[_cell(c) for c in r] for r in rows]})

    def final_verdict(self) -> Verdict:
        for m in self.measurements:
            m.evaluate()
        if self.verdict is None:
            self.verdict = combine(m.verdict for m in self.measurements if m.verdict)
        return Verdict(self.verdict)


NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def json_safe(obj: Any) -> Any:
    """`obj` with every non-finite float written as the string 'NaN', 'Infinity' or
    '-Infinity' (JSON has no such numbers): a diverged run's NaN accuracy is a result to
    record, not a reason to lose the record. `number` reads them back."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def number(value: Any) -> float:
    """A recorded number as a float, non-finite strings from `json_safe` included."""
    if isinstance(value, str):
        if value not in NON_FINITE:
            raise ValueError(f"not a recorded number: {value!r}")
        return NON_FINITE[value]
    return float(value)


def _cell(c: Any) -> Any:
    """A table cell as JSON: a tensor or numpy scalar as its number, a non-finite number as
    json_safe writes it everywhere else ('NaN', not Python's 'nan')."""
    return json_safe(c.item() if hasattr(c, "item") else c)


_VERDICT_WORDS = r"(NOT REPRODUCED|REPRODUCED|PARTIAL|NOT RUN)"
_ASSERTION = re.compile(r"verdict\s+(?:is|was|stays|remains)?\s*(?:stable)?\s*[:=]?\s*"
                        + _VERDICT_WORDS)


def contradicting_notes(record: dict[str, Any]) -> list[str]:
    """Notes that assert a verdict ('the verdict is stable: PARTIAL') other than the record's:
    fixed prose that would go stale when the hardware or the code changes."""
    out = []
    for note in record.get("notes", []):
        for m in _ASSERTION.finditer(note):
            rule = re.match(r"\s*(only\s+)?(if|when|unless)\b", note[m.end():])
            if m.group(1) != record["verdict"] and not rule:
                out.append(f"note asserts verdict {m.group(1)} but the record's verdict is "
                           f"{record['verdict']}: generate the sentence from the record "
                           f"(note: {note[:80]!r}...)")
    return out


def record_path(tier: str, claim: str, reports: Path | None = None) -> Path:
    """A claim's record (in the reports folder `reports`, else this run's)."""
    return results_dir(tier, reports) / f"{claim}.json"


# what every reader of a record indexes without looking (build_record writes them all)
RECORD_FIELDS: dict[str, type] = {"claim": str, "tier": str, "verdict": str,
                                  "measurements": list}


def read_record(path: Path) -> dict[str, Any]:
    """A result record, checked to be one: valid JSON that is not (an emptied file, another
    tool's JSON) is one line naming the file, not a KeyError in whatever reads it next."""
    rec = read_json(path)
    missing = [k for k, kind in RECORD_FIELDS.items()
               if not isinstance(rec, dict) or not isinstance(rec.get(k), kind)]
    if missing:
        raise DataError(f"{path}: not a result record (no {', '.join(map(repr, missing))}); "
                        "delete it, or restore it, or rerun its claim")
    return rec


def build_record(result: ClaimResult, *, tier: str, paper: str, spec: dict[str, Any],
                 config_hash: str, env: dict[str, Any], started: float) -> dict[str, Any]:
    """The JSON-ready record of one claim run."""
    verdict = result.final_verdict()
    return json_safe({
        "schema": SCHEMA,
        "claim": result.claim,
        "paper": paper,
        "tier": tier,
        "verdict": str(verdict),
        "not_run_reason": result.not_run_reason,
        **spec,
        "measurements": [m.to_dict() for m in result.measurements],
        "notes": list(result.notes),
        "tables": result.tables,
        "figures": list(result.figures),
        "config": result.config,
        "config_hash": config_hash,
        "env": env,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(time.time() - started, 3),
    })


def write_record(record: dict[str, Any]) -> Path:
    """Write a record atomically; return its path. A claim's 'incomplete' marker goes: this
    record is newer."""
    path = record_path(record["tier"], record["claim"])
    atomic_write_json(path, record)
    incomplete_path(record["tier"], record["claim"]).unlink(missing_ok=True)
    return path


def incomplete_path(tier: str, claim: str, reports: Path | None = None) -> Path:
    """Where a claim test that stopped without a verdict (a budgeted run left stages) says
    so: a subfolder, so it is never read as a record."""
    return results_dir(tier, reports) / "incomplete" / f"{claim}.json"


def write_incomplete(tier: str, claim: str, why: str) -> None:
    """Mark a claim as stopped without a verdict in its latest run (the report says so
    instead of 'no record'); removed when a record is written."""
    atomic_write_json(incomplete_path(tier, claim),
                      {"claim": claim, "tier": tier, "why": why,
                       "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def locate(path: Path) -> tuple[str, str, str]:
    """(claim, tier, 'record' or 'marker') of a file laid out by record_path or
    incomplete_path (e.g. one that load_records could not read)."""
    path = Path(path)
    if path.parent.name == "incomplete":
        return path.stem, path.parent.parent.name, "marker"
    return path.stem, path.parent.name, "record"


# (file, one-line error) of each file `load_records` / `load_incomplete` could not read
Unreadable = list[tuple[Path, str]]


def read_marker(path: Path) -> dict[str, Any]:
    """An incomplete marker, checked to be one (one line naming the file otherwise)."""
    m = read_json(path)
    if not (isinstance(m, dict) and all(isinstance(m.get(k), str)
                                        for k in ("claim", "tier", "why"))):
        raise DataError(f"{path}: not an incomplete marker (no 'claim', 'tier' or 'why'); "
                        "delete it (the next run of its claim writes a record)")
    return m


def _read_all(paths: Sequence[Path], read: Callable[[Path], dict[str, Any]],
              unreadable: Unreadable | None) -> list[dict[str, Any]]:
    """read(path) for each path; with `unreadable` given, a file that cannot be read is
    noted there (its one-line error) and skipped instead of stopping everything."""
    out = []
    for p in paths:
        try:
            out.append(read(p))
        except DataError as exc:
            if unreadable is None:
                raise
            unreadable.append((p, str(exc)))
    return out


def load_incomplete(unreadable: Unreadable | None = None
                    ) -> dict[str, dict[str, dict[str, Any]]]:
    """The incomplete markers of every tier: {claim: {tier: marker}}; `unreadable`: see
    load_records."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    paths = sorted(results_dir("x").parent.glob("*/incomplete/*.json"))
    for m in _read_all(paths, read_marker, unreadable):
        out.setdefault(m["claim"], {})[m["tier"]] = m
    return out


def load_records(tier: str | None = None, unreadable: Unreadable | None = None
                 ) -> list[dict[str, Any]]:
    """All records (of one tier, or of every tier), sorted by tier then claim. With
    `unreadable` (a list), a record file that cannot be read is noted there and the rest are
    returned: one damaged file must not hide every other claim's verdict from the report."""
    base = results_dir("x").parent
    tiers = [tier] if tier else sorted(p.name for p in base.glob("*") if p.is_dir())
    paths = [p for t in tiers for p in sorted((base / t).glob("*.json"))]
    return _read_all(paths, read_record, unreadable)
