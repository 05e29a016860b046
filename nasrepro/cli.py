"""`nasrepro` command line: list | run | report | baseline | bench, plus subcommands that
feature modules register (see EXTENSIONS): each exposes `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasrepro.errors import DataError, NasreproError

# Modules that add subcommands: each defines register(subparsers) -> None.
EXTENSIONS: tuple[str, ...] = ("nasrepro.data.nb201_cli", "nasrepro.data.cli",
                               "nasrepro.claims.baseline_cli", "nasrepro.mutants",
                               "nasrepro.stages.cli")


#: seconds a child gets after Ctrl-C to stop its workers and keep what it finished
CHILD_GRACE_S = 60.0


def call_child(cmd: Sequence[str], **kwargs: Any) -> int:
    """subprocess.call, but a Ctrl-C (which the child gets too, from the terminal) waits for
    the child to stop its own workers instead of killing it after 0.25 s as
    subprocess.call does: a pytest killed mid-shutdown left its worker processes running
    for ever. A second Ctrl-C, or CHILD_GRACE_S, kills it."""
    with subprocess.Popen(cmd, **kwargs) as child:
        try:
            return child.wait()
        except KeyboardInterrupt:
            try:
                child.wait(timeout=CHILD_GRACE_S)
            except (KeyboardInterrupt, subprocess.TimeoutExpired):
                child.kill()
            raise


def _not_compared(record: dict) -> str:
    """' (user overrides seeds=2; not compared)' for a record made with overrides: its verdict
    is not the tier's, and the gate did not compare it with the accepted baseline."""
    over = record.get("overrides") or {}
    return (" (overrides " + ", ".join(f"{k}={v}" for k, v in sorted(over.items()))
            + "; not compared)") if over else ""


def _stopped(marker: dict, limit: int = 60) -> str:
    """A run that stopped without a verdict (records.write_incomplete), shortened for the
    list: 'INCOMPLETE (failed: MNIST file missing: …)'."""
    from nasrepro.report.markdown import clip

    return f"INCOMPLETE ({clip(marker.get('why', ''), limit)})"


def _cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from nasrepro.claims.records import Unreadable, load_incomplete, load_records, locate
    from nasrepro.claims.references import load_papers

    bad: Unreadable = []
    last = {(r["claim"], r["tier"]): r["verdict"] + _not_compared(r)
            for r in load_records(unreadable=bad)}
    # a marker is newer than the tier's record (writing a record removes it)
    for cid, marks in load_incomplete(bad).items():
        for tier, marker in marks.items():
            before = last.get((cid, tier))
            last[(cid, tier)] = (f"{before}, then {_stopped(marker)}" if before
                                 else _stopped(marker))
    for path, _ in bad:
        cid, tier, kind = locate(path)
        said = f"UNREADABLE {kind} (below)"
        before = last.get((cid, tier))  # a marker is newer than the record
        last[(cid, tier)] = f"{before}, then {said}" if before else said
    rows = []
    for paper in load_papers().values():
        for cid, spec in paper.claims.items():
            tiers = ", ".join(spec.tiers) if spec.tiers else "—"
            if not spec.implemented:
                state = "not implemented"
            else:
                state = "; ".join(f"{t}: {last[(cid, t)]}" for t in ("smoke", "full")
                                  if (cid, t) in last) or "not run yet"
            rows.append([cid, paper.id, tiers, state])
    print(tabulate(rows, headers=["claim", "paper", "tiers", "last verdict"]))
    return warn_unreadable(bad)


def warn_unreadable(bad: Sequence[tuple[Path, str]]) -> int:
    """One stderr line per result file that could not be read (the rest were listed or
    reported); 1 when there was any, else 0."""
    for _, why in bad:
        print(f"nasrepro: warning: {why}", file=sys.stderr)
    return 1 if bad else 0


