"""Bad options and bad inputs are one clear line with a non-zero exit, and nothing is written
(pytest and `nasrepro run` / `nasrepro nb201 export`); data errors in a test are one line."""

import importlib.util
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from nasrepro import cli
from nasrepro.data import nb201
from nasrepro.errors import ConfigError, DataError
from nasrepro.options import check_claims, check_seeds, claim_matches, cuda_available

REPO = Path(__file__).resolve().parents[2]
no_cuda = pytest.mark.skipif(cuda_available(), reason="a CUDA device is visible")


def _pytest(args: list[str], tmp_path: Path, **env: str) -> tuple[int, list[str]]:
    """Run pytest on the repository in a subprocess; (exit code, non-empty output lines)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO),
                "NASREPRO_REPORTS": str(tmp_path / "reports"), **env}
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                       cwd=REPO, env=full_env, capture_output=True, text=True, timeout=300)
    return p.returncode, [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]


REWARD_1 = "suite/reward/test_reward_1.py"
BAD_OPTIONS = [
    (["--seeds", "0"], "--seeds 0: need at least 1 seed"),
    (["--seeds", "-3"], "--seeds -3: need at least 1 seed"),
    (["--claim", "NOPE"], "--claim NOPE matches no claim; papers: GCNAS, LENET, OPSUB, REWARD"),
    (["--claim", "REWAD-4"], "did you mean REWARD-4"),
    (["--jobs", "0"], "--jobs 0: need at least 1"),
    (["--address", "head:6379"], "needs --executor ray"),
]
# The pytest subprocesses of this module by name: (arguments, environment); "{tmp}" in a
# value is the run's own temporary folder (its reports folder is <tmp>/reports).
RUNS: dict[str, tuple[list[str], dict[str, str]]] = {
    **{" ".join(args): ([REWARD_1, *args], {}) for args, _ in BAD_OPTIONS},
    "executor env": ([REWARD_1], {"NASREPRO_EXECUTOR": "dask"}),
    "missing data": (["suite/opsub/test_opsub_1.py", "-q"], {"NASREPRO_DATA": "{tmp}/empty"}),
    "claim elsewhere": ([REWARD_1, "--claim", "LENET-4", "-q"], {}),
    **({} if cuda_available() else {
        "cuda": ([REWARD_1, "--device", "cuda"], {}),
        "cuda skipped": ([REWARD_1, "--device", "cuda", "--skip-missing-device", "-rs"], {})}),
}


@pytest.fixture(scope="module")
def pytest_run(tmp_path_factory):
    """All of RUNS, started together when the first is asked for, as many at once as the
    machine has cores (each is a separate cold start, ~2.5 s of imports on one core); a test
    waits for its own run: pytest_run(name) -> (exit code, non-empty output lines, the
    run's temporary folder). Every run is still its own fresh pytest process."""
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    started = {}
    for name, (args, env) in RUNS.items():
        tmp = tmp_path_factory.mktemp("pytest_run")
        env = {k: v.replace("{tmp}", str(tmp)) for k, v in env.items()}
        started[name] = (pool.submit(_pytest, args, tmp, **env), tmp)

    def result(name: str) -> tuple[int, list[str], Path]:
        future, tmp = started[name]
        return (*future.result(), tmp)

    yield result
    pool.shutdown(cancel_futures=True)


@pytest.mark.parametrize(("args", "says"), BAD_OPTIONS)
def test_pytest_bad_option_is_one_line_usage_error(pytest_run, args, says):
    # the probes: --seeds 0 was a 23-line INTERNALERROR; --claim NOPE exited 5 silently
    rc, lines, tmp_path = pytest_run(" ".join(args))
    assert rc == 4
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and says in lines[0], lines
    assert not (tmp_path / "reports").exists()


def test_pytest_bad_executor_in_the_environment_is_one_line_usage_error(pytest_run):
    rc, lines, _ = pytest_run("executor env")
    assert rc == 4 and len(lines) == 1 and "use one of local, ray" in lines[0], lines


@no_cuda
def test_pytest_device_cuda_without_gpu_is_an_error_unless_skipping(pytest_run):
    rc, lines, _ = pytest_run("cuda")
    assert rc == 4 and len(lines) == 1
    assert "--device cuda: no CUDA device is visible" in lines[0]
    assert "--skip-missing-device" in lines[0]
    rc, lines, _ = pytest_run("cuda skipped")
    assert rc == 0
    assert any("no CUDA device is visible" in ln and "SKIPPED" in ln for ln in lines), lines


def test_missing_data_in_a_claim_test_is_one_line_not_a_traceback(pytest_run):
    # the probe: the right message inside a 50-60-line traceback
    rc, lines, tmp_path = pytest_run("missing data")
    assert rc == 1
    msg = [ln for ln in lines if "CIFAR-10 not found: neither" in ln]
    # the failure body, and under CI=true pytest's untruncated short summary repeats it
    assert 1 <= len(msg) <= 2 and all(str(tmp_path / "empty") in m for m in msg), msg
    assert not any(ln.startswith(("E ", ">", "Traceback")) or "raise " in ln for ln in lines)
    assert len(lines) <= 8, lines


def test_claim_matching_rule():
    assert claim_matches("REWARD-4", "reward") and claim_matches("REWARD-4", "REWARD-")
    assert claim_matches("REWARD-4", "REWARD-4")
    assert not claim_matches("REWARD-10", "REWARD-1")
    check_claims(["REWARD", "opsub-3"])
    with pytest.raises(ConfigError, match="did you mean OPSUB"):
        check_claims(["OPSUP"])
    with pytest.raises(ConfigError, match="need at least 1 seed"):
        check_seeds(0)
    check_seeds(None)
    check_seeds(1)


@pytest.mark.parametrize(("args", "says"), [
    (["--seeds", "0"], "--seeds 0: need at least 1 seed"),
    (["--claim", "NOPE"], "--claim NOPE matches no claim"),
    (["--jobs", "0"], "--jobs 0: need at least 1"),
    (["--address", "head:6379", "--claim", "LENET"], "needs --executor ray"),
])
def test_nasrepro_run_bad_option_writes_nothing(tmp_path, monkeypatch, capsys, args, says):
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / "reports"))
    assert cli.main(["run", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("command", [["stages", "status"], ["stages", "commit"],
                                     ["stages", "export", "DEST"]])
def test_stages_commands_refuse_a_seed_count_below_one(tmp_path, monkeypatch, capsys, command):
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / "reports"))
    args = [str(tmp_path / a) if a == "DEST" else a for a in command]
    assert cli.main([*args, "--seeds", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--seeds 0: need at least 1 seed" in err[0]
    assert not (tmp_path / "reports").exists() and not (tmp_path / "DEST").exists()


@no_cuda
def test_nasrepro_run_device_cuda_without_gpu_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / "reports"))
    assert cli.main(["run", "--device", "cuda", "--claim", "REWARD-1"]) == 2
    assert "--device cuda: no CUDA device is visible" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_nasrepro_run_writes_no_report_after_a_pytest_usage_error(tmp_path, monkeypatch,
                                                                   capfd):
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    assert cli.main(["run", "--claim", "REWARD-1", "--", "--no-such-pytest-option"]) == 4
    assert "pytest exited 4 (usage error): no report written" in capfd.readouterr().err
    assert not (tmp_path / "reports" / "REPORT.md").exists()


