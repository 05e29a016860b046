"""REWARD-SENS in the report: the per-cell table format of its record, the paragraph on
where the paper's REWARD-4 numbers appear, and a summary section for REPORT.md.

Everything here reads the record's per-cell table (CELL_TABLE), never an experiment: the
paragraph and the heatmaps are regenerated from records alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nasrepro.claims.references import claim_spec
from nasrepro.claims.tolerances import Tolerance

CLAIM = "REWARD-SENS"
CELL_TABLE = "Sensitivity map, per cell"
CELL_HEADERS = [
    "setting", "source", "T", "T (ms)", "quantile of T", "P(proposed sooner)", "log-rank p",
    "KM median settle, proposed", "KM median settle, MnasNet", "settled, proposed",
    "settled, MnasNet", "speed-up (m-p)/m", "count [50,60) proposed",
    "count [50,60) MnasNet", "count [60,70) proposed", "count [60,70) MnasNet",
    "paper REWARD-4 met", "seeds", "lat block 1 (ms)", "lat block 20 proposed (ms)",
    "lat block 20 MnasNet (ms)"]
SETTING_TABLE = "Per controller setting: where each reward settles sooner"
SETTING_HEADERS = [
    "setting", "cells", "proposed sooner (P > 0.5, log-rank p ≤ 0.05)",
    "MnasNet sooner (log-rank p ≥ 0.95)", "P(proposed sooner): min–max (median)",
    "first block above T (a start like the paper's curves)"]
ALPHA = 0.05  # the significance level of REWARD-4's 'sooner' tolerance
LIST_MAX = 12  # cells named in the paragraph; the rest are in the per-cell table


def cell_rows(stats: dict[str, list[dict[str, Any]]]) -> list[list[Any]]:
    """Rows of CELL_TABLE from reward_sensitivity.map_stats (None = KM median not reached)."""
    rows = []
    for setting, cells in stats.items():
        for c in cells:
            n = c["seeds"]
            rows.append([
                setting, c["source"], c["label"], round(c["target_ms"], 3),
                round(c["quantile"], 3), round(c["p_sooner"], 4), float(f"{c['logrank_p']:.3g}"),
                c["median"]["proposed"], c["median"]["mnasnet"],
                f"{c['settled']['proposed']}/{n}", f"{c['settled']['mnasnet']}/{n}",
                None if c["speedup"] is None else round(c["speedup"], 4),
                c["counts"]["proposed"][0], c["counts"]["mnasnet"][0],
                c["counts"]["proposed"][1], c["counts"]["mnasnet"][1],
                bool(c["paper_met"]), n, round(c["lat_first"], 3),
                round(c["lat_last"]["proposed"], 3), round(c["lat_last"]["mnasnet"], 3)])
    return rows


def cells_from_record(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's per-cell table as dicts keyed by CELL_HEADERS."""
    for t in record.get("tables", []):
        if t["title"].startswith(CELL_TABLE):
            return [dict(zip(t["headers"], r, strict=True)) for r in t["rows"]]
    raise ValueError(f"{record.get('claim')}: record has no table {CELL_TABLE!r}")


@dataclass(frozen=True)
class PaperTargets:
    """REWARD-4's paper numbers and tolerances, read from its reference (one source for the
    paragraph, the legend and the claim's detail, so none goes stale when the reference
    changes)."""

    proposed: float
    mnasnet: float
    settle: Tolerance
    speedup_value: float
    speedup: Tolerance

    def text(self) -> str:
        """'KM median settling 4000 / 4750 within ±750 (abs) and speed-up 15.8% within
        ±0.1 (abs)'."""
        return (f"KM median settling {self.proposed:g} / {self.mnasnet:g} within "
                f"{self.settle.describe()} and speed-up {self.speedup_value:.1%} within "
                f"{self.speedup.describe()}")

    def short(self) -> str:
        """'4000/4750, 15.8%' (a figure legend)."""
        return f"{self.proposed:g}/{self.mnasnet:g}, {self.speedup_value:.1%}"

    def met(self, proposed: float | None, mnasnet: float | None,
            speedup: float | None) -> bool:
        """Both KM medians and the speed-up within REWARD-4's tolerances of the paper's (a
        median not reached never meets them)."""
        return (proposed is not None and mnasnet is not None
                and self.settle.check(proposed, self.proposed)[0].value == "REPRODUCED"
                and self.settle.check(mnasnet, self.mnasnet)[0].value == "REPRODUCED"
                and self.speedup_met(speedup))

    def speedup_met(self, speedup: float | None) -> bool:
        """The speed-up alone is within REWARD-4's speedup tolerance of the paper's."""
        return (speedup is not None
                and self.speedup.check(speedup, self.speedup_value)[0].value == "REPRODUCED")

    def distance(self, c: dict[str, Any]) -> float:
        """How far a cell's two KM medians are from the paper's (the larger gap)."""
        return max(abs(c["KM median settle, proposed"] - self.proposed),
                   abs(c["KM median settle, MnasNet"] - self.mnasnet))