def pytest_command(tier: str, claims: Sequence[str], seeds: int | None, device: str,
                   accept: bool, extra: Sequence[str] = (),
                   skip_missing_device: bool = False) -> list[str]:
    """The pytest command line that runs the claim tests of one tier."""
    from nasrepro.options import SKIP_MISSING_DEVICE
    from nasrepro.paths import repo_root

    cmd = [sys.executable, "-m", "pytest", str(repo_root() / "suite"), "-m", "claim",
           "--tier", tier, "--device", device, "-p", "no:cacheprovider",
           "--benchmark-disable"]
    for c in claims:
        cmd += ["--claim", c]
    if seeds is not None:
        cmd += ["--seeds", str(seeds)]
    if accept:
        cmd.append("--accept-baselines")
    if skip_missing_device:
        cmd.append(SKIP_MISSING_DEVICE)
    return cmd + list(extra)


# pytest exit codes after which no report is written: nothing ran.
NO_REPORT_CODES = {4: "usage error", 5: "no tests collected"}


def _cmd_run(args: argparse.Namespace) -> int:
    from nasrepro.options import check_run_options
    from nasrepro.parallel import check_choice
    from nasrepro.paths import repo_root
    from nasrepro.report.markdown import REPORT_AFTER_ENV, write_report
    from nasrepro.stages.cli import executor_env, run_stages_first

    started = time.time()
    check_run_options(args.seeds, args.claim, args.device, args.skip_missing_device)
    choice = check_choice(args.executor, args.jobs, args.address)
    env = run_stages_first(args, started)  # --budget / --jobs / --executor: OPSUB stages
    env = executor_env(choice, env)  # --jobs / --executor: LENET stacks, search groups
    cmd = pytest_command(args.tier, args.claim, args.seeds, args.device, args.accept_baselines,
                         args.pytest_args, args.skip_missing_device)
    print("+", " ".join(cmd), flush=True)
    # REPORT.md is written once, here, after pytest (the session would write it too)
    env = {**(env if env is not None else os.environ), REPORT_AFTER_ENV: "1"}
    rc = call_child(cmd, cwd=repo_root(), env=env)
    if rc in NO_REPORT_CODES:
        print(f"nasrepro: pytest exited {rc} ({NO_REPORT_CODES[rc]}): no report written",
              file=sys.stderr)
        return rc
    bad: list[tuple[Path, str]] = []
    try:
        print(f"report: {write_report(unreadable=bad)}")
    except NasreproError as exc:  # e.g. a broken paper JSON: the claims' outcome still counts
        print(f"nasrepro: error: report not written: {exc}", file=sys.stderr)
        return rc or 2
    warn_unreadable(bad)  # named in the report too; the claims' outcome is pytest's
    return rc


def rebuild_stale_records(tier: str | None) -> int:
    """Rebuild the OPSUB records that are missing or older than the stage results here
    (e.g. just imported) by running their claim tests on stored stages only; returns
    pytest's exit status (0 when nothing was stale)."""
    from nasrepro.claims.session import resolve_device
    from nasrepro.experiments.opsub import STAGES_ENV
    from nasrepro.paths import repo_root
    from nasrepro.report.markdown import REPORT_AFTER_ENV
    from nasrepro.stages.rebuild import opsub_claims, stale_records

    device, everyone = resolve_device("auto"), opsub_claims()
    rc = 0
    for t in [tier] if tier else ["smoke", "full"]:
        try:
            stale, where = stale_records(t, device)
        except DataError as exc:  # stages stored, but the data that keys them is not here
            print(f"OPSUB ({t}): stored stages not checked for a rebuild: {exc}", file=sys.stderr)
            continue
        if not stale:
            continue
        print(f"OPSUB ({t}): {len(stale)} of {len(everyone)} records missing or older "
              f"than {where}: rebuilding them from those results (no stage trains; OPSUB-5 "
              "re-runs one fine-tune stage as its determinism check where weights are stored)",
              flush=True)
        claims = ["OPSUB"] if stale == everyone else stale
        cmd = pytest_command(t, claims, None, device, False, ["-q"])
        env = {**os.environ, STAGES_ENV: "stored", REPORT_AFTER_ENV: "1"}
        rc = max(rc, call_child(cmd, cwd=repo_root(), env=env))
    return rc


