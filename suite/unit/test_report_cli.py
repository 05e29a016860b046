"""The report renders every claim from records; the CLI lists claims and guards accepts."""

from pathlib import Path

import pytest

from nasrepro import cli
from nasrepro.claims import ClaimResult, Measurement, Tolerance
from nasrepro.claims.records import build_record, write_record
from nasrepro.report.markdown import render, write_report


@pytest.fixture
def reports(tmp_path, monkeypatch):
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path))
    return tmp_path


def test_report_lists_all_claims_and_escapes_pipes(reports):
    res = ClaimResult("REWARD-1", [Measurement("a|b", 0.84, paper=0.84,
                                               tolerance=Tolerance("absolute", 1e-4, "why"))])
    rec = build_record(res, tier="smoke", paper="REWARD", spec={"statement": "s"},
                       config_hash="h", env={}, started=0.0)
    rec["baseline"] = {"status": "match", "problems": []}
    write_record(rec)
    text = write_report().read_text()
    assert "a\\|b" in text and "REWARD-1 — REPRODUCED (smoke; baseline match)" in text
    for cid in ("OPSUB-1", "LENET-9", "GCNAS-2", "REWARD-5"):
        assert cid in text
    assert "Tolerances (REWARD-1):\n- ±0.0001 (abs): why" in text


def test_render_with_no_records_still_lists_claims(reports):
    assert "REWARD-1" in render([])


def test_cli_report_renders_and_rebuilds_only_what_is_stale(reports, capsys, monkeypatch):
    """`nasrepro report` with no stored or committed OPSUB stages rebuilds nothing and
    renders; with stale records it runs their claim tests first and returns pytest's status
    (the rebuild itself on real stages: test_stage_runner.py and CI's import step)."""
    from nasrepro.stages import rebuild

    assert cli.main(["report"]) == 0
    out = capsys.readouterr().out
    assert "rebuilding" not in out and out.strip() == str(reports / "REPORT.md")
    calls = []
    monkeypatch.setattr(rebuild, "stale_records", lambda tier, device: (
        (["OPSUB-2"], "the stage store X") if tier == "smoke" else ([], "")))
    monkeypatch.setattr(cli, "call_child", lambda cmd, **kw: calls.append(
        (cmd, kw["env"]["NASREPRO_STAGES"])) or 1)
    assert cli.main(["report", "--no-rebuild"]) == 0 and not calls
    assert cli.main(["report"]) == 1
    (cmd, stages), = calls
    assert stages == "stored" and cmd[cmd.index("--claim") + 1] == "OPSUB-2"
    assert cmd[cmd.index("--tier") + 1] == "smoke"
    assert "OPSUB (smoke): 1 of 5 records missing or older than the stage store X" in \
        capsys.readouterr().out


