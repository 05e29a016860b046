"""Render reports/REPORT.md from the result records (never re-running an experiment)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tabulate import tabulate

from nasrepro.claims.records import load_records
from nasrepro.claims.references import load_papers
from nasrepro.files import atomic_write_text
from nasrepro.paths import reports_dir
from nasrepro.report import sensitivity
from nasrepro.report.latency import section as latency_section

TIER_ORDER = {"smoke": 0, "full": 1}


def fmt(x: Any, digits: int = 6) -> str:
    """Compact number formatting for tables."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def fmt_ours(m: dict[str, Any]) -> str:
    """Ours: a single value, or median [q1, q3] (n seeds)."""
    s = m.get("spread")
    unit = f" {m['unit']}" if m.get("unit") else ""
    if s and s.get("n", 0) == 1:
        return f"{fmt(s['median'], 5)}{unit} (n=1, no spread)"
    if s:
        return (f"{fmt(s['median'], 5)}{unit} [IQR {fmt(s['q1'], 4)}–{fmt(s['q3'], 4)}, "
                f"n={s['n']}]")
    if m.get("center") is not None:
        return f"{fmt(m.get('center'))}{unit}"
    # no value: not run, or judged without one (e.g. a KM median not reached; see detail)
    return "not run" if m.get("verdict") in (None, "NOT RUN") else "no value (see detail)"


def _md(cell: Any) -> str:
    """A table cell with markdown's column separator escaped."""
    return str(cell).replace("|", "\\|").replace("\n", " ")


def _table(rows: list[list[Any]], headers: list[str]) -> str:
    return tabulate([[_md(c) for c in r] for r in rows], headers=[_md(h) for h in headers],
                    tablefmt="github", disable_numparse=True)


def _measurement_table(record: dict[str, Any]) -> str:
    rows = []
    for m in record["measurements"]:
        tol = m.get("tolerance")
        rows.append([m["name"], fmt(m.get("paper")), fmt_ours(m),
                     _describe(tol) if tol else "—", m.get("verdict") or "—",
                     m.get("detail", "")])
    return _table(rows, ["measurement", "paper", "ours", "tolerance", "verdict", "detail"])


def _describe(tol: dict[str, Any]) -> str:
    from nasrepro.claims.tolerances import Tolerance

    return Tolerance.from_dict(tol).describe()