def _cmd_report(args: argparse.Namespace) -> int:
    from nasrepro.errors import ConfigError
    from nasrepro.options import check_reports_dir
    from nasrepro.paths import results_dir
    from nasrepro.report.markdown import write_report

    check_reports_dir()
    rc = 0 if args.no_rebuild else rebuild_stale_records(args.tier)
    if args.tier and not any(results_dir(args.tier).rglob("*.json")):
        raise ConfigError(f"no {args.tier}-tier record in {results_dir(args.tier)}: nothing "
                          f"to report for that tier (REPORT.md left as it was); run `nasrepro "
                          f"run --tier {args.tier}` first, or `nasrepro report` for every tier")
    bad: list[tuple[Path, str]] = []
    print(write_report(args.tier, bad))
    warned = warn_unreadable(bad)  # also after a failed rebuild
    return rc or warned


def bench_command(storage: str, *, save: bool, json_out: str,
                  only: Sequence[str] = ()) -> list[str]:
    """The pytest-benchmark command of `nasrepro bench` (storage = this machine class's
    folder; the run's medians go to `json_out`; `only`: these benchmarks' node ids)."""
    from nasrepro.paths import repo_root

    cmd = [sys.executable, "-m", "pytest", *(only or [str(repo_root() / "suite" / "bench")]),
           "--benchmark-enable", "--benchmark-only", f"--benchmark-storage=file://{storage}",
           f"--benchmark-json={json_out}", "-p", "no:cacheprovider",
           "--benchmark-columns=min,median,iqr,ops,rounds"]
    if save:
        cmd.append("--benchmark-save=baseline")
    return cmd


def _cmd_bench(args: argparse.Namespace) -> int:
    import itertools
    import tempfile

    from nasrepro.errors import ConfigError
    from nasrepro.measure import speed_gate as gate
    from nasrepro.measure.environment import machine_class
    from nasrepro.paths import reference_dir, repo_root

    if args.retries < 0:
        raise ConfigError(f"--retries {args.retries}: need 0 or more")
    mid = machine_class("cpu")  # speed depends on the code path, not the CPU's marketing name
    storage = reference_dir() / "benchmarks" / mid
    limits = gate.class_limits(storage, args.threshold)
    base_path = gate.latest_baseline(storage)
    if base_path is None and not args.save:
        print(f"no speed baseline for machine class {mid} under {storage}: running without a "
              "gate. Record one on a quiet machine with `nasrepro bench --save` (then commit "
              "it).", flush=True)
    with tempfile.TemporaryDirectory(prefix="nasrepro-bench-") as tmp:
        runs = itertools.count(1)

        def timed(only: Sequence[str] = ()) -> tuple[int, dict[str, float]]:
            out = Path(tmp) / f"run{next(runs)}.json"
            cmd = bench_command(str(storage), save=args.save and not only, json_out=str(out),
                                only=only)
            print("+", " ".join(cmd), flush=True)
            code = call_child(cmd + list(args.pytest_args), cwd=repo_root())
            return code, (gate.medians(gate.load(out)) if out.is_file() else {})

        code, first = timed()
        if code != 0 or base_path is None or args.save:
            return code
        base = gate.medians(gate.load(base_path))
        if args.pytest_args:  # a selection (e.g. -k lenet): the others are not gone
            chosen = {k: v for k, v in base.items() if k in first}
            print(f"[bench] a selection: {len(chosen)} of {len(base)} baseline benchmark(s) "
                  "compared", flush=True)
            base = chosen
        factor = gate.machine_factor(base, first)

        def rerun(names: list[str]) -> dict[str, float]:
            print(f"[bench] {len(names)} benchmark(s) over +{limits.threshold:.0%} beyond the "
                  f"machine factor {factor:.2f}: timing them again (noise does not repeat, a "
                  "regression does)", flush=True)
            return timed(names)[1]

        best, times = gate.confirm(base, first, limits.threshold, args.retries, rerun, factor)
    table = gate.rows(base, best, times, factor)
    print(f"speed gate against {base_path.relative_to(repo_root())}; limits ({limits.source}): "
          f"{limits.why}")
    print("\n".join(gate.report_lines(table, limits, factor)), flush=True)
    return 1 if gate.failed(table, limits, factor) else 0


