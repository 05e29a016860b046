"""Suite-wide pytest options and the result-recording plugin.

Options: --tier smoke|full, --seeds N, --device auto|cpu|cuda, --skip-missing-device,
--accept-baselines, --claim ID (repeatable; a prefix selects a paper: --claim REWARD),
--executor local|ray, --jobs N, --address ADDR (nasrepro.parallel; passed on through the
environment, where `nasrepro run` puts them too).
Claim tests carry @pytest.mark.claim("ID") and take the `claim` fixture (a nasrepro
ClaimContext). Bad options are a one-line usage error; a nasrepro DataError/ConfigError in
a test is reported as its one-line message.
"""

from __future__ import annotations

import os
import sys

import pytest

from nasrepro.claims.records import contradicting_notes
from nasrepro.claims.session import TIERS, ClaimContext, RunOptions, resolve_device


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nasrepro")
    group.addoption("--tier", default="smoke", choices=TIERS,
                    help="scale of the claim runs: smoke (CPU, minutes) or full (paper scale)")
    group.addoption("--seeds", type=int, default=None,
                    help="override every claim's seed count for this run")
    group.addoption("--device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="training device: auto picks cuda when visible")
    group.addoption("--accept-baselines", action="store_true",
                    help="store this run's records as the accepted baselines of the tier")
    group.addoption("--claim", action="append", default=[], metavar="ID",
                    help="run only these claims (ID or prefix, e.g. REWARD-4 or REWARD)")
    group.addoption("--skip-missing-device", action="store_true",
                    help="with --device cuda and no GPU: skip the claims with the reason "
                         "(without it, that is a usage error)")
    group.addoption("--executor", default=None, choices=("local", "ray"),
                    help="where independent units (LENET training stacks, search groups) run: "
                         "local processes (default) or Ray tasks (pip install "
                         "'nasrepro[ray]')")
    group.addoption("--jobs", type=int, default=None,
                    help="units at once (default: each experiment's own, e.g. 2 LENET "
                         "worker processes on the CPU)")
    group.addoption("--address", default=None,
                    help="with --executor ray: a running Ray cluster (default: a local Ray)")


def pytest_configure(config: pytest.Config) -> None:
    _validate_options(config)
    requested = config.getoption("--device")
    device = resolve_device(requested)
    config.stash[_OPTIONS] = RunOptions(
        tier=config.getoption("--tier"), seeds=config.getoption("--seeds"), device=device,
        accept_baselines=config.getoption("--accept-baselines"))
    config.stash[_REQUESTED_CUDA] = requested == "cuda"
    config.stash[_RECORDS] = []
    _install_progress_writer(config)


def _install_progress_writer(config: pytest.Config) -> None:
    """Long experiments' progress lines (nasrepro.progress) go to the terminal at once, past
    pytest's output capture, so a long claim is never silent (CI logs get the same lines)."""
    from nasrepro import progress

    def write(line: str) -> None:
        capman = config.pluginmanager.getplugin("capturemanager")
        tr = config.pluginmanager.getplugin("terminalreporter")
        if capman is None or tr is None:
            print(line, file=sys.stderr, flush=True)
            return
        with capman.global_and_fixture_disabled():
            tr.write_line(line)
            tr.flush()

    progress.set_writer(write)


def pytest_unconfigure(config: pytest.Config) -> None:
    from nasrepro import progress

    progress.set_writer(None)


def _validate_options(config: pytest.Config) -> None:
    """Bad --seeds / --claim / --device / --jobs / executor: one-line pytest usage error
    (exit 4), nothing run."""
    from nasrepro.errors import NasreproError
    from nasrepro.options import check_run_options

    try:
        check_run_options(config.getoption("--seeds"), config.getoption("--claim"),
                          config.getoption("--device"),
                          config.getoption("--skip-missing-device"))
        _set_executor(config)
    except NasreproError as exc:
        raise pytest.UsageError(str(exc)) from None


def _set_executor(config: pytest.Config) -> None:
    """--executor / --jobs / --address into the environment (where the experiments and their
    worker processes read them); without them, whatever the environment already says."""
    import os

    from nasrepro import parallel

    given = [config.getoption(o) for o in ("--executor", "--jobs", "--address")]
    current = parallel.choice_from_env()  # a bad $NASREPRO_EXECUTOR etc. is a usage error
    if any(v is not None for v in given):
        kind, jobs, address = given
        choice = parallel.check_choice(kind or current.kind,
                                       current.jobs if jobs is None else jobs,
                                       address or current.address)
        os.environ.update(choice.env())


def pytest_runtest_setup(item: pytest.Item) -> None:
    """@pytest.mark.data("cifar10", ...): skip, saying how to get it, when a dataset the test
    reads is not in the data root (nasrepro.data.missing)."""
    from nasrepro import data

    for mark in item.iter_markers("data"):
        for name in mark.args:
            why = data.missing(name)
            if why is not None:
                pytest.skip(why)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A nasrepro DataError / ConfigError (missing or corrupt data, a bad configuration)
    fails the test with its one-line message instead of a traceback (--full-trace keeps
    the traceback); in a claim test it also marks the claim incomplete with that line, so
    the report says why there is no new record instead of 'run the claim'."""
    from nasrepro.errors import NasreproError

    report = yield
    if report.failed and call.excinfo is not None \
            and call.excinfo.errisinstance(NasreproError):
        cid = _claim_id(item)
        if cid is not None:
            from nasrepro.claims.records import write_incomplete

            first_line = str(call.excinfo.value).partition("\n")[0]  # '' for no message
            write_incomplete(item.config.stash[_OPTIONS].tier, cid, f"failed: {first_line}")
        if not item.config.option.fulltrace:
            report.longrepr = call.excinfo.getrepr(style="value", chain=False)
    return report


_OPTIONS = pytest.StashKey[RunOptions]()
_REQUESTED_CUDA = pytest.StashKey[bool]()
_RECORDS = pytest.StashKey[list]()


def _claim_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("claim")
    return marker.args[0] if marker and marker.args else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = [w.upper() for w in config.getoption("--claim")]
    if not wanted:
        return
    from nasrepro.options import claim_matches

    keep, drop = [], []
    for item in items:
        cid = _claim_id(item)
        matched = cid is not None and any(claim_matches(cid, w) for w in wanted)
        (keep if matched else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
    if not keep:
        # a known claim whose test module is not among the given paths: say so (exit 5)
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(f"nasrepro: --claim {' '.join(wanted)} selects none of the {len(drop)}"
                          " collected tests: drop the path arguments, or pass the claim's "
                          "test module (`nasrepro list` names it)", red=True)


@pytest.fixture(scope="session")
def run_options(pytestconfig: pytest.Config) -> RunOptions:
    """The suite-wide options of this run."""
    return pytestconfig.stash[_OPTIONS]


@pytest.fixture
def claim(request: pytest.FixtureRequest, run_options: RunOptions):
    """ClaimContext for the test's claim marker; submit() failures fail the test."""
    cid = _claim_id(request.node)
    if cid is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses `claim` without a claim marker")
    if request.config.stash[_REQUESTED_CUDA]:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("--device cuda was requested but no CUDA device is visible")
    ctx = _RecordingContext(cid, run_options)
    ctx.records = request.config.stash[_RECORDS]
    return ctx


class _RecordingContext(ClaimContext):
    """ClaimContext that turns a baseline mismatch into a test failure and a NOT RUN into
    a skip, and remembers records for the terminal summary."""

    records: list

    def submit(self, result):  # type: ignore[override]
        record, comparison = super().submit(result)
        self.records.append(record)
        stale = contradicting_notes(record)
        if stale:
            pytest.fail(f"{self.claim} [{self.tier}]: " + "; ".join(stale), pytrace=False)
        if not comparison.ok:
            pytest.fail(f"{self.claim} [{self.tier}] verdict {record['verdict']}; baseline "
                        f"{comparison.status} ({comparison.baseline_file}):\n  "
                        + "\n  ".join(comparison.problems), pytrace=False)
        return record, comparison

    def skip_not_run(self, reason: str, config=None) -> None:
        """Record NOT RUN with the reason, then skip the test with the same reason."""
        self.records.append(self.not_run(reason, config))
        from nasrepro.report.markdown import first_clause

        # the whole reason is in the record, the verdict lines and the report; the skip line
        # (one per claim in pytest's summary) keeps its first clause
        pytest.skip(f"{self.claim} NOT RUN: {first_clause(reason)}")


_DURATIONS = pytest.StashKey[dict]()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add each test phase's duration to its suite folder's total (the budget table)."""
    parts = report.nodeid.split("/")
    folder = parts[1] if len(parts) > 2 and parts[0] == "suite" else "other"
    totals = _session_config.stash.setdefault(_DURATIONS, {}) if _session_config else {}
    totals[folder] = totals.get(folder, 0.0) + report.duration


_session_config: pytest.Config | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _session_config
    _session_config = session.config


def _whole_default_run(config: pytest.Config) -> bool:
    from nasrepro.options import whole_default_run

    return whole_default_run(config.getoption("--claim"), config.option.keyword,
                             config.args, config.invocation_params.dir, config.rootpath,
                             config.getini("testpaths"))


def _budget_table(tr, config: pytest.Config) -> None:
    """Time per suite folder against its budget (nasrepro.experiments.SMOKE_BUDGET_S)."""
    from nasrepro.experiments import SMOKE_BUDGET_S
    from nasrepro.measure.environment import machine_class

    totals = config.stash.get(_DURATIONS, {})
    if sum(totals.values()) < 30.0 or config.getoption("--tier") != "smoke":
        return  # a few seconds of tests: nothing to budget
    whole = _whole_default_run(config)
    tr.section(f"nasrepro time per suite folder ({machine_class('cpu')})")
    if not whole:
        tr.write_line("(a selection: the budgets are for the whole default run, whose folders "
                      "share caches, so none is judged here)")
    for folder, secs in sorted(totals.items(), key=lambda kv: -kv[1]):
        budget = SMOKE_BUDGET_S.get(folder)
        over = whole and budget is not None and secs > budget
        tr.write_line(f"{folder:<8} {secs:7.1f} s" + (f"  budget {budget:.0f} s" if budget
                                                      else "")
                      + ("  OVER BUDGET" if over else ""))
    tr.write_line(f"{'total':<8} {sum(totals.values()):7.1f} s")


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    _budget_table(terminalreporter, config)
    records = config.stash.get(_RECORDS, [])
    if not records:
        return
    tr = terminalreporter
    from nasrepro.report.terminal import verdict_lines

    tr.section("nasrepro verdicts")
    for line in verdict_lines(records):
        tr.write_line(line)
    from nasrepro.report.markdown import REPORT_AFTER_ENV, write_report

    if os.environ.get(REPORT_AFTER_ENV):
        return  # `nasrepro run` writes it after pytest
    bad: list = []
    try:
        path = write_report(unreadable=bad)
        tr.write_line(f"report: {path}")
    except Exception as exc:  # the report must never hide the test outcome
        tr.write_line(f"report could not be written: {exc!r}")
    for _, why in bad:  # named in the report too
        tr.write_line(f"warning: {why}")


def _hypothesis_profiles() -> None:
    """Default: derandomized examples so the default run is reproducible; set
    HYPOTHESIS_PROFILE=explore for fresh random examples each run."""
    from hypothesis import settings

    settings.register_profile("nasrepro", derandomize=True, database=None)
    settings.register_profile("explore", derandomize=False)
    import os

    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "nasrepro"))


_hypothesis_profiles()
