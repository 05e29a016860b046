"""Render reports/REPORT.md from the result records (never re-running an experiment).

One function per section (header, summary, paper, claim and its parts), so a new section is
one more function called from `render`; the sections over other records live beside it
(`mutation.py`, `latency.py`, `sensitivity.py`), the terminal block in `terminal.py`. Large
record tables go to a per-paper appendix (reports/appendix/<PAPER>.md), written from the same
records by `write_report`, and the claim links to them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nasrepro.claims.records import Unreadable, load_incomplete, load_records, locate
from nasrepro.claims.references import load_papers
from nasrepro.claims.session import TIERS
from nasrepro.claims.verdicts import Verdict
from nasrepro.files import atomic_write_text
from nasrepro.paths import REPORTS_ENV, reports_dir
from nasrepro.report import mutation, sensitivity
from nasrepro.report.latency import section as latency_section

TIER_ORDER = {"smoke": 0, "full": 1}
# What goes to the paper's appendix instead of the report (sizes in characters of
# markdown): a record table longer than INLINE_TABLE_CHARS, a claim's notes when together
# longer than INLINE_NOTES_CHARS, and an interpretation beyond its first sentences up to
# INTERPRETATION_CHARS (the full text is in the appendix).
INLINE_TABLE_CHARS = 500
INLINE_NOTES_CHARS = 600
INTERPRETATION_CHARS = 300
RATIONALE_CHARS = 200
DETAIL_CHARS = 160  # a measurement's detail cell: its leading clauses (the appendix has all)
APPENDIX_DIR = "appendix"


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
        odd = [v for v in m.get("ours") or [] if isinstance(v, str)]  # records.json_safe
        odd_s = f", {len(odd)} of them {'/'.join(sorted(set(odd)))}" if odd else ""
        return (f"{fmt(s['median'], 5)}{unit} [IQR {fmt(s['q1'], 4)}–{fmt(s['q3'], 4)}, "
                f"n={s['n']}{odd_s}]")
    if m.get("center") is not None:
        return f"{fmt(m.get('center'))}{unit}"
    # no value: not run, or judged without one (e.g. a KM median not reached)
    return "not run" if m.get("verdict") in (None, "NOT RUN") else no_value_text(m)


def first_clause(text: str) -> str:
    """Text up to its first ';', where this project's details and reasons put the gist."""
    return text.split(";")[0].strip()


def no_value_text(m: dict[str, Any]) -> str:
    """What a judged measurement without a value found: its detail's first clause (e.g.
    'Kaplan-Meier median: not reached within 5000 (21/50 by 5000)'), else 'no value'."""
    return _short_name(first_clause(m.get("detail", "")), 70) or "no value"


def fmt_paper(m: dict[str, Any]) -> str:
    """The paper column: the paper's own number, or '—' when it prints none (a claim's
    threshold is shown in the tolerance column instead)."""
    return fmt(m.get("paper"))


def _md(cell: Any) -> str:
    """A table cell with markdown's column separator escaped; None (no value) as '—'."""
    if cell is None:
        return "—"
    return str(cell).replace("|", "\\|").replace("\n", " ")


