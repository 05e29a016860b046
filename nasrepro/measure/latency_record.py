"""Finish a latency measurement: the column as a table, its comparison with HELP, a record.

`finish(spec)` collects the chunks of nasrepro/measure/nb201_latency.py, ranks the measured
cells against every HELP device of the shipped table (Spearman rho, scipy.stats.spearmanr,
on the cells both have), writes the measured table (nasrepro/data/nb201_measured.py) and
the record <reports>/latency/<name>.json, from which the report section
(nasrepro/report/latency.py) is generated.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from nasrepro.data import nb201, nb201_measured
from nasrepro.errors import DataError
from nasrepro.files import atomic_write_json, read_json
from nasrepro.measure import nb201_latency as lat

# HELP's CPU devices (batch 1) and GPU batch-256 columns: the comparable kind per device.
HELP_CPU = ("gold_6226", "gold_6240", "silver_4114", "silver_4210r")


def comparable(device: str) -> tuple[str, ...]:
    """The HELP columns measured like `device` is: CPU batch 1 or GPU batch 256."""
    if device == "cpu":
        return HELP_CPU
    return tuple(d for d in sorted(nb201.HELP_SHA256) if d.endswith("_256"))


def record_dir() -> Path:
    """<reports>/latency: one record per measured column."""
    from nasrepro.paths import reports_dir

    return reports_dir() / "latency"


def rank_correlations(median_ms: np.ndarray) -> dict[str, dict[str, float]]:
    """{HELP device: {'rho', 'p', 'n'}}: Spearman rank correlation of the measured cells
    (finite entries of median_ms [15625], by NB201 index) with each HELP column; empty
    under 3 cells (no rank correlation to speak of)."""
    table = nb201.load_table()
    ok = np.isfinite(median_ms)
    if ok.sum() < 3:
        return {}
    out = {}
    for dev in table.sources:
        res = stats.spearmanr(median_ms[ok], table.latency_ms(dev).numpy()[ok])
        out[dev] = {"rho": float(res.statistic), "p": float(res.pvalue), "n": int(ok.sum())}
    return out


def finish(spec: lat.LatencySpec, name: str | None = None, out: Path | None = None,
           work: Path | None = None) -> dict[str, Any]:
    """Write the measured table and the record of a spec's chunks; returns the record."""
    from nasrepro.measure.environment import fingerprint

    name = name or spec.default_name
    work = Path(work) if work is not None else lat.work_dir(spec)
    col = lat.column(work)
    med = col["median_ms"]
    n = int(np.isfinite(med).sum())
    if not n:
        raise DataError(f"{work}: no measured chunks; run `nasrepro nb201 measure-latency "
                        f"--device {spec.device}` first")
    rho = rank_correlations(med)
    kind = comparable(spec.device)
    closest = max(kind, key=lambda d: rho[d]["rho"]) if rho else None
    meta = read_json(work / "meta.json")
    seconds = float(col["seconds"])
    provenance = {
        "measured": {"key": meta["key"], "machine": meta["fingerprint"],
                     "finished_with": fingerprint(spec.device),
                     "started_at": meta["started_at"], "finished_at": _now(),
                     "spec": asdict(spec), "seconds": seconds,
                     "method": "warm-up passes, then the median of the timed forward passes "
                               "(ms); eval mode, torch.inference_mode, torch threads pinned, "
                               "device synchronised around each pass",
                     "coverage": n}}
    path, digest = nb201_measured.write_measured_table(name, med, provenance, out)
    record = {
        "name": name, "column": nb201.LAT_PREFIX + name, "table": str(path),
        "table_sha256": digest, "table_bytes": path.stat().st_size,
        "budget_bytes": nb201_measured.MEASURED_BUDGET_BYTES,
        "coverage": n, "total": lat.N_ARCHS, "spec": asdict(spec), "work": str(work),
        "machine": meta["fingerprint"], "started_at": meta["started_at"],
        "finished_at": provenance["measured"]["finished_at"],
        "seconds": seconds, "seconds_per_network": seconds / n,
        "estimated_full_s": seconds / n * lat.N_ARCHS,
        "median_of_medians_ms": float(np.nanmedian(med)),
        "median_iqr_ms": float(np.nanmedian(col["iqr_ms"])),
        "load_avg_1m": (None if np.isnan(col["load_avg_1m"]) else
                        float(col["load_avg_1m"])),
        "spearman": rho, "comparable": list(kind), "closest": closest,
        "spearman_min": rank_correlations(col["min_ms"]),
        "closest_rho": rho[closest]["rho"] if closest else None,
        "closest_overall": max(rho, key=lambda d: rho[d]["rho"]) if rho else None,
    }
    atomic_write_json(record_dir() / f"{name}.json", record)
    # beside the table too: a column committed with the package keeps its record (report)
    atomic_write_json(record_beside(path), record)
    return record


def record_beside(table: Path) -> Path:
    """The copy of a measured table's record kept next to it (<table stem>.record.json)."""
    return table.with_name(table.stem + ".record.json")


def load_records() -> list[dict[str, Any]]:
    """Every latency record of this reports folder, then those of the measured columns
    committed with the package (nasrepro/data/tables/) not measured here; sorted by name."""
    folder = record_dir()
    found = {p.stem: p for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    for name, table in nb201_measured.committed_tables().items():
        beside = record_beside(table)
        if name not in found and beside.is_file():
            found[name] = beside
    return [read_json(found[k]) for k in sorted(found)]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
