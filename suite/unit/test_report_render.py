"""REPORT.md from records: the paper column holds the paper's own number (or '—'), a claim's
threshold shows in the tolerance column and is what the verdict is judged against, no
paragraph repeats, long material goes to a generated appendix; figures are named per tier."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasrepro.claims import ClaimResult, Measurement, Tolerance, Verdict, records
from nasrepro.claims.records import build_record, write_record
from nasrepro.claims.references import PaperValue, claim_spec
from nasrepro.errors import ConfigError
from nasrepro.report import markdown
from nasrepro.report.markdown import render, render_appendices, repeated_paragraphs, write_report

AT_LEAST = Tolerance("at_least", 0.16, "one paper baseline std")
PROTOCOL = ("Network WRN-40-2, CIFAR-10, candidates fine-tuned for 50 epochs after LANA "
            "initialisation; differences are candidate minus the mean of three baselines.")
REASON = ("smoke tier: a tiny network on 1000 images says nothing about the paper's numbers; "
          "the values below gate regressions only.")


@pytest.fixture
def reports(tmp_path, monkeypatch):
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path))
    return tmp_path


def _record(claim, measurements, notes=(), tables=(), interpretation=PROTOCOL, reason=""):
    res = ClaimResult(claim, list(measurements), notes=list(notes), not_run_reason=reason)
    for t in tables:
        res.table(*t)
    rec = build_record(res, tier="smoke", paper=claim.split("-")[0],
                       spec={"statement": f"statement of {claim}",
                             "interpretation": interpretation},
                       config_hash="h", env={"device": "cpu", "device_name": "test cpu"},
                       started=0.0)
    rec["baseline"] = {"status": "match", "problems": []}
    return rec


def _rows(text, claim):
    """The measurement table rows of a claim's section: {name: {column: cell}}."""
    section = text.split(f'<a id="{claim.lower()}-smoke"></a>')[1].split("<a id=")[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:2] == ["measurement", "paper"]
    out = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", ln.strip("|"))]
        out[cells[0]] = dict(zip(header, cells, strict=True))
    return out


def test_threshold_is_judged_and_the_paper_number_is_shown():
    # ours 0.1: above the claim's threshold 0 - 0.16, below the paper's +0.28 - 0.16
    m = Measurement("c3 - c1", 0.1, paper=0.28, threshold=0.0, tolerance=AT_LEAST)
    assert str(m.evaluate()) == "REPRODUCED"
    same_without_threshold = Measurement("c3 - c1", 0.1, paper=0.28, tolerance=AT_LEAST)
    assert str(same_without_threshold.evaluate()) == "NOT REPRODUCED"
    assert m.to_dict()["paper"] == 0.28 and m.to_dict()["threshold"] == 0.0


def test_paper_column_holds_the_papers_value_or_a_dash():
    rec = _record("OPSUB-1", [
        Measurement("c3 - c1", 0.1, paper=0.28, threshold=0.0, tolerance=AT_LEAST),
        Measurement("c4 - c1", -0.5, paper=-0.06, threshold=0.0,
                    tolerance=Tolerance("at_most", 0.0, "direction only")),
        Measurement("r2", 0.99, threshold=1.0, tolerance=Tolerance("at_least", 0.05, "fit")),
        Measurement("cell", 95.9, paper=96.19, tolerance=Tolerance("absolute", 0.5, "noise")),
    ])
    rows = _rows(render([rec]), "OPSUB-1")
    assert [rows[n]["paper"] for n in ("c3 - c1", "c4 - c1", "r2", "cell")] == \
        ["0.28", "-0.06", "—", "96.19"]
    assert rows["c3 - c1"]["tolerance"] == "≥ threshold 0 − 0.16"
    assert rows["c4 - c1"]["tolerance"] == "≤ threshold 0"  # no '+ 0' for a zero allowance
    assert rows["r2"]["tolerance"] == "≥ threshold 1 − 0.05"
    assert rows["cell"]["tolerance"] == "±0.5 (abs)"
    assert rows["c4 - c1"]["verdict"] == "REPRODUCED" and rows["r2"]["verdict"] == "REPRODUCED"


def test_paper_values_flagged_as_thresholds_leave_the_paper_column_empty():
    assert PaperValue("k", 0.1, "s", threshold=True).fields() == \
        {"paper": None, "threshold": 0.1, "source": "s"}
    assert PaperValue("k", 1.26, "s").fields() == {"paper": 1.26, "threshold": None, "source": "s"}
    # the reference data: LENET-3's 126 % is the paper's number, LENET-4's 0.1 its bound
    assert claim_spec("LENET-3").value("rss_ratio_bs128").fields()["paper"] == 1.26
    assert claim_spec("LENET-4").value("max_train_acc").fields()["paper"] is None


