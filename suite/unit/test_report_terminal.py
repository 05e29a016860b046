"""The verdicts block at the end of a pytest run (nasrepro.report.terminal)."""

from nasrepro.report import terminal

CLASS = "cpu-intel-avx512-2c-torch2.13.0_cpu"


def _record(claim, status="match", info=(), verdict="REPRODUCED"):
    return {"claim": claim, "tier": "smoke", "verdict": verdict, "hardware": "dependent",
            "env": {"machine_class": CLASS}, "measurements": [],
            "baseline": {"status": status, "problems": [], "info": list(info)}}


def test_a_repeated_note_is_printed_once():
    reason = "NOT RUN: full tier needs a CUDA GPU; estimated 1-1.5 GPU-hours"
    recs = [_record("OPSUB-1", "not-compared", [reason]),
            _record("OPSUB-2", "not-compared", [reason]),
            _record("LENET-1", info=["other"]), _record("LENET-2", info=["other", reason])]
    assert terminal.info_lines(recs) == [
        [reason], ["NOT RUN: as OPSUB-1"], ["other"], ["same note: as LENET-1",
                                                      "NOT RUN: as OPSUB-1"]]


def test_claims_without_a_baseline_for_the_class_share_one_line_and_one_command():
    note = f"no baseline for machine class {CLASS}: this hardware-dependent claim ..."
    recs = [_record("GCNAS-1", terminal.NO_BASELINE, [note]), _record("REWARD-1"),
            _record("LENET-4", terminal.NO_BASELINE, [note], "NOT REPRODUCED"),
            _record("LENET-5", terminal.NO_BASELINE, [note])]
    lines = terminal.verdict_lines(recs)
    assert len(lines) == 6 and not any(note in line for line in lines)
    assert lines[4] == "smoke tier: 3 REPRODUCED, 1 NOT REPRODUCED (4 claims)"
    assert lines[2].startswith("LENET-4     [smoke] NOT REPRODUCED")
    assert lines[2].endswith("baseline: no-baseline-for-class")
    assert lines[-1].startswith(f"3 hardware-dependent claim(s) judged but not "
                                f"regression-checked: no baseline for machine class {CLASS} "
                                "(GCNAS-1, LENET-4, LENET-5)")
    assert "`nasrepro baseline record --tier smoke --claim GCNAS --claim LENET`" in lines[-1]
    assert terminal.no_baseline_line([_record("REWARD-1")]) is None


def test_one_record_has_no_count_line():
    assert terminal.verdict_lines([_record("REWARD-1")]) == [
        "REWARD-1    [smoke] REPRODUCED                         baseline: match"]


def test_timing_claims_of_an_emulated_class_get_their_own_line_not_the_record_command():
    """The emulated-AVX2 CI run put LENET-1, -2, -9 (timing; their class recorded by
    emulation only) in the no-baseline line, whose command would record this machine's
    native class; they need a real machine of the class."""
    avx2 = "cpu-intel-avx2-2c-torch2.13.0_cpu"
    timing = [_record(c, terminal.NO_BASELINE, ["emulated ..."]) for c in ("LENET-1", "LENET-9")]
    for r in timing:
        r["baseline"]["emulated_only"] = True
        r["env"]["machine_class"] = avx2
    lines = terminal.verdict_lines([*timing, _record("REWARD-1")])
    assert lines[-1] == (
        "2 timing claim(s) judged but not regression-checked: the baselines of machine class "
        f"{avx2} were recorded by emulating its CPU code path, and times depend on the real "
        "microarchitecture (LENET-1, LENET-9). On a real machine of that class, record them "
        "with `nasrepro baseline record --tier smoke --claim LENET`.")
    assert terminal.no_baseline_line(timing) is None


def test_a_run_on_an_emulated_class_is_told_to_record_that_class():
    """The emulated-AVX2 CI step on AMD listed LENET-4..9 without a baseline and told the
    reader `nasrepro baseline record --tier smoke --claim LENET`, which on that AVX-512
    machine records the native class; the command must name the class the run was on."""
    note = "no baseline for machine class cpu-amd-avx2-2c-torch2.13.0_cpu: ..."
    recs = [_record(c, terminal.NO_BASELINE, [note]) for c in ("LENET-4", "LENET-5")]
    for r in recs:
        r["env"] = {"machine_class": "cpu-amd-avx2-2c-torch2.13.0_cpu",
                    "code_path_env": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}
    assert terminal.no_baseline_line(recs).endswith(
        "`nasrepro baseline record --tier smoke --claim LENET --class avx2`.")
    for r in recs:
        r["env"]["code_path_env"] = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}  # a native variant
    assert terminal.no_baseline_line(recs).endswith("--claim LENET`.")


def test_a_mixed_code_path_is_not_told_a_record_command_that_records_another_class():
    """`ATEN_CPU_CAPABILITY=default` alone on an AMD EPYC ran as the mixed class
    'cpu-amd-default+mkl.avx512+onednn.avx512-...'; `baseline record` (native) or with
    `--class default` (all three capped) records other classes, so neither is offered."""
    recs = [_record("GCNAS-1", terminal.NO_BASELINE, ["..."])]
    mixed = "cpu-amd-default+mkl.avx512+onednn.avx512-2c-torch2.13.0_cpu"
    recs[0]["env"] = {"machine_class": mixed, "code_path_env": {"ATEN_CPU_CAPABILITY": "default"}}
    line = terminal.no_baseline_line(recs)
    assert "`nasrepro baseline record --tier" not in line
    assert "together, as `nasrepro baseline record --class` does" in line
