"""Equality of two runs' OPSUB records: every measurement (name, value, verdict, ...) and the
record verdicts; environment, timestamps and notes (which carry run times) are ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nasrepro.files import read_json


def _essential(record: dict[str, Any]) -> dict[str, Any]:
    return {"verdict": record.get("verdict"),
            "measurements": {m["name"]: m for m in record.get("measurements", [])}}


def record_differences(a: Path, b: Path, prefix: str = "OPSUB-") -> list[str]:
    """Differences between the `prefix`*.json records of two results folders (e.g.
    reports/results/smoke); a record present in only one is a difference; none on either
    side is one too (nothing was compared)."""
    names_a = {p.name for p in Path(a).glob(f"{prefix}*.json")}
    names_b = {p.name for p in Path(b).glob(f"{prefix}*.json")}
    if not names_a and not names_b:
        return [f"no {prefix}*.json record in {a} or {b}"]
    out = [f"{n}: only in {a if n in names_a else b}" for n in sorted(names_a ^ names_b)]
    for n in sorted(names_a & names_b):
        ra = _essential(read_json(Path(a) / n))
        rb = _essential(read_json(Path(b) / n))
        if ra["verdict"] != rb["verdict"]:
            out.append(f"{n}: verdict {ra['verdict']} vs {rb['verdict']}")
        ma, mb = ra["measurements"], rb["measurements"]
        for k in sorted(set(ma) | set(mb)):
            if ma.get(k) != mb.get(k):
                va, vb = (m[k].get("ours") if k in m else "absent" for m in (ma, mb))
                what = f"{va} vs {vb}" if va != vb else "same value, other fields differ"
                out.append(f"{n}: {k}: {what}")
    return out