def test_no_paragraph_repeats_across_claims_sharing_text():
    note = "Differences are candidate minus the mean of our 3 baseline fine-tunes, every one."
    recs = [_record(c, [Measurement("d", 0.1 * i, paper=0.28, threshold=0.0,
                                    tolerance=AT_LEAST)], notes=[note], reason=REASON)
            for i, c in enumerate(("OPSUB-1", "OPSUB-2", "OPSUB-3"))]
    text = render(recs)
    assert repeated_paragraphs(text) == []
    assert text.count(REASON) == 1 and text.count(note) == 1 and text.count(PROTOCOL) == 1
    # the check itself finds a repeat
    assert repeated_paragraphs(f"{REASON}\n\nx\n\n{REASON}\n") == [REASON]


def test_columns_equal_in_every_row_are_stated_once_but_paper_and_ours_stay():
    ms = [Measurement(f"m{i} [1080ti, T = 25 ms]", 0.5 + i, paper=1.0, tolerance=AT_LEAST,
                      verdict=Verdict.REPRODUCED, detail="one seed")
          for i in range(3)]
    text = render([_record("REWARD-4", ms)])
    rows = _rows(text, "REWARD-4")
    assert set(rows) == {"m0", "m1", "m2"}
    assert all(r["paper"] == "1" for r in rows.values()) and "tolerance" not in rows["m0"]
    assert ("Same in every row of REWARD-4: measurements on 1080ti, T = 25 ms; tolerance ≥ "
            "paper − 0.16; detail “one seed”.") in text


def test_a_claim_not_run_at_this_scale_links_its_measurements_to_the_appendix():
    """OPSUB's smoke tables (NOT RUN: regression gates, no paper verdict) read like results
    and were a fifth of the report; the report links them, the appendix holds them with
    their tolerances (a rationale shared by later claims said once)."""
    ms = [Measurement(f"c{i} - c1", -3.0 - i, paper=0.28, threshold=0.0, tolerance=AT_LEAST,
                      verdict=Verdict.NOT_RUN, detail="smoke scale: no paper verdict")
          for i in range(3)]
    recs = [_record(c, ms, reason=REASON) for c in ("OPSUB-1", "OPSUB-2")]
    text = render(recs)
    assert "| c1 - c1 |" not in text
    assert ("3 measurements at this scale, no paper verdict, each compared with the accepted "
            "baseline only: [table and tolerances in the appendix]"
            "(appendix/OPSUB.md#opsub-1-smoke-more).") in text
    appendix = render_appendices(recs)["OPSUB"]
    assert appendix.count("| c0 - c1 | 0.28 | -3 | NOT RUN |") == 2
    assert "Same in every row: tolerance ≥ threshold 0 − 0.16;" in appendix
    assert appendix.count(AT_LEAST.rationale) == 1
    assert "- ≥ threshold 0 − 0.16: as for [OPSUB-1](#opsub-1-smoke-more)" in appendix
    # a judged claim keeps its table in the report
    judged = _record("OPSUB-1", [Measurement("d", 0.5, paper=0.28, threshold=0.0,
                                             tolerance=AT_LEAST)])
    assert "| d | 0.28 | 0.5 |" in render([judged])


def test_long_tables_and_notes_go_to_the_appendix_with_a_link(reports):
    long_rows = [[i, i * 0.5, "x" * 20] for i in range(50)]
    rec = _record("REWARD-4", [Measurement("a", 0.5, paper=0.5, tolerance=AT_LEAST)],
                  notes=["n" * 700], tables=[("Per seed", ["seed", "v", "s"], long_rows),
                                              ("Short", ["k", "v"], [[1, 2]])])
    write_record(rec)
    text = write_report().read_text()
    appendix = (reports / "appendix" / "REWARD.md").read_text()
    assert "**Short**" in text and "**Per seed**" not in text
    assert "(appendix/REWARD.md#reward-4-smoke-more)" in text
    assert '<a id="reward-4-smoke-more"></a>' in appendix and "**Per seed**" in appendix
    assert "| 49 | 24.5 |" in appendix and "n" * 700 in appendix and "n" * 700 not in text
    assert render_appendices([rec]).keys() == {"REWARD"}
    # an appendix no record needs any more is removed
    (reports / "appendix" / "OPSUB.md").write_text("stale")
    write_report()
    assert not (reports / "appendix" / "OPSUB.md").exists()