def table(rows: list[list[Any]], headers: list[str]) -> str:
    """A compact GitHub markdown table (no column padding: padding doubled the report)."""
    lines = ["| " + " | ".join(_md(h) for h in headers) + " |",
             "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


_table = table  # the name other report modules used


def _describe(tol: dict[str, Any], threshold: float | None = None) -> str:
    from nasrepro.claims.tolerances import Tolerance

    ref = "paper" if threshold is None else f"threshold {fmt(threshold)}"
    return Tolerance.from_dict(tol).describe(ref)


def _tolerance_cell(m: dict[str, Any]) -> str:
    tol = m.get("tolerance")
    return _describe(tol, m.get("threshold")) if tol else "—"


def measurement_rows(record: dict[str, Any]) -> list[list[str]]:
    """The measurement table's rows: name, paper, ours, tolerance, verdict, detail."""
    return [[m["name"], fmt_paper(m), fmt_ours(m), _tolerance_cell(m),
             m.get("verdict") or "—", shown_detail(m)] for m in record["measurements"]]


def shown_detail(m: dict[str, Any]) -> str:
    """A measurement's detail without a leading repeat of its ours cell (a judged
    measurement without a value shows its detail's first clause there already)."""
    detail, ours = m.get("detail", ""), fmt_ours(m)
    if ours and detail.startswith(ours) and detail[len(ours):len(ours) + 1] in ("", ":", ";"):
        return detail[len(ours):].lstrip(":; ")
    return detail


MEASUREMENT_HEADERS = ["measurement", "paper", "ours", "tolerance", "verdict", "detail"]


def _rationales(record: dict[str, Any]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for m in record["measurements"]:
        tol = m.get("tolerance")
        if tol:
            seen.setdefault(_describe(tol, m.get("threshold")), tol["rationale"])
    return list(seen.items())


def anchor(claim: str, tier: str) -> str:
    """The markdown anchor of a claim's section, e.g. 'reward-4-smoke'."""
    return f"{claim.lower()}-{tier}"


def _link(claim: str, tier: str, prefix: str = "") -> str:
    return f"[{claim} ({tier})]({prefix}#{anchor(claim, tier)})"


class _Once:
    """Paragraphs already printed in this paper: a repeat becomes a link to the first."""

    def __init__(self, prefix: str = "") -> None:
        self.first: dict[str, tuple[str, str]] = {}
        self.prefix = prefix  # where the linked claims are: "" (this file) or a path

    def text(self, para: str, claim: str, tier: str) -> str:
        """`para` without what this paper already showed, links to where it did."""
        body, links = self.parts(para, claim, tier)
        return " ".join(x for x in (body, links) if x)

    def parts(self, para: str, claim: str, tier: str) -> tuple[str, str]:
        """(the new text of `para`, the link to what was shown before): a repeated paragraph
        is all link; long sentences this paper already showed (shared protocol text) are
        dropped and linked to where they first appeared."""
        key = para.strip()
        if key in self.first:
            return "", f"(as in {_link(*self.first[key], self.prefix)})"
        self.first[key] = (claim, tier)
        out, seen_in = [], set()
        for sent in re.split(r"(?<=[.;])\s+(?=[A-Z(])", para):
            key = "s:" + sent.strip()
            if len(sent) >= 80 and key in self.first:
                seen_in.add(self.first[key])
                continue
            if len(sent) >= 80:
                self.first[key] = (claim, tier)
            out.append(sent)
        links = ", ".join(_link(c, t, self.prefix) for c, t in sorted(seen_in))
        return " ".join(out), (f"(shared protocol as in {links})" if links else "")


def is_inline(t: dict[str, Any]) -> bool:
    """Whether a record table is short enough for the report (else: the appendix)."""
    return len(table(t["rows"], t["headers"])) <= INLINE_TABLE_CHARS


def notes_inline(record: dict[str, Any]) -> bool:
    """Whether a claim's notes are short enough for the report (else: the appendix)."""
    return sum(len(n) for n in record.get("notes", [])) <= INLINE_NOTES_CHARS


def leading_sentences(text: str, limit: int) -> str:
    """The leading whole sentences of `text` within `limit` characters (at least the first
    sentence); the text itself when it fits."""
    if len(text) <= limit:
        return text
    out = ""
    for sent in re.split(r"(?<=[.;:])\s+(?=[A-Z(])", text):
        if out and len(out) + len(sent) + 1 > limit:
            break
        out = f"{out} {sent}".strip()
    return out


def short_detail(text: str) -> str:
    """A measurement's detail as the report's table shows it: the leading '; '-separated
    clauses within DETAIL_CHARS, then '…' (the appendix has the whole text)."""
    if len(text) <= DETAIL_CHARS:
        return text
    out = ""
    for clause in text.split("; "):
        if len(out) + len(clause) + 2 > DETAIL_CHARS:
            break
        out = f"{out}; {clause}" if out else clause
    return (out or text[:DETAIL_CHARS].rsplit(" ", 1)[0]) + " …"


def _details_cut(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in record["measurements"]
            if short_detail(shown := shown_detail(m)) != shown]


def short_interpretation(text: str) -> str:
    """An interpretation as the report shows it (the appendix has the rest)."""
    return leading_sentences(text, INTERPRETATION_CHARS)


def _rationales_cut(record: dict[str, Any]) -> bool:
    return any(leading_sentences(v, RATIONALE_CHARS) != v for _, v in _rationales(record))


def appendix_path(paper: str) -> str:
    """The appendix of a paper, relative to reports/ (as REPORT.md links it)."""
    return f"{APPENDIX_DIR}/{paper}.md"


def _more_anchor(record: dict[str, Any]) -> str:
    return f"{anchor(record['claim'], record['tier'])}-more"


def _more_link(record: dict[str, Any], what: str) -> str:
    return f"[{what}]({appendix_path(record['paper'])}#{_more_anchor(record)})"


# ------------------------------------------------------------------- claim section parts


def _claim_head(record: dict[str, Any], once: _Once, interp: _Once) -> list[str]:
    cid, tier = record["claim"], record["tier"]
    para = f"**Claim.** {record.get('statement', '')}"
    text = record.get("interpretation", "")
    if text:
        body, links = interp.parts(text, cid, tier)  # shared protocol: linked, not repeated
        short = short_interpretation(body)
        more = f"… {_more_link(record, 'full interpretation')}" if short != body else ""
        para += "\n**Interpretation.** " + " ".join(x for x in (short, links, more) if x)
    out = [f'<a id="{anchor(cid, tier)}"></a>', "",
           f"### {cid} — {record['verdict']} ({tier}; baseline {_baseline_status(record)})",
           "", para]
    if record.get("not_run_reason"):
        out += ["", f"**Not run ({cid}):** {once.text(record['not_run_reason'], cid, tier)}"]
    return out


def _baseline_status(record: dict[str, Any]) -> str:
    return record.get("baseline", {}).get("status", "unknown")


def _baseline_lines(record: dict[str, Any]) -> list[str]:
    """What the regression comparison found beyond its status (shown in the heading)."""
    base = record.get("baseline", {})
    problems = base.get("problems") if _baseline_status(record) != "accepted" else None
    out = [f"- {line}" for line in [*(problems or []), *base.get("info", [])]]
    if record.get("overrides"):
        out += [f"- **User overrides {record['overrides']}: not compared with the accepted "
                "baseline.**"]
    return ["", f"Baseline comparison of {record['claim']}:", *out] if out else []


def factor_columns(rows: list[list[str]], headers: list[str],
                   factorable: tuple[str, ...] = ("tolerance", "detail")
                   ) -> tuple[list[list[str]], list[str], list[str]]:
    """Columns named in `factorable` holding one value in every row of a table of 3+ rows,
    and a bracketed suffix shared by every first-column name, stated once instead:
    returns (rows, headers, ['header value', ...]). The paper, ours and verdict columns
    always stay."""
    if len(rows) < 3:
        return rows, headers, []
    common = []
    suffix = re.search(r" \[[^\[\]]*\]$", rows[0][0])
    if suffix and all(r[0].endswith(suffix.group()) for r in rows):
        rows = [[r[0][: -len(suffix.group())], *r[1:]] for r in rows]
        common.append(f"{headers[0]}s on {suffix.group().strip()[1:-1]}")
    same = [j for j, h in enumerate(headers)
            if h in factorable and len({r[j] for r in rows}) == 1]
    common += [f"{headers[j]} " + ("none" if rows[0][j] == "—" else f"“{rows[0][j]}”"
                                   if headers[j] == "detail" else rows[0][j]) for j in same]
    keepj = [j for j in range(len(headers)) if j not in same]
    return [[r[j] for j in keepj] for r in rows], [headers[j] for j in keepj], common


def measurements_in_appendix(record: dict[str, Any]) -> bool:
    """A claim not run at this scale (OPSUB's smoke tier): its measurements have no paper
    verdict and gate regressions only, so the report links them instead of showing them
    (they read like results, and were a fifth of the report)."""
    return record.get("verdict") == "NOT RUN" and bool(record.get("measurements"))


def _measurement_block(record: dict[str, Any], once: _Once) -> list[str]:
    if not record["measurements"]:
        return []
    if measurements_in_appendix(record):
        n = len(record["measurements"])
        return ["", f"{n} measurement{'s' * (n != 1)} at this scale, no paper verdict, each "
                f"compared with the accepted baseline only: "
                f"{_more_link(record, 'table and tolerances in the appendix')}."]
    cid, tier = record["claim"], record["tier"]
    rows = [[*r[:-1], short_detail(r[-1])] for r in measurement_rows(record)]
    rows, headers, common = factor_columns(rows, MEASUREMENT_HEADERS)
    out = ["", table(rows, headers)]
    if common:
        out += ["", f"Same in every row of {cid}: " + "; ".join(common) + "."]
    if _details_cut(record):
        out += ["", f"Details cut at '…': {_more_link(record, 'in full in the appendix')}."]
    lines = []
    for k, v in _rationales(record):
        short = leading_sentences(v, RATIONALE_CHARS)
        more = f" … {_more_link(record, 'full rationale')}" if short != v else ""
        lines.append(f"- {k}: {once.text(short, cid, tier)}{more}")
    return [*out, "", f"Tolerances ({cid}):", *lines] if lines else out


def _notes_block(record: dict[str, Any], once: _Once) -> list[str]:
    if not record.get("notes") or not notes_inline(record):
        return []
    cid, tier = record["claim"], record["tier"]
    return ["", f"Notes ({cid}):", *[f"- {once.text(n, cid, tier)}" for n in record["notes"]]]


def _tables_block(record: dict[str, Any]) -> list[str]:
    out, moved = [], []
    if record.get("notes") and not notes_inline(record):
        moved.append(f"notes ({len(record['notes'])})")
    for t in record.get("tables", []):
        if is_inline(t):
            out += ["", f"**{t['title']}**", "", table(t["rows"], t["headers"])]
        else:
            moved.append(f"table '{t['title'][:60].rstrip()}{'…' if len(t['title']) > 60 else ''}"
                         f"' ({len(t['rows'])} rows)")
    if moved:
        out += ["", f"More on {record['claim']} in the {_more_link(record, 'appendix')}: "
                + "; ".join(moved) + "."]
    return out


def figure_alt(record: dict[str, Any], fig: str) -> str:
    """Alt text of a figure: the claim and the figure's name without its tier suffix, e.g.
    'REWARD-4: reward fig7 silver 4210r' for figures/reward_fig7_silver_4210r_smoke.png."""
    stem = Path(fig).stem.removesuffix(f"_{record['tier']}")
    return f"{record['claim']}: {stem.replace('_', ' ')}"


def _figures_block(record: dict[str, Any]) -> list[str]:
    return [line for fig in record.get("figures", [])
            for line in ("", f"![{figure_alt(record, fig)}]({fig})")]


def machine(record: dict[str, Any]) -> str:
    """Where a record ran: device name and kind, torch version."""
    env = record.get("env", {})
    return (f"{env.get('device_name', '?')} ({env.get('device', '?')}), torch "
            f"{env.get('torch', '?')}")


def _env_line(record: dict[str, Any], one_machine: bool = False) -> list[str]:
    """The record's footer: git, duration, finish time (and the machine unless the header
    names the one machine every record ran on)."""
    env = record.get("env", {})
    where = "" if one_machine else f"{machine(record)}, "
    if record.get("hardware") == "dependent":  # its baseline is per machine class
        where += f"machine class {env.get('machine_class', '?')}, "
    secs = record.get("duration_s", 0)
    took = f"{secs:.1f} s" if secs >= 0.05 else "< 0.1 s (its results may come from a cache)"
    return ["", f"<sub>{record['claim']} ({record['tier']}): {where}git "
            f"{env.get('git_sha', '?')[:12]}, {took}, {record.get('finished_at', '')}</sub>", ""]


def _claim_section(record: dict[str, Any], once: _Once | None = None,
                   one_machine: bool = False, interp: _Once | None = None) -> list[str]:
    """A claim's section; `once` and `interp` (interpretations) hold what its paper's
    earlier claims already printed."""
    once, interp = once or _Once(), interp or _Once()
    return (_claim_head(record, once, interp) + _baseline_lines(record)
            + _measurement_block(record, once) + _notes_block(record, once)
            + _tables_block(record) + _figures_block(record)
            + _env_line(record, one_machine))


# ------------------------------------------------------------------------ report sections


def _seed_counts(record: dict[str, Any]) -> set[int]:
    """The seed counts behind a record's per-seed measurements (empty: none per seed)."""
    return {m["spread"]["n"] for m in record.get("measurements", []) if m.get("spread")}


def _results_folder(tier: str | None = None) -> str:
    """Where the records are read from: reports/results/ (or its tier's folder) in the
    checkout unless $NASREPRO_REPORTS moved the reports folder."""
    sub = f"results/{tier}" if tier else "results"
    return f"{reports_dir() / sub}/" if os.environ.get(REPORTS_ENV) else f"reports/{sub}/"


def _header(records: list[dict[str, Any]], papers: dict[str, Any],
            tier: str | None = None) -> list[str]:
    which = (f"{len(records)} {tier}-tier result record(s) in {_results_folder(tier)} (`nasrepro "
             f"report --tier {tier}`: the other tiers' records are left out)" if tier else
             f"{len(records)} result record(s) in {_results_folder()}")
    return ["# nasrepro report", "",
            f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')} from {which}. "
            "Verdicts: REPRODUCED, PARTIAL, NOT REPRODUCED, NOT RUN. Ours = our value, "
            "or the median with the inter-quartile range over seeds. Paper = the paper's own "
            "number ('—': it prints none; a claim's threshold shows in the tolerance column).",
            "", "Contents: [Summary](#summary) · [Mutation testing](#mutation-testing) · "
            + " · ".join(f"[{p.id}](#paper-{p.id.lower()})" for p in papers.values())]


def _summary_section(by_claim: dict[str, list[dict[str, Any]]], papers: dict[str, Any],
                     incomplete: dict[str, dict[str, dict[str, Any]]],
                     tier: str | None = None,
                     damaged: dict[str, dict[str, str]] | None = None) -> list[str]:
    """The summary table; `incomplete`: records.load_incomplete(); `tier`: the one tier
    rendered (None: all); `damaged`: _damaged()."""
    rows, damaged = [], damaged or {}
    for paper in papers.values():
        for cid, spec in paper.claims.items():
            recs = by_claim.get(cid)
            tiers = {r["tier"] for r in recs or []}
            stopped = [m for t, m in incomplete.get(cid, {}).items() if t not in tiers]
            shown = tiers | {m["tier"] for m in stopped}
            unread = {t: k for t, k in damaged.get(cid, {}).items() if t not in shown}
            for t, kind in sorted(unread.items(), key=lambda tk: TIER_ORDER.get(tk[0], 9)):
                rows.append([cid, t, f"UNREADABLE {kind} (named below)", "—", "—", "—"])
            if not recs and not stopped and not unread:
                state = ("not implemented" if not spec.implemented
                         else f"no {tier} record" if tier else "no record")
                rows.append([cid, tier or "—", state, "—", "—", "—"])
            for m in stopped:
                rows.append([cid, m["tier"], f"INCOMPLETE (no verdict: {m['why']}; "
                             f"{m['at']})", "—", "—", "—"])
            for r in recs or []:
                status = r.get("baseline", {}).get("status", "—")
                if r.get("overrides"):
                    status += f" (overrides {r['overrides']})"
                flag = " (judged on 1 seed)" if _seed_counts(r) == {1} else ""
                later = incomplete.get(cid, {}).get(r["tier"])
                if later:  # the record is older than a run that stopped without a verdict
                    flag += f"; a later run stopped incomplete ({later['why']}; {later['at']})"
                rows.append([f"[{cid}](#{anchor(cid, r['tier'])})", r["tier"],
                             r["verdict"] + flag, rows_met(r), misses(r), status])
    counts = [f"- {line}" for line in verdict_counts(r for recs in by_claim.values()
                                                     for r in recs)]
    return ["", "## Summary", "", *counts, *([""] if counts else []), table(
        rows, ["claim", "tier", "verdict", "rows met", "not reproduced (ours)", "baseline"])]


def verdict_counts(records: Iterable[dict[str, Any]]) -> list[str]:
    """One line per tier counting the records' verdicts, e.g. 'smoke tier: 8 REPRODUCED,
    9 PARTIAL, 2 NOT REPRODUCED, 3 NOT RUN (22 claims)' (none without records)."""
    counts: dict[str, dict[str, int]] = {}
    for r in records:
        tier = counts.setdefault(r["tier"], {})
        tier[r["verdict"]] = tier.get(r["verdict"], 0) + 1
    order = [v.value for v in Verdict]  # the vocabulary's order, then anything else
    out = []
    for tier in (t for t in TIERS if t in counts):
        c = counts[tier]
        parts = [f"{c[v]} {v}" for v in (*order, *sorted(set(c) - set(order))) if c.get(v)]
        n = sum(c.values())
        out.append(f"{tier} tier: {', '.join(parts)} ({n} claim{'s' * (n != 1)})")
    return out


def rows_met(record: dict[str, Any]) -> str:
    """'k of n': the judged measurements (REPRODUCED or NOT REPRODUCED) that reproduced."""
    verdicts = [m.get("verdict") for m in record.get("measurements", [])]
    judged = [v for v in verdicts if v in ("REPRODUCED", "NOT REPRODUCED")]
    return f"{judged.count('REPRODUCED')} of {len(judged)}" if judged else "—"


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _short_name(name: str, limit: int = 60) -> str:
    """A measurement's name without its bracketed context (and, when still long, without
    what follows its first ': '), cut to `limit` characters."""
    name = name.split(" [")[0]
    if len(name) > limit and ": " in name:
        name = name.split(": ")[0]
    return clip(name, limit)


def _context_parts(name: str) -> list[str]:
    """The comma-separated parts of a measurement name's bracketed context ('[proposed,
    1080ti_256, T = 25.312 ms]'); empty without one."""
    found = re.search(r" \[([^\[\]]*)\]$", name)
    return found.group(1).split(", ") if found else []


def _own_context(m: dict[str, Any], record: dict[str, Any]) -> str:
    """' [proposed]': the parts of a measurement's bracketed context that not every bracketed
    measurement of its record shares, which `_short_name` drops with the rest ('' if none):
    GCNAS-1's summary named an item measured for both rewards without the one that missed."""
    every = [set(p) for x in record.get("measurements", []) if (p := _context_parts(x["name"]))]
    shared = set.intersection(*every) if every else set()
    own = [part for part in _context_parts(m["name"]) if part not in shared]
    return f" [{', '.join(own)}]" if own else ""


def misses(record: dict[str, Any], most: int = 2) -> str:
    """The first NOT REPRODUCED measurements with our value and the paper's (or the
    claim's threshold), so the summary alone says what missed and by how much."""
    out = []
    missed = [m for m in record.get("measurements", []) if m.get("verdict") == "NOT REPRODUCED"]
    for m in missed[:most]:
        unit = f" {m['unit']}" if m.get("unit") else ""
        ours = (f"{fmt(m['center'], 4)}{unit}" if m.get("center") is not None
                else no_value_text(m))
        ref = (f" vs paper {fmt(m['paper'], 4)}" if m.get("paper") is not None else
               f" (needs {_tolerance_cell(m)})" if m.get("threshold") is not None and
               m.get("tolerance") else
               f" (p = {fmt(m['p_value'], 3)})" if m.get("p_value") is not None else "")
        out.append(f"{_short_name(m['name'])}{_own_context(m, record)}: {ours}{ref}")
    if len(missed) > most:
        out.append(f"+{len(missed) - most} more")
    return "; ".join(out) or "—"


def _paper_section(paper: Any, by_claim: dict[str, list[dict[str, Any]]],
                   incomplete: dict[str, dict[str, dict[str, Any]]],
                   one_machine: bool = False, tier: str | None = None,
                   damaged: dict[str, dict[str, str]] | None = None) -> list[str]:
    once, interp = _Once(), _Once()
    out = ["", f'<a id="paper-{paper.id.lower()}"></a>', "",
           f"## {paper.id}: {paper.title}", "", f"*{paper.citation}*", ""]
    for cid, spec in paper.claims.items():
        recs = by_claim.get(cid)
        if not recs:
            title, body = _no_record(cid, spec, list(incomplete.get(cid, {}).values()),
                                     (damaged or {}).get(cid, {}), tier)
            out += [f"### {cid} — {title}", "", f"**Claim.** {spec.statement}", "", body, ""]
            continue
        for r in recs:
            out += _claim_section(r, once, one_machine, interp)
    return out


def _no_record(cid: str, spec: Any, inc: list[dict[str, Any]], unread: dict[str, str],
               tier: str | None) -> tuple[str, str]:
    """(heading word, sentence) of a claim the report has no readable record of: its runs
    stopped without a verdict (`inc`), its result files cannot be read (`unread`: {tier:
    'record' or 'marker'}), or it has not run."""
    if inc:
        return "incomplete", (f"No {tier + '-tier ' if tier else ''}record yet: " + "; ".join(
            f"its {m['tier']}-tier run stopped without a verdict at {m['at']}: {m['why']}"
            for m in inc))
    if unread:
        tiers = sorted(unread, key=lambda t: TIER_ORDER.get(t, 9))
        files = " and ".join(f"its {t}-tier {unread[t]}" for t in tiers)
        rerun = " and ".join(f"`nasrepro run {'' if t == 'smoke' else f'--tier {t} '}"
                             f"--claim {cid}`" for t in tiers)
        return "unreadable result file", (
            f"No verdict shown: {files} cannot be read (the summary names the file and why); "
            f"{rerun} {'replace them' if len(tiers) > 1 else 'replaces it'}.")
    why = ("not implemented." if not spec.implemented
           else f"run `nasrepro run --tier {tier} --claim {cid}`." if tier
           else f"run `nasrepro run --claim {cid}`.")
    return (f"no {tier} record" if tier else "no record",
            f"No {tier + '-tier ' if tier else ''}record yet: " + why)


def _sorted(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: (TIER_ORDER.get(r["tier"], 9), r["claim"]))


def _by_claim(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(r["claim"], []).append(r)
    return out


def _unknown_lines(records: list[dict[str, Any]]) -> list[str]:
    """Records of claim IDs that no paper of this checkout has (a removed or renamed claim,
    a reports folder of another checkout): named, neither shown nor counted."""
    if not records:
        return []
    names = ", ".join(f"{r['claim']} ({r['tier']})" for r in records)
    return ["", f"Not shown or counted: {len(records)} record(s) of claims that no paper in "
            f"reference_results/papers has: {names}, in {_results_folder()}; delete them, or "
            "render them with the checkout that wrote them."]


def _damaged(unreadable: Unreadable, tier: str | None) -> dict[str, dict[str, str]]:
    """{claim: {tier: 'record' or 'marker'}} of the unreadable files (of `tier` only when
    one is rendered): the summary and the claim's section say 'unreadable', as `nasrepro
    list` does, rather than 'no record'."""
    out: dict[str, dict[str, str]] = {}
    for path, _ in unreadable:
        cid, t, kind = locate(path)
        if tier in (None, t):
            out.setdefault(cid, {})[t] = kind
    return out


def _unreadable_lines(unreadable: Unreadable) -> list[str]:
    """Result files that could not be read (records.load_records' `unreadable`): named with
    their error, so a claim missing from the report is never silently missing."""
    if not unreadable:
        return []
    return ["", f"Not shown or counted: {len(unreadable)} file(s) in {_results_folder()} "
            "that cannot be read: " + "; ".join(why.rstrip(".") for _, why in unreadable)
            + "."]


def render(records: Iterable[dict[str, Any]], tier: str | None = None,
           unreadable: Unreadable | None = None) -> str:
    """The whole report as markdown text; `tier`: the records are that tier's only (`nasrepro
    report --tier`), and the report says so instead of 'no record' for the other tiers';
    `unreadable`: the result files load_records could not read (named in the summary). Reads
    the incomplete markers itself (an unreadable one joins `unreadable`)."""
    unreadable = [] if unreadable is None else unreadable
    papers = load_papers()
    known = {cid for paper in papers.values() for cid in paper.claims}
    records = _sorted(records)
    unknown = [r for r in records if r["claim"] not in known]
    records = [r for r in records if r["claim"] in known]
    by_claim = _by_claim(records)
    machines = sorted({machine(r) for r in records})
    incomplete = {cid: kept for cid, marks in load_incomplete(unreadable).items()  # no verdict
                  if (kept := {t: m for t, m in marks.items() if tier in (None, t)})}
    damaged = _damaged(unreadable, tier)
    lines = (_header(records, papers, tier)
             + _summary_section(by_claim, papers, incomplete, tier, damaged)
             + _unknown_lines(unknown) + _unreadable_lines(unreadable))
    if len(machines) == 1:
        lines += ["", f"Every record ran on {machines[0]}."]
    lines += mutation.section()
    lines += latency_section()
    lines += sensitivity.section(records)  # REWARD-SENS summary (extension)
    for paper in papers.values():
        lines += _paper_section(paper, by_claim, incomplete, len(machines) == 1, tier,
                                damaged)
    return "\n".join(lines) + "\n"


def _appendix_measurements(r: dict[str, Any], said: dict[str, dict[str, Any]]) -> list[str]:
    """The measurement table and tolerances of a claim the report only links
    (`measurements_in_appendix`); a rationale said for an earlier claim of the paper is
    linked to it."""
    lines = []
    for k, v in _rationales(r):
        first = said.setdefault(v, r)
        lines.append(f"- {k}: " + (v if first is r else f"as for [{first['claim']}]"
                                   f"(#{_more_anchor(first)})"))
    rows, headers, common = factor_columns(measurement_rows(r), MEASUREMENT_HEADERS)
    return (["", f"Measurements ({r['verdict']}: no paper verdict at this scale; each is "
             "compared with the accepted baseline):", "", table(rows, headers)]
            + (["", "Same in every row: " + "; ".join(common) + "."] if common else [])
            + (["", "Tolerances:", *lines] if lines else []))


def _appendix_claim(r: dict[str, Any], interp: _Once,
                    said: dict[str, dict[str, Any]]) -> list[str]:
    """A claim's appendix part: the interpretation, rationales, notes and tables the report
    cut or left out (empty when it left nothing out). `interp` sees the interpretations in
    the report's order, so the shared text is left out and linked the same way; `said`, the
    rationales of this paper's earlier linked-only measurement tables."""
    body = []
    text = r.get("interpretation", "")
    if text:
        own, links = interp.parts(text, r["claim"], r["tier"])
        if short_interpretation(own) != own:
            body += ["", "**Interpretation.** " + " ".join(x for x in (own, links) if x)]
    if measurements_in_appendix(r):  # table, details and tolerances all in one place
        body += _appendix_measurements(r, said)
    else:
        if cut := _details_cut(r):
            body += ["", "Measurement details:", *[f"- {m['name']}: {m['detail']}"
                                                  for m in cut]]
        if _rationales_cut(r):
            body += ["", "Tolerances:", *[f"- {k}: {v}" for k, v in _rationales(r)]]
    if r.get("notes") and not notes_inline(r):
        body += ["", "Notes:", *[f"- {n}" for n in r["notes"]]]
    for t in r.get("tables", []):
        if not is_inline(t):
            body += ["", f"**{t['title']}**", "", table(t["rows"], t["headers"])]
    if not body:
        return []
    back = f"Back to [{r['claim']}](../REPORT.md#{anchor(r['claim'], r['tier'])})."
    return ["", f'<a id="{_more_anchor(r)}"></a>', "", f"## {r['claim']} ({r['tier']})", "",
            back, *body]


def _in_report_order(records: Iterable[dict[str, Any]]
                     ) -> Iterable[tuple[Any, dict[str, Any]]]:
    """(paper, record) in the order the report prints them."""
    by_claim = _by_claim(_sorted(records))
    for paper in load_papers().values():
        for cid in paper.claims:
            for r in by_claim.get(cid, []):
                yield paper, r


def render_appendices(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Per paper ID, the appendix text: what the report leaves out of each claim (long
    interpretations, rationales, notes, tables), from the same records (papers with none
    are absent)."""
    out: dict[str, list[str]] = {}
    interps: dict[str, _Once] = {}
    said: dict[str, dict[str, dict[str, Any]]] = {}
    for paper, r in _in_report_order(records):
        part = _appendix_claim(r, interps.setdefault(paper.id, _Once("../REPORT.md")),
                               said.setdefault(paper.id, {}))
        if part:
            out.setdefault(paper.id, [
                f"# {paper.id} appendix", "", "What [REPORT.md](../REPORT.md) leaves out of "
                "each claim (full interpretations, long notes and tables), generated from the "
                "same result records."]).extend(part)
    return {p: "\n".join(lines) + "\n" for p, lines in out.items()}


def repeated_paragraphs(text: str, min_chars: int = 60) -> list[str]:
    """Paragraphs (blank-line separated blocks) of at least `min_chars` characters that
    occur more than once in `text`."""
    seen: set[str] = set()
    out = []
    for para in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if len(para) < min_chars:
            continue
        if para in seen and para not in out:
            out.append(para)
        seen.add(para)
    return out


# Set by `nasrepro run` for its pytest run: the CLI writes REPORT.md once pytest is done (also
# after a crash), so the session does not write it first.
REPORT_AFTER_ENV = "NASREPRO_REPORT_AFTER_PYTEST"


def write_report(tier: str | None = None, unreadable: Unreadable | None = None) -> Path:
    """Render REPORT.md (and the appendices of its long tables) from the records of `tier`
    (all tiers if None); remove appendices no record needs any more; return the report's
    path. A result file that cannot be read is named in the report and added to
    `unreadable` (for the caller to warn about), not a reason to write no report."""
    unreadable = [] if unreadable is None else unreadable
    records = load_records(tier, unreadable)
    root = reports_dir()
    files = {appendix_path(p): text for p, text in render_appendices(records).items()}
    mutants = mutation.appendix()
    if mutants is not None:
        files[mutation.APPENDIX] = mutants
    for rel, text in files.items():
        atomic_write_text(root / rel, text)
    for stale in (root / APPENDIX_DIR).glob("*.md"):
        if stale.relative_to(root).as_posix() not in files:
            stale.unlink()
    path = root / "REPORT.md"
    atomic_write_text(path, render(records, tier, unreadable))
    return path