def test_nasrepro_run_writes_the_report_once(tmp_path, monkeypatch, capfd):
    """The pytest session and then `nasrepro run` both wrote REPORT.md (twice the figures,
    two 'report:' lines); under `nasrepro run` only the CLI writes it, after pytest."""
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    assert cli.main(["run", "--claim", "REWARD-1"]) == 0
    out = capfd.readouterr().out
    assert [ln for ln in out.splitlines() if ln.startswith("report:")] == [
        f"report: {tmp_path / 'reports' / 'REPORT.md'}"], out[-1500:]
    assert "| [REWARD-1](#reward-1-smoke) | smoke |" in (
        tmp_path / "reports" / "REPORT.md").read_text()


def test_nasrepro_run_passes_the_executor_to_pytest_through_the_environment():
    from nasrepro.parallel import check_choice
    from nasrepro.stages.cli import executor_env

    def env_of(argv: list[str], env: dict[str, str] | None) -> dict[str, str] | None:
        args = cli.build_parser().parse_args(["run", "--claim", "LENET", *argv])
        return executor_env(check_choice(args.executor, args.jobs, args.address), env)

    assert env_of([], None) is None  # nothing given: the run is unchanged
    assert env_of(["--jobs", "3"], {"KEEP": "1"}) == {
        "KEEP": "1", "NASREPRO_EXECUTOR": "local", "NASREPRO_JOBS": "3"}
    if importlib.util.find_spec("ray") is not None:
        assert env_of(["--executor", "ray", "--jobs", "3", "--address", "head:6379"], {}) == {
            "NASREPRO_EXECUTOR": "ray", "NASREPRO_JOBS": "3",
            "NASREPRO_RAY_ADDRESS": "head:6379"}