def paper_targets() -> PaperTargets:
    """REWARD-4's settling samples, speed-up and their tolerances from its reference."""
    spec = claim_spec("REWARD-4")
    return PaperTargets(spec.value("settle/proposed").value, spec.value("settle/mnasnet").value,
                        spec.tolerance("settle"), spec.value("speedup").value,
                        spec.tolerance("speedup"))


def _where(c: dict[str, Any]) -> str:
    return f"{c['source']} at T = {c['T']} ({c['T (ms)']:g} ms), {c['setting']}"


def setting_rows(cells: list[dict[str, Any]]) -> list[list[Any]]:
    """Rows of SETTING_TABLE: per controller setting, in how many cells each reward settles
    significantly sooner, the spread of P(proposed sooner), and how many cells start above T
    (as the paper's curves do)."""
    rows = []
    for setting in dict.fromkeys(c["setting"] for c in cells):
        sc = [c for c in cells if c["setting"] == setting]
        sig = sum(c["P(proposed sooner)"] > 0.5 and c["log-rank p"] <= ALPHA for c in sc)
        rev = sum(c["P(proposed sooner)"] < 0.5 and c["log-rank p"] > 1 - ALPHA for c in sc)
        ps = sorted(c["P(proposed sooner)"] for c in sc)
        above = sum(c["lat block 1 (ms)"] > c["T (ms)"] for c in sc)
        rows.append([setting, len(sc), sig, rev,
                     f"{ps[0]:.2f}–{ps[-1]:.2f} ({ps[len(ps) // 2]:.2f})", above])
    return rows


def region_paragraph(cells: list[dict[str, Any]], paper_cell: tuple[str, str, str]) -> str:
    """Where the paper's 4000 / 4750 and 15.8 % appear in the map, and the cell of REWARD-4/5
    (paper_cell = (setting, source, T label)); where the direction 'proposed settles sooner'
    holds per setting is SETTING_TABLE."""
    met = [c for c in cells if c["paper REWARD-4 met"]]
    paper = paper_targets()
    out = []
    if met:
        out.append(f"The paper's REWARD-4 numbers ({paper.text()}) are met in {len(met)} of "
                   f"{len(cells)} cells: " + "; ".join(
                       f"{_where(c)} (medians {c['KM median settle, proposed']:g} / "
                       f"{c['KM median settle, MnasNet']:g}, speed-up "
                       f"{c['speed-up (m-p)/m']:.1%})" for c in met[:LIST_MAX])
                   + (f"; and {len(met) - LIST_MAX} more (the per-cell table)"
                      if len(met) > LIST_MAX else "") + ".")
    else:
        both = [c for c in cells if c["KM median settle, proposed"] is not None
                and c["KM median settle, MnasNet"] is not None]
        out.append(f"The paper's REWARD-4 numbers ({paper.text()}) are met in none of the "
                   f"{len(cells)} cells; both rewards' KM medians are reached in {len(both)} "
                   "of them")
        if both:
            near = sorted(both, key=paper.distance)
            out[-1] += ("; the closest: " + "; ".join(
                f"{_where(c)} (medians {c['KM median settle, proposed']:g} / "
                f"{c['KM median settle, MnasNet']:g})" for c in near[:3]))
        out[-1] += "."
    speed = [c for c in cells
             if paper.speedup_met(c["speed-up (m-p)/m"]) and not c["paper REWARD-4 met"]]
    if speed:
        out.append(f"A speed-up within {paper.speedup_value:.1%} {paper.speedup.describe()} "
                   f"without the paper's settling samples: {len(speed)} cells.")
    pc = [c for c in cells if (c["setting"], c["source"], c["T"]) == paper_cell]
    if pc:
        c = pc[0]
        fmt = lambda v: "not reached" if v is None else f"{v:g}"  # noqa: E731
        out.append(f"At REWARD-4/5's setting ({_where(c)}): P(proposed sooner) = "
                   f"{c['P(proposed sooner)']:.2f} (log-rank p = {c['log-rank p']:.3g}), KM "
                   f"median settling proposed {fmt(c['KM median settle, proposed'])}, MnasNet "
                   f"{fmt(c['KM median settle, MnasNet'])} ({c['seeds']} seeds per reward).")
    return " ".join(out)


def section(records: Iterable[dict[str, Any]]) -> list[str]:
    """A short REPORT.md section per REWARD-SENS record: the paragraph and the per-setting
    table, linking to the full record (heatmaps, every cell) in the REWARD paper's section."""
    from nasrepro.report.markdown import table  # markdown imports this module

    out: list[str] = []
    for r in records:
        if r.get("claim") != CLAIM or r.get("verdict") == "NOT RUN":
            continue
        out += ["", f"## REWARD sensitivity map ({r['tier']})", "",
                "Extension, not a claim of the paper; details and every cell: "
                f"[{CLAIM}](#{CLAIM.lower()}-{r['tier']}).", ""]
        out += [n for n in r.get("notes", []) if n.startswith("Where the paper")]
        try:  # from the per-cell table, so records written before SETTING_TABLE show it too
            out += ["", table(setting_rows(cells_from_record(r)), SETTING_HEADERS)]
        except ValueError:
            pass
        # the heatmaps are shown once, in the claim's own section (linked above)
    return out
