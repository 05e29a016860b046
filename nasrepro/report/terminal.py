"""The verdicts block that ends every pytest run: one line per record, then the notes a reader
needs, each said once (a new machine class or a CPU-only full tier would otherwise repeat
the same 250-450 characters for up to 16 claims)."""

from __future__ import annotations

from typing import Any

from nasrepro.claims.baselines import (
    MIXED_CLASS_NOTE,
    baseline_key,
    class_option,
    is_mixed_class,
    record_command,
)
from nasrepro.report.markdown import rows_met, verdict_counts

NO_BASELINE = "no-baseline-for-class"


def info_lines(records: list[dict[str, Any]]) -> list[list[str]]:
    """Each record's baseline notes, a note already printed for an earlier claim shortened to
    'as CLAIM'; the no-baseline note is left to `no_baseline_line`."""
    first_seen: dict[str, str] = {}
    out = []
    for r in records:
        lines = []
        if r["baseline"]["status"] != NO_BASELINE:
            for line in r["baseline"].get("info", []):
                if line in first_seen:
                    head = line.split(":")[0] if line.startswith("NOT RUN:") else "same note"
                    lines.append(f"{head}: as {first_seen[line]}")
                else:
                    first_seen[line] = r["claim"]
                    lines.append(line)
        out.append(lines)
    return out


def _record_command(records: list[dict[str, Any]], option: str = "") -> str:
    """`nasrepro baseline record` for the papers of these records (first tier's)."""
    tier = min(r["tier"] for r in records)
    return record_command(tier, dict.fromkeys(r["claim"].split("-")[0] for r in records),
                          option)


def emulated_timing_line(records: list[dict[str, Any]]) -> str | None:
    """One line for the timing claims whose class baselines were recorded by emulating its
    code path on another CPU: times are not gated there (the command that would gate them
    must run on a real machine of the class, not here)."""
    emulated = [r for r in records if r["baseline"].get("emulated_only")]
    if not emulated:
        return None
    classes = sorted({str(baseline_key(r)) for r in emulated})
    return (f"{len(emulated)} timing claim(s) judged but not regression-checked: the "
            f"baselines of machine class {', '.join(classes)} were recorded by emulating its "
            f"CPU code path, and times depend on the real microarchitecture "
            f"({', '.join(r['claim'] for r in emulated)}). On a real machine of that class, "
            f"record them with `{_record_command(emulated)}`.")


def no_baseline_line(records: list[dict[str, Any]]) -> str | None:
    """One line for every claim judged without a baseline for this machine class: which, and
    the one command that records them all."""
    unkeyed = [r for r in records if r["baseline"]["status"] == NO_BASELINE
               and not r["baseline"].get("emulated_only")]
    if not unkeyed:
        return None
    classes = sorted({str(baseline_key(r)) for r in unkeyed})
    claims = ", ".join(r["claim"] for r in unkeyed)
    options = {class_option(r) for r in unkeyed}  # an emulated class: its --class
    how = (MIXED_CLASS_NOTE[0].upper() + MIXED_CLASS_NOTE[1:]
           if any(is_mixed_class(r) for r in unkeyed) else
           f"Once their records are reviewed, record baselines with "
           f"`{_record_command(unkeyed, options.pop() if len(options) == 1 else '')}`")
    return (f"{len(unkeyed)} hardware-dependent claim(s) judged but not regression-checked: no "
            f"baseline for machine class {', '.join(classes)} ({claims}). {how}.")


def verdict_lines(records: list[dict[str, Any]]) -> list[str]:
    """The whole verdicts block: per record its verdict, rows met and baseline status."""
    out = []
    for r, info in zip(records, info_lines(records), strict=True):
        met = rows_met(r)
        rows = f"{met} rows met" if met != "—" else ""
        out.append(f"{r['claim']:<11} [{r['tier']}] {r['verdict']:<15} {rows:<18} "
                   f"baseline: {r['baseline']['status']}")
        out += [f"{'':<10}   {line}" for line in info]
    if len(records) > 1:  # the counts per tier, as REPORT.md's summary opens with
        out += verdict_counts(records)
    return [*out, *(line for line in (emulated_timing_line(records), no_baseline_line(records))
                    if line)]