def test_pytest_command_passes_skip_missing_device():
    cmd = cli.pytest_command("smoke", ["REWARD"], None, "cuda", False,
                             skip_missing_device=True)
    assert "--skip-missing-device" in cmd
    assert "--skip-missing-device" not in cli.pytest_command("smoke", [], None, "cpu", False)


# ---------------------------------------------------------------- official NB201 files

@pytest.mark.parametrize(("content", "says"), [
    ({"a": 1, "b": [1, 2]}, r"is a dict without meta_archs, arch2infos, evaluated_indexes "
                            r"\(its keys: 'a', 'b'\); expected the official NAS-Bench-201"),
    ([1, 2, 3], r"holds a list, not a dict; expected the official NAS-Bench-201 file"),
    ({"meta_archs": 1, "arch2infos": 2, "evaluated_indexes": 3},
     r"nas_201_api cannot read it \(AttributeError"),
    ({"meta_archs": [], "arch2infos": {}, "evaluated_indexes": []},
     r"holds no evaluated architectures"),
])
def test_export_malformed_official_file_says_what_and_writes_nothing(tmp_path, capsys,
                                                                     content, says):
    # the probes: AssertionError: Can not find key[meta_archs]; ValueError: invalid type
    src, out = tmp_path / "NAS-Bench-201-v1_1-096897.pth", tmp_path / "out.npz"
    torch.save(content, src)
    with pytest.raises(DataError, match=says):
        nb201.export_official(src, out)
    assert cli.main(["nb201", "export", "--from", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(src) in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_export_directory_or_garbage_is_named_as_such(tmp_path):
    folder = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    folder.mkdir()
    with pytest.raises(DataError, match="is a directory; expected the official"):
        nb201.export_official(folder, tmp_path / "o.npz")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match=r"junk\.pth \(sha256 [0-9a-f]{64}\) is not a readable "
                                        r"torch file \(UnpicklingError"):
        nb201.export_official(junk, tmp_path / "o.npz")
    assert not (tmp_path / "o.npz").exists()


def test_known_claim_outside_the_given_paths_says_so(pytest_run):
    # the probe: a real claim beside a path that does not hold its test exited 5 silently
    rc, lines, _ = pytest_run("claim elsewhere")
    assert rc == 5
    assert any("--claim LENET-4 selects none of the" in ln and "nasrepro list" in ln
               for ln in lines), lines


@pytest.mark.parametrize(("claims", "keyword", "args", "here", "whole"), [
    ([], "", ["suite"], ".", True),                     # `pytest` (testpaths) or `pytest suite`
    ([], "", ["."], ".", True),
    ([], "", ["."], "suite", True),                     # run from suite/: `.` is suite
    ([], "", ["../suite"], "suite", True),
    ([], "", ["suite", "suite/unit"], ".", False),
    ([], "", ["suite/reward"], ".", False),
    ([], "", ["suite/unit/test_mnist.py::test_cli_verify"], ".", False),
    (["REWARD"], "", ["suite"], ".", False),
    ([], "lenet", ["suite"], ".", False),
])
def test_only_the_whole_default_run_is_judged_against_the_folder_budgets(
        tmp_path, claims, keyword, args, here, whole):
    """`pytest --claim REWARD` printed 'OVER BUDGET' for a folder whose budget assumes the
    other folders filled its caches first (new-user walkthrough)."""
    from nasrepro.options import whole_default_run

    (tmp_path / "suite").mkdir()
    # a path list beyond the testpaths (`suite suite/unit`) reads as a selection: not judged
    assert whole_default_run(claims, keyword, args, tmp_path / here, tmp_path,
                             ["suite"]) is whole


@pytest.mark.parametrize("where", ["file", "file/sub"])
@pytest.mark.parametrize("command", [["run", "--claim", "REWARD-1"], ["report"]])
def test_a_reports_folder_that_cannot_be_written_is_one_line_before_anything_runs(
        tmp_path, monkeypatch, capsys, where, command):
    """Found 2026-12-07: $NASREPRO_REPORTS naming a file (or a folder under one) let `nasrepro
    run` run every claim to the end, then lose each record to a NotADirectoryError traceback;
    `nasrepro report` was the same traceback."""
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / where))
    ran = []
    monkeypatch.setattr(cli, "call_child", lambda cmd, **kw: ran.append(cmd) or 0)
    assert cli.main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{tmp_path / 'file'}" in err[0], err
    assert "is not a folder; set $NASREPRO_REPORTS to a folder you can write" in err[0]
    assert not ran and (tmp_path / "file").read_text() == "not a folder"