def test_long_interpretation_is_cut_at_a_sentence_with_the_rest_in_the_appendix():
    long = " ".join(f"Sentence {i} of the protocol says something specific here." for i in
                    range(20))
    rec = _record("GCNAS-1", [], interpretation=long)
    text, appendix = render([rec]), render_appendices([rec])["GCNAS"]
    shown = markdown.short_interpretation(long)
    assert shown.endswith(".") and len(shown) <= markdown.INTERPRETATION_CHARS
    assert shown in text and long not in text and long in appendix


def test_figures_are_named_per_tier(reports):
    from nasrepro.report.figures import figure_name
    from nasrepro.report.figures_reward import fig3_reward_vs_latency

    smoke, full = fig3_reward_vs_latency("smoke"), fig3_reward_vs_latency("full")
    assert (smoke, full) == ("figures/reward_fig3_smoke.png", "figures/reward_fig3_full.png")
    assert (reports / smoke).is_file() and (reports / full).is_file()
    with pytest.raises(ConfigError, match="unknown tier 'nightly'"):
        figure_name("reward_fig3", "nightly")
    # REPORT.md's alt text names the figure, not only the claim (was "REWARD-1 figure")
    rec = _record("REWARD-1", [])
    rec["figures"] = [smoke, "figures/reward_fig7_silver_4210r_smoke.png"]
    text = render([rec])
    assert "![REWARD-1: reward fig3](figures/reward_fig3_smoke.png)" in text
    assert "![REWARD-1: reward fig7 silver 4210r](figures/reward_fig7_silver_4210r_smoke.png)" \
        in text


@given(st.lists(st.sampled_from(["Alpha beta.", "Gamma: delta", "(Eps) zeta;", "Eta theta",
                                 "Iota kappa lambda mu nu xi omicron pi rho sigma."]),
                min_size=1, max_size=30), st.integers(min_value=1, max_value=300))
def test_leading_sentences_is_a_prefix_within_the_limit(parts, limit):
    text = " ".join(parts)
    out = markdown.leading_sentences(text, limit)
    assert text.startswith(out) and out
    if len(text) <= limit:
        assert out == text
    elif out != text:
        first = re.split(r"(?<=[.;:])\s+(?=[A-Z(])", text)[0]
        assert len(out) <= limit or out == first


@given(st.lists(st.text(alphabet="abc xyz0123.=", min_size=1, max_size=90), min_size=1,
                max_size=8))
def test_short_detail_keeps_leading_clauses_within_the_limit(clauses):
    text = "; ".join(clauses)
    shown = markdown.short_detail(text)
    if len(text) <= markdown.DETAIL_CHARS:
        assert shown == text
    else:
        assert shown.endswith(" …") and len(shown) <= markdown.DETAIL_CHARS + 2
        assert text.startswith(shown[:-2])


def test_cut_details_are_in_the_appendix_in_full():
    long = "; ".join(f"clause {i} with words" for i in range(20))
    res = ClaimResult("REWARD-1", [Measurement("m", 1.0, verdict=Verdict.REPRODUCED,
                                               detail=long)])
    rec = build_record(res, tier="smoke", paper="REWARD", spec={"statement": "s"},
                       config_hash="h", env={}, started=0.0)
    rec["baseline"] = {"status": "match", "problems": []}
    report = render([rec])
    assert long not in report and markdown.short_detail(long) in report
    assert "in full in the appendix" in report
    assert long in render_appendices([rec])["REWARD"]