def _cmd_nightly(args: argparse.Namespace) -> int:
    """Default tier (all tests), the speed gates, the mutation run, then the report; the
    exit code is the worst of the steps, and the report is written whatever happened."""
    from nasrepro.paths import repo_root
    from nasrepro.report.markdown import REPORT_AFTER_ENV, write_report

    steps = {
        "default tier": [sys.executable, "-m", "pytest", str(repo_root() / "suite"),
                         "-p", "no:cacheprovider", "-m", ""],  # "": the nightly tests too
        "speed gates": [sys.executable, "-m", "nasrepro.cli", "bench"],
        "mutants": [sys.executable, "-m", "nasrepro.cli", "mutants"],
    }
    codes = {}
    env = {**os.environ, REPORT_AFTER_ENV: "1"}  # written once, below
    for name, cmd in steps.items():
        print(f"== nightly: {name}\n+ {' '.join(cmd)}", flush=True)
        codes[name] = call_child(cmd, cwd=repo_root(), env=env)
    bad: list[tuple[Path, str]] = []
    print(f"report: {write_report(unreadable=bad)}")
    warn_unreadable(bad)
    for name, code in codes.items():
        print(f"nightly {name}: {'ok' if code == 0 else f'FAILED (exit {code})'}")
    return max(codes.values())


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults in --help, except where they say nothing (None, False, []) or the
    help text already states its default in words ('(default: every claim)' was followed by
    '(default: [])')."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default in (None, False, []):
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nasrepro", description="nasrepro: run, judge and report the claims of four "
        "NAS papers (see README.md). Every subcommand has --help.")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("list", help="every claim with its tiers and last verdict",
                        description="Every claim with its tiers and last verdict. Exit "
                                    "status 1 when a result file cannot be read (named on "
                                    "stderr; the rest are listed).")
    sp.set_defaults(func=_cmd_list)

    d = HelpFormatter
    sp = sub.add_parser("run", formatter_class=d,
                        help="run claim tests of a tier, then write reports/REPORT.md",
                        description="Run the claim tests of a tier through pytest, then write "
                                    "reports/REPORT.md. Exit status: pytest's (1 when a claim "
                                    "test failed, e.g. a record left its accepted baseline; the "
                                    "report is still written), 2 for a bad option (nothing "
                                    "runs) or for a report that could not be written after "
                                    "passing claims, 130 when interrupted (what finished is "
                                    "kept; rerun to resume).")
    sp.add_argument("--tier", default="smoke", choices=("smoke", "full"),
                    help="smoke: CPU, minutes; full: paper scale (GPU for WRN/CIFAR)")
    sp.add_argument("--claim", action="append", default=[],
                    help="claim ID or paper prefix, repeatable (default: every claim)")
    sp.add_argument("--seeds", type=int, default=None,
                    help="override every claim's seed count (default: the tier's); the "
                         "records of claims that use seeds are then not compared with the "
                         "accepted baselines")
    sp.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="training device; auto = cuda when visible")
    sp.add_argument("--skip-missing-device", action="store_true",
                    help="with --device cuda and no GPU: skip the claims with the reason "
                         "(without it, that is an error)")
    sp.add_argument("--accept-baselines", action="store_true",
                    help="accept this run's records as the baselines (one run; prefer "
                         "`nasrepro baseline record`)")
    from nasrepro.stages.cli import add_stage_run_options

    add_stage_run_options(sp)
    sp.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    sp.set_defaults(func=_cmd_run)

    sp = sub.add_parser("report", help="render reports/REPORT.md from the records",
                        formatter_class=d,
                        description="Render reports/REPORT.md from the records. OPSUB "
                                    "records missing or older than the stage results here "
                                    "(imported, or committed) are first rebuilt from them "
                                    "without training. Exit status: 0, or that rebuild's "
                                    "pytest status (1 when a rebuilt claim fails its gate), "
                                    "or 1 when a result file cannot be read (the report "
                                    "shows the rest and names it).")
    sp.add_argument("--tier", default=None, choices=("smoke", "full"),
                    help="only this tier's records (default: all tiers)")
    sp.add_argument("--no-rebuild", action="store_true",
                    help="render the records as they are; by default OPSUB records missing "
                         "or older than the stored or committed stage results (e.g. after "
                         "`nasrepro stages import`) are first rebuilt from them, training "
                         "nothing")
    sp.set_defaults(func=_cmd_report)

    sp = sub.add_parser("bench", help="pytest-benchmark speed gates against this machine's "
                                      "stored baseline", formatter_class=d,
                        description="Run the pytest-benchmark speed gates (suite/bench) and "
                                    "compare each median with this machine class's stored "
                                    "baseline, the machine's speed divided out (README, "
                                    "'Speed gates'). Exit status: 1 when a slowdown "
                                    "repeats; pytest's when a benchmark itself fails.")
    sp.add_argument("--save", action="store_true", help="record this machine's baseline")
    sp.add_argument("--threshold", type=float, default=None,
                    help="fail when a median stays this many percent slower than the baseline "
                         "(default: the class's gate.json beside its baseline, else 25)")
    sp.add_argument("--retries", type=int, default=2,
                    help="time a benchmark over the threshold again up to this many times; "
                         "its best median counts")
    sp.add_argument("pytest_args", nargs="*",
                    help="pytest options after --, e.g. -- -k lenet (then only the selected "
                         "benchmarks are compared)")
    sp.set_defaults(func=_cmd_bench)

    sp = sub.add_parser("nightly",
                        help="default tier + speed gates + mutants + report (CI schedule)",
                        description="The scheduled job: every default-tier test with the "
                                    "nightly-marked ones, `nasrepro bench`, `nasrepro "
                                    "mutants`, then the report (written whatever happened). "
                                    "Exit status: the worst of the steps.")
    sp.set_defaults(func=_cmd_nightly)

    for mod in EXTENSIONS:
        importlib.import_module(mod).register(sub)
    return p