@pytest.mark.parametrize("pytest_exit", [0, 1])
def test_nasrepro_run_keeps_pytest_status_and_reports_around_a_corrupt_record(
        tmp_path, monkeypatch, capsys, pytest_exit):
    """Found 2026-12-07: a corrupt record of another claim in the reports folder made
    `nasrepro run` exit 2 after its claims ran: a claim that left its baseline (pytest 1)
    read as a usage error, and a clean run (0) too. Then (2026-12-07, later) the report was
    not written at all: one damaged file hid every other claim's verdict. Now the report is
    written, names the file, and the exit status is pytest's."""
    results = tmp_path / "reports" / "results" / "smoke"
    results.mkdir(parents=True)
    (results / "REWARD-4.json").write_text('{"claim": "REWARD-4", "verd')  # cut short
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setattr(cli, "call_child", lambda cmd, **kw: pytest_exit)
    assert cli.main(["run", "--claim", "REWARD-2"]) == pytest_exit
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"nasrepro: warning: {results / 'REWARD-4.json'}: not valid JSON"), err
    text = (tmp_path / "reports" / "REPORT.md").read_text()
    assert f"cannot be read: {results / 'REWARD-4.json'}: not valid JSON" in text


def test_a_closed_output_pipe_is_no_traceback():
    """Found 2026-12-07: `nasrepro list | head -1` (or `baseline show ... | head`) ended in a
    BrokenPipeError traceback once head had gone."""
    read, write = os.pipe()
    os.close(read)  # every write to the pipe now fails, as after `head` exits
    try:
        p = subprocess.run([sys.executable, "-m", "nasrepro.cli", "list"], stdout=write,
                           stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        os.close(write)
    assert p.stderr == "" and p.returncode == 141, p.stderr[-500:]


def test_a_relative_reports_folder_means_the_same_folder_to_pytest_and_to_the_report(
        tmp_path, monkeypatch, capsys):
    """Found 2026-12-07: `NASREPRO_REPORTS=rel nasrepro run --claim REWARD-2` from /tmp: its
    pytest (started in the repository root) wrote the record under <checkout>/rel, and the
    report, rendered from /tmp/rel, said 'REWARD-2 no record' (0 records)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NASREPRO_REPORTS", "rel-reports")
    monkeypatch.setenv("NASREPRO_DATA", "rel-data")
    seen = []
    monkeypatch.setattr(cli, "call_child", lambda cmd, **kw: seen.append(kw["env"]) or 0)
    assert cli.main(["run", "--claim", "REWARD-2"]) == 0
    (env,) = seen
    assert env["NASREPRO_REPORTS"] == str(tmp_path / "rel-reports")
    assert env["NASREPRO_DATA"] == str(tmp_path / "rel-data")
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"report: {tmp_path / 'rel-reports' / 'REPORT.md'}")