def test_summary_says_how_many_rows_met_and_which_missed_by_how_much():
    tol = Tolerance("absolute", 0.05, "five points")
    ok = Measurement("ratio_a", 1.25, paper=1.26, tolerance=tol)
    miss = Measurement("ratio_b [case 3, seeds 0-2]", 1.04, paper=1.26, tolerance=tol)
    bound = Measurement("max_train_acc", 0.1986, threshold=0.1,
                        tolerance=Tolerance("at_most", 0.0, "a bound"))
    rec = _record("LENET-3", [ok, miss, bound])
    rec["verdict"] = "PARTIAL"
    text = render([rec])
    summary = text.split("## Summary")[1].split("\n## ")[0]
    (row,) = [ln for ln in summary.splitlines() if ln.startswith("| [LENET-3]")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:5] == ["PARTIAL", "1 of 3",
                          "ratio_b: 1.04 vs paper 1.26; "
                          "max_train_acc: 0.1986 (needs ≤ threshold 0.1)"]
    # a claim not run has no judged rows and nothing missed
    not_run = _record("OPSUB-1", [Measurement("c3 - c1", -1.0, paper=0.28, threshold=0.0,
                                              tolerance=AT_LEAST, verdict=Verdict.NOT_RUN)])
    assert markdown.rows_met(not_run) == "—" and markdown.misses(not_run) == "—"
    many = _record("LENET-5", [Measurement(f"m{i}", 0.0, paper=1.0, tolerance=tol)
                               for i in range(4)])
    assert markdown.misses(many).endswith("; +2 more") and markdown.rows_met(many) == "0 of 4"
    # no value (a Kaplan-Meier median not reached): the detail's first clause says why
    km = {"name": "settle/proposed: KM median [1080ti]", "center": None, "paper": 4000.0,
          "verdict": "NOT REPRODUCED",
          "detail": "Kaplan-Meier median: not reached within 5000 (21/50 by 5000); censored"}
    assert markdown.misses({"measurements": [km]}) == (
        "settle/proposed: KM median: Kaplan-Meier median: not reached within 5000 (21/50 by "
        "5000) vs paper 4000")
    # ... and the claim's own table says the same in the 'ours' cell (was 'no value (see
    # detail)'); a measurement not run still says so
    assert markdown.fmt_ours(km) == "Kaplan-Meier median: not reached within 5000 (21/50 by 5000)"
    assert markdown.fmt_ours({**km, "verdict": "NOT RUN"}) == "not run"
    assert markdown.fmt_ours({**km, "detail": ""}) == "no value"


def test_summary_rows_have_as_many_cells_as_the_header():
    text = render([_record("LENET-3", [Measurement("m", 1.0, paper=1.0,
                                                   tolerance=Tolerance("absolute", 0.1, "r"))])])
    summary = text.split("## Summary")[1].split("\n## ")[0]
    rows = [ln for ln in summary.splitlines() if ln.startswith("|")]
    widths = {len(re.split(r"(?<!\\)\|", ln.strip("|"))) for ln in rows}
    assert len(rows) > 20 and widths == {6}  # claims with no record ("no record") included


def test_no_tolerances_heading_without_tolerances_and_the_header_names_the_records_folder(
        reports):
    rec = _record("OPSUB-3", [Measurement(f"m{i}", 1.0, paper=1.0, verdict=Verdict.NOT_RUN)
                              for i in range(2)])
    text = render([rec])
    assert "Tolerances (OPSUB-3)" not in text
    assert f"result record(s) in {reports / 'results'}/." in text  # $NASREPRO_REPORTS moved it


def test_a_claim_stopped_incomplete_says_so_in_the_summary_until_a_record_is_written(reports):
    """After `nasrepro run --budget` left stages, the OPSUB claims have no record; the summary
    said 'no record' (new-user walkthrough). Now it says incomplete, with what is left."""
    records.write_incomplete("smoke", "OPSUB-2", "20 of 36 stages left; rerun to resume")
    records.write_incomplete("full", "OPSUB-1", "37 of 37 stages left; rerun to resume")
    assert not list((reports / "results" / "smoke").glob("*.json"))  # never read as a record

    def summary_row(text, claim):
        summary = text.split("## Summary")[1].split("\n## ")[0]
        return [ln for ln in summary.splitlines() if ln.startswith(f"| {claim} ")
                or ln.startswith(f"| [{claim}]")]

    text = render([])
    (row,) = summary_row(text, "OPSUB-2")
    assert "| smoke | INCOMPLETE (no verdict: 20 of 36 stages left; rerun to resume;" in row
    assert "### OPSUB-2 — incomplete" in text and "### OPSUB-3 — no record" in text
    assert "its smoke-tier run stopped without a verdict at " in text
    # a smoke record of OPSUB-1 beside its incomplete full-tier run: both rows
    rec = _record("OPSUB-1", [Measurement("m", 1.0, paper=1.0, verdict=Verdict.NOT_RUN)])
    write_record(rec)
    rows = summary_row(render([rec]), "OPSUB-1")
    assert len(rows) == 2 and any("| full | INCOMPLETE" in r for r in rows)
    # a record written after the stop replaces the marker; an older one is flagged
    records.write_incomplete("smoke", "OPSUB-1", "3 of 36 stages left; rerun to resume")
    (flagged,) = [r for r in summary_row(render([rec]), "OPSUB-1") if "| smoke |" in r]
    assert "a later run stopped incomplete (3 of 36 stages left" in flagged
    write_record(rec)
    assert "smoke" not in records.load_incomplete().get("OPSUB-1", {})



