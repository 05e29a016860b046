"""Accepted baselines: our own earlier run of a claim, per tier, compared on every run.

A baseline changes only by an explicit accept (`pytest --accept-baselines` or
`nasrepro baseline accept CLAIM`). A changed verdict or a measurement outside its band
is news a reviewer must see, never absorbed silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasrepro.errors import ConfigError
from nasrepro.files import atomic_write_json, read_json
from nasrepro.paths import reference_dir

# record fields that are not part of an accepted baseline's identity
_VOLATILE = ("finished_at", "duration_s")


def baseline_path(tier: str, claim: str) -> Path:
    return reference_dir() / "baselines" / tier / f"{claim}.json"


def load_baseline(tier: str, claim: str) -> dict[str, Any] | None:
    path = baseline_path(tier, claim)
    return read_json(path) if path.is_file() else None


def accept(record: dict[str, Any]) -> Path:
    """Store a record as the accepted baseline of its tier and claim."""
    base = {k: v for k, v in record.items() if k not in _VOLATILE}
    path = baseline_path(record["tier"], record["claim"])
    atomic_write_json(path, base)
    return path


def accept_from_results(claim: str, tier: str) -> Path:
    """Accept the latest record in reports/results/<tier> (the CLI's `baseline accept`)."""
    from nasrepro.claims.records import record_path

    src = record_path(tier, claim)
    if not src.is_file():
        raise ConfigError(f"no record for {claim} in tier {tier} at {src}; run the claim "
                          f"first (nasrepro run --tier {tier} --claim {claim})")
    return accept(read_json(src))


@dataclass
class Comparison:
    """Outcome of comparing a record with its accepted baseline."""

    status: str  # match | changed | missing | not-applicable
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("match", "not-applicable")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "problems": self.problems}


def compare(record: dict[str, Any], baseline: dict[str, Any] | None) -> Comparison:
    """Verdict must be equal; each banded measurement's center within its band."""
    if baseline is None:
        return Comparison("missing", [
            f"no accepted {record['tier']} baseline for {record['claim']}: review the record, "
            f"then accept it with `nasrepro baseline accept {record['claim']} --tier "
            f"{record['tier']}` or `pytest --accept-baselines`"])
    if baseline.get("config_hash") != record.get("config_hash"):
        return Comparison("not-applicable", [
            "the accepted baseline was run with another configuration (seeds, device or "
            "budget differ): regression check skipped"])
    problems = []
    if baseline["verdict"] != record["verdict"]:
        problems.append(f"verdict changed: accepted {baseline['verdict']}, "
                        f"now {record['verdict']}")
    base_m = {m["name"]: m for m in baseline.get("measurements", [])}
    for m in record.get("measurements", []):
        b = base_m.get(m["name"])
        if b is None:
            problems.append(f"measurement {m['name']!r} is new (not in the baseline)")
            continue
        if m.get("band") is None or m["center"] is None or b["center"] is None:
            continue
        if abs(m["center"] - b["center"]) > m["band"]:
            problems.append(f"{m['name']}: {m['center']:.6g} left the baseline band "
                            f"{b['center']:.6g} ± {m['band']:.3g}")
    missing = set(base_m) - {m["name"] for m in record.get("measurements", [])}
    problems.extend(f"measurement {n!r} disappeared" for n in sorted(missing))
    return Comparison("changed" if problems else "match", problems)