def test_cli_report_renders_without_cifar_when_no_stage_is_stored(reports, tmp_path, capsys,
                                                                   monkeypatch):
    """Fixed 2026-12-06: `nasrepro report` keyed the stage store, which needs CIFAR-10, even
    with no stage stored, so without the dataset it failed (exit 2) after a REWARD-only run.
    With stages stored but the data gone, it says so in one line and still renders."""
    monkeypatch.setenv("NASREPRO_DATA", str(tmp_path / "no-data"))
    assert cli.main(["report"]) == 0
    assert capsys.readouterr().out.strip() == str(reports / "REPORT.md")
    stored = reports / "cache" / "opsub_stages" / "smoke" / "somekey"
    stored.mkdir(parents=True)
    (stored / "baseline.result.pt").write_bytes(b"")
    assert cli.main(["report"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(reports / "REPORT.md")
    assert err.startswith("OPSUB (smoke): stored stages not checked for a rebuild: CIFAR-10 "
                          "not found") and err.count("\n") == 1


def test_cli_list_runs(reports, capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "REWARD-1" in out and "GCNAS-2" in out


def test_cli_list_marks_a_verdict_made_with_overrides(reports, capsys):
    # a --seeds 2 run's verdict is not the tier's and was not gated: list said 'smoke: PARTIAL'
    res = ClaimResult("REWARD-4", [Measurement("x", 1.0, paper=1.0,
                                               tolerance=Tolerance("absolute", 0.1, "t"))])
    rec = build_record(res, tier="smoke", paper="REWARD", spec={"statement": "s"},
                       config_hash="h", env={}, started=0.0)
    write_record({**rec, "overrides": {"seeds": 2}})
    assert cli.main(["list"]) == 0
    line = next(li for li in capsys.readouterr().out.splitlines() if "REWARD-4" in li)
    assert "smoke: REPRODUCED (overrides seeds=2; not compared)" in line


def test_cli_baseline_accept_without_record_is_a_clear_error(reports, capsys):
    assert cli.main(["baseline", "accept", "REWARD-2", "--tier", "full"]) == 2
    assert "no record for REWARD-2 in tier full" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["show", "diff", "accept"])
def test_cli_unknown_claim_is_a_clear_error(reports, capsys, command):
    assert cli.main(["baseline", command, "LENET-99"]) == 2
    err = capsys.readouterr().err
    assert "unknown claim 'LENET-99'" in err and "nasrepro run" not in err


def test_baseline_show_says_which_measurements_are_not_gated_by_value(reports, capsys):
    from nasrepro.claims.baseline_cli import band_text

    assert band_text(None) == "not gated by value (no band)" and band_text(0.05) == "band 0.05"
    assert cli.main(["baseline", "show", "REWARD-4"]) == 0   # hardware-independent: everywhere
    out = capsys.readouterr().out
    assert ", band 250\n" in out and "band None" not in out
    # found 2026-12-08: a KM median never reached showed as 'accepted —'
    assert "accepted no value, band 250\n" in out and "accepted —" not in out


def test_accepted_values_name_what_the_runs_had_instead_of_a_number():
    from nasrepro.claims.baseline_cli import accepted_text

    assert accepted_text([1.0, [2.0, 4.0, 3.0]]) == "[1, 3]"  # a run's centre: its median
    assert accepted_text([None, 5.0]) == "[5, 5] or no value"
    assert accepted_text([float("nan"), float("inf")]) == "+inf or NaN"
    assert accepted_text([]) == "nothing (no accepted run)"


def test_baseline_record_refuses_a_repeat_count_below_one(reports, capsys):
    """Found 2026-12-07: `--repeats 0` ran nothing, said 'no record to accept (not run on
    this machine)' and exited 0."""
    assert cli.main(["baseline", "record", "--claim", "REWARD-1", "--repeats", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nasrepro: error: --repeats 0: need at least 1 run per variant"]


def test_baseline_record_accepts_nothing_when_a_run_wrote_no_record(reports, capsys,
                                                                     monkeypatch):
    """Found 2026-12-07: a claim test that failed before writing its record (missing MNIST)
    was reported as 'no record to accept (not run on this machine)', exit 0; with one of
    several runs failing, the others were pooled and accepted as if the band were whole."""
    import json
    import subprocess

    from nasrepro.claims import baselines
    from nasrepro.claims.records import write_incomplete
    from nasrepro.measure import environment

    calls = []

    def fake_run(cmd, **kw):  # run 1 writes LENET-4's record, run 2 stops on missing data
        folder = kw["env"]["NASREPRO_REPORTS"]
        calls.append(folder)
        if len(calls) == 1:
            path = Path(folder) / "results" / "smoke" / "LENET-4.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"claim": "LENET-4", "tier": "smoke",
                                        "verdict": "REPRODUCED", "measurements": []}))
            return 0
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("NASREPRO_REPORTS", folder)
            write_incomplete("smoke", "LENET-4", "failed: MNIST file missing: x.gz")
        return 1

    accepted = []
    monkeypatch.setattr(subprocess, "call", fake_run)  # where the old code ran pytest
    monkeypatch.setattr(cli, "call_child", fake_run)
    monkeypatch.setattr(environment, "cpu_capability", lambda: "avx2")  # one variant
    monkeypatch.setattr(baselines, "accept", lambda recs: accepted.append(recs) or "x")
    assert cli.main(["baseline", "record", "--claim", "LENET-4", "--repeats", "2"]) == 1
    assert len(calls) == 2 and not accepted
    out = capsys.readouterr().out
    assert ("LENET-4: NOT accepted: 1 of 2 run(s) wrote no record (run 2: failed: MNIST file "
            "missing: x.gz)") in out and "not run on this machine" not in out


def test_report_of_one_tier_says_so_and_never_calls_the_other_tiers_records_missing(
        reports, capsys):
    """Found 2026-12-07: `nasrepro report --tier full` with REWARD-4 recorded in the smoke
    tier only said 'REWARD-4 — no record. No record yet: run `nasrepro run --claim REWARD-4`'
    (that command runs the smoke tier again) under a header counting '1 result record(s) in
    results/' of the 2 there, and listed the smoke tier's incomplete runs."""
    from nasrepro.claims.records import write_incomplete

    for cid, tier in (("REWARD-1", "full"), ("REWARD-4", "smoke")):
        res = ClaimResult(cid, [Measurement("x", 1.0, paper=1.0,
                                            tolerance=Tolerance("absolute", 0.1, "t"))])
        rec = build_record(res, tier=tier, paper="REWARD", spec={"statement": "s"},
                           config_hash="h", env={}, started=0.0)
        write_record({**rec, "baseline": {"status": "match", "problems": []}})
    write_incomplete("smoke", "LENET-4", "failed: MNIST file missing")
    assert cli.main(["report", "--tier", "full", "--no-rebuild"]) == 0
    text = (reports / "REPORT.md").read_text()
    assert (f"from 1 full-tier result record(s) in {reports / 'results' / 'full'}/ (`nasrepro "
            "report --tier full`: the other tiers' records are left out)") in text
    assert "| REWARD-4 | full | no full record |" in text
    assert ("### REWARD-4 — no full record\n\n**Claim.** ") in text
    assert "No full-tier record yet: run `nasrepro run --tier full --claim REWARD-4`." in text
    assert "MNIST file missing" not in text and "INCOMPLETE" not in text
    assert cli.main(["report", "--no-rebuild"]) == 0  # every tier: as before
    text = (reports / "REPORT.md").read_text()
    assert f"from 2 result record(s) in {reports / 'results'}/. " in text
    assert "| REWARD-5 | — | no record |" in text and "INCOMPLETE" in text
    assert "No record yet: run `nasrepro run --claim REWARD-5`." in text


def test_report_of_a_tier_with_no_record_is_one_line_and_keeps_the_report(reports, capsys):
    """Found 2026-12-08 (a new-user walkthrough): `nasrepro report --tier full` with only
    smoke records replaced REPORT.md with 22 'no full record' rows, exit 0."""
    res = ClaimResult("REWARD-1", [Measurement("x", 1.0, paper=1.0,
                                               tolerance=Tolerance("absolute", 0.1, "t"))])
    rec = build_record(res, tier="smoke", paper="REWARD", spec={"statement": "s"},
                       config_hash="h", env={}, started=0.0)
    write_record({**rec, "baseline": {"status": "match", "problems": []}})
    assert cli.main(["report", "--no-rebuild"]) == 0
    before = (reports / "REPORT.md").read_text()
    capsys.readouterr()
    assert cli.main(["report", "--tier", "full", "--no-rebuild"]) == 2
    err = capsys.readouterr().err
    assert f"no full-tier record in {reports / 'results' / 'full'}" in err
    assert "REPORT.md left as it was" in err and "nasrepro run --tier full" in err
    assert (reports / "REPORT.md").read_text() == before
    assert cli.main(["report", "--tier", "smoke", "--no-rebuild"]) == 0


@pytest.mark.parametrize("command", ["show", "diff", "accept"])
def test_a_misspelt_claim_id_gets_the_closest_ids_as_run_does(reports, capsys, command):
    assert cli.main(["baseline", command, "REWRAD-4"]) == 2
    err = capsys.readouterr().err
    assert "unknown claim 'REWRAD-4'; did you mean REWARD-4" in err
    assert "GCNAS-2" not in err  # not every ID of every paper


@pytest.mark.parametrize("command", ["show", "diff", "accept"])
def test_baseline_commands_take_a_claim_id_in_any_case_as_run_does(reports, capsys, command):
    """Found 2026-12-07: `nasrepro run --claim reward-4` runs REWARD-4, but `nasrepro
    baseline show reward-4` said "unknown claim 'reward-4'" and listed the known IDs."""
    code = cli.main(["baseline", command, "reward-4"])
    out, err = capsys.readouterr()
    assert "unknown claim" not in err
    if command == "show":
        assert code == 0 and out.startswith("REWARD-4 [smoke] ")
    else:  # no record in this empty reports folder: the command's own message, for REWARD-4
        assert code == 2 and "no record for REWARD-4" in err


def test_cli_list_says_when_the_last_run_stopped_without_a_verdict(reports, capsys):
    """Found 2026-12-07: after `nasrepro run --claim LENET-4` failed on missing MNIST, `nasrepro
    list` said 'not run yet' (REPORT.md: INCOMPLETE with the reason); with an older record
    it showed that record's verdict as the last one."""
    from nasrepro.claims.records import write_incomplete

    res = ClaimResult("REWARD-4", [Measurement("x", 1.0, paper=1.0,
                                               tolerance=Tolerance("absolute", 0.1, "t"))])
    write_record(build_record(res, tier="smoke", paper="REWARD", spec={"statement": "s"},
                              config_hash="h", env={}, started=0.0))
    why = "failed: MNIST file missing: /data/mnist/train-images-idx3-ubyte.gz (sha256 44)"
    write_incomplete("smoke", "LENET-4", why)
    write_incomplete("smoke", "REWARD-4", "failed: bad config")
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    line = next(li for li in lines if li.startswith("LENET-4 "))
    assert "smoke: INCOMPLETE (failed: MNIST file missing: /data/mnist/" in line, line
    assert line.endswith("…)") and "not run yet" not in line
    line = next(li for li in lines if li.startswith("REWARD-4 "))
    assert line.endswith("smoke: REPRODUCED, then INCOMPLETE (failed: bad config)"), line


def test_a_record_of_a_claim_no_paper_has_is_named_not_counted(reports):
    """Found 2026-12-07: a record of a claim ID this checkout's papers lack (a renamed or
    removed claim, another checkout's reports folder) was counted in the header and the
    summary ('smoke tier: 1 NOT REPRODUCED (1 claim)') but shown nowhere in the report."""
    res = ClaimResult("REWARD-9", [Measurement("x", 2.0, paper=1.0,
                                               tolerance=Tolerance("absolute", 0.1, "t"))])
    write_record(build_record(res, tier="smoke", paper="REWARD", spec={"statement": "s"},
                              config_hash="h", env={}, started=0.0))
    text = write_report().read_text()
    assert "from 0 result record(s)" in text and "NOT REPRODUCED (1 claim)" not in text
    assert ("Not shown or counted: 1 record(s) of claims that no paper in reference_results/"
            f"papers has: REWARD-9 (smoke), in {reports / 'results'}/; ") in text


@pytest.mark.parametrize("content", ["{}", "null", '{"claim": "REWARD-1", "tier": "smoke"}'])
@pytest.mark.parametrize("command", [["baseline", "diff", "REWARD-1"],
                                     ["baseline", "accept", "REWARD-1"]])
def test_valid_json_that_is_not_a_record_is_one_line_naming_the_file(reports, capsys,
                                                                      content, command):
    """Found 2026-12-07: a record file holding '{}' (or null, or a record cut down) made
    `nasrepro list`, `report` and `baseline diff` end in a KeyError/TypeError traceback.
    The commands about that one record stop with one line (list and report: the next
    test)."""
    path = reports / "results" / "smoke" / "REWARD-1.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    assert cli.main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"nasrepro: error: {path}: not a result record (no "), err


@pytest.mark.parametrize("bad", [("REWARD-1.json", "{}", "not a result record (no "),
                                 ("REWARD-1.json", '{"claim": "RE', "not valid JSON"),
                                 ("incomplete/REWARD-1.json", "[]", "not an incomplete marker")])
def test_list_and_report_show_every_other_claim_around_an_unreadable_file(reports, capsys,
                                                                           monkeypatch, bad):
    """Found 2026-12-07: one damaged record (or incomplete marker) stopped `nasrepro list`
    and `report` with one line: every other claim's verdict went unseen. Now both show the
    rest, name the damaged file (stderr, and the report's summary) and exit 1."""
    name, content, why = bad
    good = build_record(ClaimResult("REWARD-2", [Measurement(
        "x", 1.0, paper=1.0, tolerance=Tolerance("absolute", 0.1, "t"))]), tier="smoke",
        paper="REWARD", spec={"statement": "s"}, config_hash="h", env={}, started=0.0)
    write_record(good)
    path = reports / "results" / "smoke" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    warning = f"nasrepro: warning: {path}: {why}"
    assert cli.main(["list"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith(warning) and len(err.strip().splitlines()) == 1, err
    lines = out.splitlines()
    assert next(li for li in lines if li.startswith("REWARD-2 ")).endswith("smoke: REPRODUCED")
    kind = "marker" if "incomplete" in name else "record"
    assert next(li for li in lines if li.startswith("REWARD-1 ")).endswith(
        f"smoke: UNREADABLE {kind} (below)")
    assert cli.main(["report", "--no-rebuild"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith(warning) and out.strip() == str(reports / "REPORT.md")
    # found 2026-12-08: the report called the claim 'no record' and said 'run it'
    text = (reports / "REPORT.md").read_text()
    assert f"| REWARD-1 | smoke | UNREADABLE {kind} (named below) | — | — | — |" in text
    assert "| REWARD-1 | — | no record |" not in text
    assert ("### REWARD-1 — unreadable result file\n\n**Claim.** " in text
            and f"No verdict shown: its smoke-tier {kind} cannot be read" in text)
    # a failed rebuild's status wins, and the file is still named
    monkeypatch.setattr(cli, "rebuild_stale_records", lambda tier: 3)
    assert cli.main(["report"]) == 3 and capsys.readouterr().err.startswith(warning)
    if "incomplete" in name:  # the record before the damaged marker is still shown
        write_record(build_record(ClaimResult("REWARD-1", [Measurement(
            "x", 1.0, paper=1.0, tolerance=Tolerance("absolute", 0.1, "t"))]), tier="smoke",
            paper="REWARD", spec={"statement": "s"}, config_hash="h", env={}, started=0.0))
        path.write_text("[]")  # write_record removed the marker
        assert cli.main(["list"]) == 1
        line = next(li for li in capsys.readouterr().out.splitlines()
                    if li.startswith("REWARD-1 "))
        assert line.endswith("smoke: REPRODUCED, then UNREADABLE marker (below)"), line
    text = (reports / "REPORT.md").read_text()
    assert "REWARD-2 — REPRODUCED (smoke" in text and "from 1 result record(s)" in text
    assert (f"Not shown or counted: 1 file(s) in {reports / 'results'}/ that cannot be read: "
            f"{path}: {why}") in text


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA device is visible")
@pytest.mark.parametrize("command", [["show", "LENET-1"], ["record", "--claim", "LENET-1"]])
def test_baseline_device_cuda_without_a_gpu_is_one_line(reports, capsys, monkeypatch,
                                                        command):
    """Found 2026-12-07: `nasrepro baseline show LENET-1 --device cuda` on a CPU-only machine
    ended in torch's 'Torch not compiled with CUDA enabled' traceback; `record` ran pytest
    once per variant, each a usage error."""
    monkeypatch.setattr(cli, "call_child", lambda cmd, **kw: pytest.fail("ran pytest"))
    assert cli.main(["baseline", *command, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device cuda: no CUDA device is visible here" in err[0], err


@pytest.mark.parametrize("content", ['["not", "a", "marker"]', '{"claim": "LENET-4"}', "{"])
def test_a_damaged_incomplete_marker_is_named_not_a_traceback(tmp_path, content):
    """`baseline record` reads why a run wrote no record from the claim's incomplete marker;
    a marker that is a list, lacks 'why' or is cut off raised AttributeError/KeyError there
    (read by hand) instead of saying what is wrong."""
    from nasrepro.claims.baseline_cli import _no_record_why
    from nasrepro.claims.records import incomplete_path

    marker = incomplete_path("smoke", "LENET-4", tmp_path)
    marker.parent.mkdir(parents=True)
    marker.write_text(content)
    why = _no_record_why(tmp_path, "smoke", "LENET-4", 1)
    assert why.startswith("pytest exit 1; its incomplete marker is unreadable (")
    assert str(marker) in why


@pytest.mark.parametrize("argv,usage,unknown", [
    (["list", "--tier", "smoke"], "usage: nasrepro list", "--tier smoke"),
    (["stages", "status", "--bogus"], "usage: nasrepro stages status", "--bogus")])
def test_an_unknown_option_is_named_under_its_subcommand_usage(capsys, argv, usage, unknown):
    """Found 2026-12-08: `nasrepro list --tier smoke` printed the top-level usage (every
    subcommand) above 'unrecognized arguments', not `nasrepro list`'s."""
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith(usage), err
    assert f"error: unrecognized arguments: {unknown}" in err