def test_a_claim_failed_on_missing_data_says_why_in_the_report(tmp_path, monkeypatch):
    """A claim test that fails on missing data (a DataError) left no marker, and the report
    told the user to run the claim they had just run; now it names the missing file."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "data").mkdir()
    monkeypatch.setenv("NASREPRO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / "reports"))
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                          "suite/lenet/test_lenet_1.py"], cwd=Path(__file__).parents[2],
                         env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "MNIST file missing" in run.stdout, run.stdout[-2000:]
    text = render([])
    assert "### LENET-1 — incomplete" in text
    assert "stopped without a verdict at " in text and "failed: MNIST file missing" in text

@given(st.text(), st.text())
def test_first_clause_ends_before_the_first_semicolon(head, tail):
    text = head + ";" + tail
    assert markdown.first_clause(text) == head.split(";")[0].strip()
    assert ";" not in markdown.first_clause(text)


def test_a_detail_does_not_repeat_the_ours_cell():
    """A KM median not reached showed 'not reached within 5000 (21/50 by 5000)' in the ours
    cell and again at the head of the detail cell, which cut the restricted mean off."""
    km = Measurement("settle", None, verdict=Verdict.NOT_REPRODUCED,
                     detail="median: not reached within 50 (2/5 by 50); restricted mean 47")
    near = Measurement("rise", 0.4, verdict=Verdict.REPRODUCED, detail="0.45 >= 0")
    rec = _record("REWARD-4", [km, near])
    assert markdown.fmt_ours(rec["measurements"][0]) == \
        "median: not reached within 50 (2/5 by 50)"
    assert markdown.fmt_ours(rec["measurements"][1]).startswith("0.4")
    assert markdown.shown_detail(rec["measurements"][0]) == "restricted mean 47"
    assert markdown.shown_detail(rec["measurements"][1]) == "0.45 >= 0"  # not a repeat of 0.4
    assert "| restricted mean 47 |" in render([rec])


def test_the_summary_counts_verdicts_per_tier_from_the_records():
    judged = [Measurement("a", 1.0, paper=1.0, tolerance=Tolerance("absolute", 0.1, "r"))]
    missed = [Measurement("a", 2.0, paper=1.0, tolerance=Tolerance("absolute", 0.1, "r"))]
    recs = [_record("LENET-1", judged), _record("LENET-2", judged), _record("LENET-3", missed),
            _record("OPSUB-1", [Measurement("d", 1.0, paper=1.0, verdict=Verdict.NOT_RUN)])]
    full = _record("LENET-4", judged)
    full["tier"] = "full"
    text = render([*recs, full])
    assert "- smoke tier: 2 REPRODUCED, 1 NOT REPRODUCED, 1 NOT RUN (4 claims)" in text
    assert "- full tier: 1 REPRODUCED (1 claim)" in text
    assert markdown.verdict_counts({}) == []


def test_summary_names_which_of_an_item_measured_per_reward_missed():
    """Found 2026-12-07 (GCNAS-1, smoke): the same item is measured for both rewards,
    '... [mnasnet, 1080ti_256, T = 25.312 ms]' and '... [proposed, ...]'; the summary's
    'not reproduced' cell dropped the bracket and so never said which reward missed."""
    src = "1080ti_256, T = 25.312 ms (0.74 quantile)"
    tol = Tolerance("one_sided", 0.05, "alpha")
    item = "GCN no later than RNN + 250: log-rank z (GCN vs RNN shifted by the margin)"
    rec = _record("GCNAS-1", [
        Measurement(f"{item} [mnasnet, {src}]", 2.4, tolerance=tol, p_value=0.007),
        Measurement(f"{item} [proposed, {src}]", 0.27, tolerance=tol, p_value=0.394)])
    rec["verdict"] = "PARTIAL"
    assert markdown.misses(rec) == "GCN no later than RNN + 250 [proposed]: 0.27 (p = 0.394)"


def test_a_none_table_cell_renders_as_no_value():
    # a record table cell of None (e.g. GCNAS-2's best feasible accuracy of a row with a
    # run that had no feasible sample) is no value, never the word None or a 0
    out = markdown.table([[None, "a|b", 0]], ["x", "y", "z"])
    assert out.splitlines()[-1] == "| — | a\\|b | 0 |"
