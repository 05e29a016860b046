"""REPORT.md section on NB201 latencies measured by `nasrepro nb201 measure-latency`, generated
from its records (<reports>/latency/<name>.json, and <table>.record.json beside a column
committed with the package)."""

from __future__ import annotations

from typing import Any

from nasrepro.progress import fmt_seconds

TOP_OVERALL = 3  # highest-rho HELP columns shown besides the comparable ones


def _one(rec: dict[str, Any]) -> list[str]:
    from nasrepro.report.markdown import table as md_table  # markdown imports this module

    spec, m = rec["spec"], rec["machine"]
    full = rec["coverage"] == rec["total"]
    cover = (f"all {rec['total']} cells" if full else
             f"{rec['coverage']} of {rec['total']} cells (partial: searches cannot use it; "
             f"the full table would take about {fmt_seconds(rec['estimated_full_s'])} at this "
             "run's pace)")
    # the comparable devices (e.g. HELP's CPUs for a CPU column) and the TOP_OVERALL highest
    # of all; every device's rho (and the per-network-min diagnostic) is in the record
    ranked = sorted(rec["spearman"].items(), key=lambda kv: -kv[1]["rho"])
    keep = {d for d, _ in ranked[:TOP_OVERALL]} | set(rec["comparable"])
    table = [[d + (" (comparable)" if d in rec["comparable"] else ""), f"{v['rho']:.3f}",
              f"{v['p']:.1e}", v["n"]] for d, v in ranked if d in keep]
    load = ("1-minute load average during the chunks: median "
            f"{rec['load_avg_1m']:.1f} on {m['cpu_count']} CPUs" if rec.get("load_avg_1m")
            is not None else "load average not recorded")
    size = (f"{rec['table_bytes'] / 1000:.0f} KB, "
            + ("within" if rec["table_bytes"] <= rec["budget_bytes"] else "over")
            + f" the {rec['budget_bytes'] / 1000:.0f} KB budget for a committed column")
    return [
        f"### `{rec['column']}`", "",
        f"Measured on {m['device_name']} ({m['machine_class']}, {m['cpu_count']} CPUs, "
        f"torch {m['torch']}, python {m['python']}, git {m['git_sha'][:12]}) from "
        f"{rec['started_at']} to {rec['finished_at']}: device {spec['device']}, batch "
        f"{spec['batch']}, {spec['threads']} torch thread(s), {spec['warmup']} warm-up and "
        f"{spec['repeats']} timed forward passes per network (median). Coverage: {cover}; "
        f"measuring time {fmt_seconds(rec['seconds'])} "
        f"({rec['seconds_per_network']:.3f} s per network); median latency "
        f"{rec['median_of_medians_ms']:.3f} ms, median IQR of the repeats "
        f"{rec['median_iqr_ms']:.3f} ms; {load}. Table `{rec['table']}` ({size}).", "",
        (f"Closest comparable HELP device by Spearman rank correlation on the cells both "
         f"have: **{rec['closest']}**, rho = {rec['closest_rho']:.3f} (n = {rec['coverage']}"
         f"); highest over all devices: {rec['closest_overall']}." if rec["closest"] else
         "Fewer than 3 cells measured: no rank correlation with HELP."), "",
        md_table(table, ["HELP device", "Spearman rho", "p", "cells"]), "",
        f"({len(table)} of {len(ranked)} HELP columns shown: the comparable ones and the "
        f"{TOP_OVERALL} highest; all in the record.)", ""]


def section(records: list[dict[str, Any]] | None = None) -> list[str]:
    """Markdown lines of the section (empty when nothing has been measured here)."""
    if records is None:
        from nasrepro.measure.latency_record import load_records

        records = load_records()
    if not records:
        return []
    lines = ["", "## NB201 latency measured with `nasrepro nb201 measure-latency`", "",
             "NB201 CIFAR-100 networks (nasrepro/models/nb201.py) timed on the machine named "
             "in each record (this reports folder's, then the columns committed with the "
             "package), and Spearman rank correlations with HELP's measured columns on the "
             "cells both have.", ""]
    for rec in records:
        lines += _one(rec)
    return lines