def _rationales(record: dict[str, Any]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for m in record["measurements"]:
        tol = m.get("tolerance")
        if tol:
            seen.setdefault(_describe(tol), tol["rationale"])
    return list(seen.items())


def anchor(claim: str, tier: str) -> str:
    """The markdown anchor of a claim's section, e.g. 'reward-4-smoke'."""
    return f"{claim.lower()}-{tier}"


class _Once:
    """Paragraphs already printed in this paper: a repeat becomes a link to the first."""

    def __init__(self) -> None:
        self.first: dict[str, tuple[str, str]] = {}

    def text(self, para: str, claim: str, tier: str) -> str:
        key = para.strip()
        if key in self.first:
            c, t = self.first[key]
            return f"(as in [{c} ({t})](#{anchor(c, t)}))"
        self.first[key] = (claim, tier)
        return self.sentences(para, claim, tier)

    def sentences(self, para: str, claim: str, tier: str) -> str:
        """Drop long sentences this paper already showed (shared protocol text), linking to
        where they first appeared."""
        out, seen_in = [], set()
        for sent in re.split(r"(?<=[.;])\s+(?=[A-Z(])", para):
            key = "s:" + sent.strip()
            if len(sent) >= 80 and key in self.first:
                seen_in.add(self.first[key])
                continue
            if len(sent) >= 80:
                self.first[key] = (claim, tier)
            out.append(sent)
        links = ", ".join(f"[{c} ({t})](#{anchor(c, t)})" for c, t in sorted(seen_in))
        return " ".join(out) + (f" (shared protocol as in {links})" if links else "")


def _claim_section(record: dict[str, Any], once: _Once | None = None) -> list[str]:
    once = once or _Once()
    cid, tier = record["claim"], record["tier"]
    out = [f'<a id="{anchor(cid, tier)}"></a>', "",
           f"### {cid} — {record['verdict']} ({tier})", ""]
    out.append(f"**Claim.** {record.get('statement', '')}")
    if record.get("interpretation"):
        out.append("")
        out.append(f"**Interpretation.** {once.text(record['interpretation'], cid, tier)}")
    if record.get("not_run_reason"):
        out += ["", f"**Not run:** {record['not_run_reason']}"]
    base = record.get("baseline", {})
    status = base.get("status", "unknown")
    problems = base.get("problems") if status != "accepted" else None
    key = (f", machine class {record.get('env', {}).get('machine_class', '?')}"
           if record.get("hardware") == "dependent" else ", hardware-independent")
    out += ["", f"Baseline ({record['tier']}{key}): **{status}**"
            + (" — " + "; ".join(problems) if problems else "")]
    out += [f"- {line}" for line in base.get("info", [])]
    if record.get("overrides"):
        out += [f"- **User overrides {record['overrides']}: not compared with the accepted "
                "baseline.**"]
    if record["measurements"]:
        out += ["", _measurement_table(record)]
        out += ["", *[f"- Tolerance {k}: {once.text(v, cid, tier)}"
                      for k, v in _rationales(record)]]
    if record.get("notes"):
        out += ["", "Notes:", *[f"- {once.text(n, cid, tier)}" for n in record["notes"]]]
    for t in record.get("tables", []):
        out += ["", f"**{t['title']}**", "",
                _table(t["rows"], t["headers"])]
    for fig in record.get("figures", []):
        out += ["", f"![{record['claim']} figure]({fig})"]
    env = record.get("env", {})
    out += ["", f"<sub>{env.get('device_name', '?')} ({env.get('device', '?')}), torch "
            f"{env.get('torch', '?')}, git {env.get('git_sha', '?')[:12]}, "
            f"{record.get('duration_s', 0):.1f} s, {record.get('finished_at', '')}</sub>", ""]
    return out


def _seed_counts(record: dict[str, Any]) -> set[int]:
    """The seed counts behind a record's per-seed measurements (empty: none per seed)."""
    return {m["spread"]["n"] for m in record.get("measurements", []) if m.get("spread")}


def _mutation_section() -> list[str]:
    """The last `nasrepro mutants` run (reports/mutants.json), if there is one."""
    from nasrepro.files import read_json
    from nasrepro.mutants import committed_mutants_path, mutants_path

    path = mutants_path()
    where = "this reports folder"
    if not path.is_file():
        path, where = committed_mutants_path(), "the run committed in reference_results/"
    if not path.is_file():
        return ["", "## Mutation testing", "", "No mutation run yet: `nasrepro mutants` "
                "(nightly) applies the curated regressions and records which tests catch "
                "them."]
    data = read_json(path)
    s = data["summary"]
    pct = f"{s['score']:.0%}" if s["score"] is not None else "—"
    env = data.get("env", {})
    rows = [[m["name"], m["why"], m["status"], (m.get("caught_by") or [""])[0][:90],
             f"{m.get('seconds', 0):.0f}"] for m in data["mutants"]]
    return ["", "## Mutation testing", "",
            f"Mutation score **{s['killed']}/{s['judged']} = {pct}** ({where}: run "
            f"{data.get('finished_at', '?')}, git {env.get('git_sha', '?')[:12]}); "
            f"survivors: {', '.join(s['survivors']) or 'none'}; stale: "
            f"{', '.join(s['stale']) or 'none'}.", "",
            _table(rows, ["mutant", "regression", "status", "first failing test", "s"])]


def render(records: Iterable[dict[str, Any]]) -> str:
    """The whole report as markdown text."""
    records = sorted(records, key=lambda r: (TIER_ORDER.get(r["tier"], 9), r["claim"]))
    papers = load_papers()
    by_claim: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_claim.setdefault(r["claim"], []).append(r)
    lines = ["# nasrepro report", "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')} from "
             f"{len(records)} result record(s) in reports/results/. "
             "Verdicts: REPRODUCED, PARTIAL, NOT REPRODUCED, NOT RUN. Ours = our value, "
             "or the median with the inter-quartile range over seeds.", "",
             "Contents: [Summary](#summary) · [Mutation testing](#mutation-testing) · "
             + " · ".join(f"[{p.id}](#paper-{p.id.lower()})" for p in papers.values()), "",
             "## Summary", ""]
    summary = []
    for paper in papers.values():
        for cid, spec in paper.claims.items():
            recs = by_claim.get(cid)
            if not recs:
                state = "not implemented" if not spec.implemented else "no record"
                summary.append([cid, paper.id, "—", state, "—"])
            for r in recs or []:
                status = r.get("baseline", {}).get("status", "—")
                if r.get("overrides"):
                    status += f" (overrides {r['overrides']})"
                seeds = _seed_counts(r)
                flag = " (judged on 1 seed)" if seeds == {1} else ""
                summary.append([f"[{cid}](#{anchor(cid, r['tier'])})", paper.id, r["tier"],
                                r["verdict"] + flag, status])
    lines.append(tabulate(summary, headers=["claim", "paper", "tier", "verdict", "baseline"],
                          tablefmt="github"))
    lines += _mutation_section()
    lines += latency_section()
    lines += sensitivity.section(records)  # REWARD-SENS summary (extension)
    for paper in papers.values():
        once = _Once()
        lines += ["", f'<a id="paper-{paper.id.lower()}"></a>', "",
                  f"## {paper.id}: {paper.title}", "", f"*{paper.citation}*", ""]
        for cid, spec in paper.claims.items():
            recs = by_claim.get(cid)
            if not recs:
                lines += [f"### {cid} — not run", "", f"**Claim.** {spec.statement}", "",
                          "No record yet: " + ("not implemented." if not spec.implemented
                                               else f"run `nasrepro run --claim {cid}`."), ""]
                continue
            for r in recs:
                lines += _claim_section(r, once)
    return "\n".join(lines) + "\n"


def write_report(tier: str | None = None) -> Path:
    """Render REPORT.md from the records of `tier` (all tiers if None); return its path."""
    path = reports_dir() / "REPORT.md"
    atomic_write_text(path, render(load_records(tier)))
    return path