def absolute_env_paths() -> None:
    """$NASREPRO_REPORTS and $NASREPRO_DATA as absolute paths, so that the pytest children
    (started in the repository root) and this process mean the same folders: a relative
    reports folder had the records written under the checkout and REPORT.md, rendered here
    from the working directory's, saying 'no record' for the claims just run."""
    from nasrepro.paths import DATA_ENV, REPORTS_ENV

    for var in (REPORTS_ENV, DATA_ENV):
        if os.environ.get(var):
            os.environ[var] = str(Path(os.environ[var]).expanduser().resolve())


def chosen_parser(parser: argparse.ArgumentParser,
                  args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser of the subcommand `args` chose, e.g. `nasrepro stages status`'s."""
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, subs[0].dest, None) if subs else None
        if name is None:
            return parser
        parser = subs[0].choices[name]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nasrepro` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse would name them under the top-level usage, not the subcommand's
        chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    absolute_env_paths()
    try:
        from nasrepro.options import check_seeds

        check_seeds(getattr(args, "seeds", None))  # every subcommand that takes --seeds
        return int(args.func(args) or 0)
    except NasreproError as exc:
        print(f"nasrepro: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nasrepro: interrupted; completed records and cached stages are kept",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`nasrepro list | head -1`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # exit's flush too
        return 141  # 128 + SIGPIPE, as a shell reports a command its pipe stopped


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
