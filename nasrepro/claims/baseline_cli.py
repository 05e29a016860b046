"""`nasrepro baseline record | accept | show | diff`: record a claim's accepted distribution
(seeds x CPU code-path variants of a machine class), accept records, and review them.

`record` is the one command that makes a baseline: it runs the claims once per code-path
variant of the target machine class (each in its own reports folder), pools the records per
claim and accepts them. Variants are what a class's machines may differ in without the class
key telling them apart (oneDNN's kernel ISA), plus the environment that makes this machine
take a lower class's code path (ATEN_CPU_CAPABILITY, oneDNN and MKL ISA caps).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from nasrepro.errors import ConfigError, DataError

CAPABILITIES = ("avx512", "avx2", "default")
# env that caps every CPU library at a capability (this machine's native one needs none)
_CAP_ENV: dict[str, dict[str, str]] = {
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "default": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
}
# oneDNN kernels that machines of one class may use (e.g. AVX-512 with or without VNNI/BF16)
_WITHIN_CLASS: dict[str, list[dict[str, str]]] = {
    "avx512": [{}, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}],
    "avx2": [{}],
    "default": [{}],
}


def variants(target: str, native: str) -> list[dict[str, str]]:
    """Environment of each run that records a baseline of capability `target` here."""
    if target not in CAPABILITIES:
        raise ConfigError(f"--class {target!r}: use one of {', '.join(CAPABILITIES)}")
    if CAPABILITIES.index(target) < CAPABILITIES.index(native):
        raise ConfigError(f"this machine's CPU tops out at {native}: it cannot record "
                          f"{target} baselines; run this on a {target} machine")
    base = {} if target == native else dict(_CAP_ENV[target])
    out = []
    for extra in _WITHIN_CLASS[target]:
        env = {**base, **extra}
        if env not in out:
            out.append(env)
    return out


def _check_device(device: str, command: str) -> None:
    """--device cuda needs a visible GPU: its machine class is the GPU model's."""
    from nasrepro.options import cuda_available

    if device == "cuda" and not cuda_available():
        raise ConfigError(f"--device cuda: no CUDA device is visible here (torch.cuda."
                          f"is_available() is False), so there is no GPU machine class to "
                          f"{command}; run it on the GPU machine, or use --device cpu")


def _claims_of(patterns: list[str]) -> list[str]:
    from nasrepro.claims.references import all_claims

    claims = all_claims()
    out = [c for c, s in claims.items() if s.implemented and (
        not patterns or any(c == p.upper() or c.startswith(p.upper().rstrip("-") + "-")
                            for p in patterns))]
    if not out:
        raise ConfigError(f"--claim {' '.join(patterns)} matches no implemented claim")
    return out


def _no_record_why(folder: Path, tier: str, cid: str, code: int) -> str:
    """Why a run of `baseline record` left no record of a claim: the claim test's one-line
    reason when it stopped on a nasrepro error (its incomplete marker), else pytest's exit."""
    from nasrepro.claims.records import incomplete_path, read_marker

    marker = incomplete_path(tier, cid, folder)
    try:
        why = read_marker(marker)["why"] if marker.is_file() else ""
    except DataError as exc:  # a damaged marker: say so, never a traceback
        why = f"pytest exit {code}; its incomplete marker is unreadable ({exc})"
    return why or f"pytest exit {code}; see its output above"


def _cmd_record(args: argparse.Namespace) -> int:
    from nasrepro.claims import baselines
    from nasrepro.claims.records import read_record, record_path
    from nasrepro.claims.references import claim_spec
    from nasrepro.cli import call_child, pytest_command
    from nasrepro.measure.environment import cpu_capability
    from nasrepro.paths import repo_root

    if args.repeats < 1:
        raise ConfigError(f"--repeats {args.repeats}: need at least 1 run per variant")
    _check_device(args.device, "record")
    claims = _claims_of(args.claim)
    native = cpu_capability()
    runs = [(env, rep) for env in variants(args.cls or native, native)
            for rep in range(args.repeats)]
    work = Path(tempfile.mkdtemp(prefix="nasrepro-record-"))
    planned: dict[str, list[tuple[int, Path, int]]] = {c: [] for c in claims}
    rc = 0
    try:
        for i, (env, rep) in enumerate(runs):
            folder = work / f"run{i}"
            name = ", ".join(f"{k}={v}" for k, v in env.items()) or "native"
            # hardware-independent claims run once; the variants re-run the dependent ones
            todo = claims if i == 0 else [c for c in claims
                                          if claim_spec(c).hardware == "dependent"]
            if not todo:
                continue
            print(f"== baseline record: run {i + 1}/{len(runs)} ({name}, repeat {rep + 1}): "
                  f"{' '.join(todo)}", flush=True)
            # every record of a run shares its reports folder; caches are not shared, so
            # each variant really computes under its own code path
            cmd = pytest_command(args.tier, todo, None, args.device, False, ["-q"])
            code = call_child(cmd, cwd=repo_root(),
                              env={**os.environ, **env, "NASREPRO_REPORTS": str(folder)})
            for c in todo:
                planned[c].append((i, folder, code))
        for cid in claims:
            hardware = claim_spec(cid).hardware
            paths = [record_path(args.tier, cid, folder) for _, folder, _ in planned[cid]]
            lost = [run for run, p in zip(planned[cid], paths, strict=True) if not p.is_file()]
            if lost:  # a partial pool would narrow the band
                whys: dict[str, list[str]] = {}  # one reason, once, with its runs
                for i, folder, code in lost:
                    whys.setdefault(_no_record_why(folder, args.tier, cid, code),
                                    []).append(str(i + 1))
                why = "; ".join(f"run{'s' * (len(n) > 1)} {', '.join(n)}: {w}"
                                for w, n in whys.items())
                print(f"{cid}: NOT accepted: {len(lost)} of {len(planned[cid])} run(s) wrote "
                      f"no record ({why})")
                rc = 1
                continue
            recs = [read_record(p) for p in paths]
            # a skipped claim (NOT RUN, nothing measured: e.g. no GPU) has nothing to accept
            recs = [r for r in recs if r["verdict"] != "NOT RUN" or r.get("measurements")]
            if hardware == "independent":
                recs = recs[:1]  # must match everywhere: one run is the baseline
            if not recs:
                print(f"{cid}: no record to accept (not run on this machine)")
                continue
            path = baselines.accept(recs)
            verdicts = ", ".join(r["verdict"] for r in recs)
            print(f"{cid}: accepted {len(recs)} run(s) [{verdicts}] -> {path}")
    finally:
        if args.keep:
            print(f"run folders kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


def _cmd_accept(args: argparse.Namespace) -> int:
    from nasrepro.claims import baselines
    from nasrepro.claims.references import claim_spec

    for cid in args.claims:
        claim_spec(cid)  # validates the ID
        path = baselines.accept_from_results(cid, args.tier, force=args.force,
                                             reports=args.reports or None, add=args.add)
        print(f"accepted {cid} [{args.tier}] -> {path}")
    return 0


def _latest_record(cid: str, tier: str) -> dict[str, Any]:
    from nasrepro.claims.records import read_record, record_path

    path = record_path(tier, cid)
    if not path.is_file():
        raise ConfigError(f"no record for {cid} [{tier}] at {path}: run `nasrepro run --tier "
                          f"{tier} --claim {cid}` first")
    return read_record(path)


def _cmd_show(args: argparse.Namespace) -> int:
    from nasrepro.claims import baselines
    from nasrepro.claims.references import claim_spec
    from nasrepro.measure.environment import machine_class

    _check_device(args.device, "show")
    for cid in args.claims:
        spec = claim_spec(cid)
        cls = machine_class(args.device) if spec.hardware == "dependent" else None
        b = baselines.load_baseline(args.tier, cid, cls)
        where = baselines.baseline_path(args.tier, cid, cls)
        if b is None:
            print(f"{cid} [{args.tier}]: no accepted baseline at {where}")
            continue
        print(f"{cid} [{args.tier}] {where}")
        for r in b["runs"]:
            print(f"  run: {r['verdict']:<15} variant {r['variant']}, {r.get('cpu_model')}, "
                  f"git {str(r.get('git_sha'))[:12]}")
        for m in b["measurements"]:
            accepted = accepted_text([r["values"].get(m["name"]) for r in b["runs"]])
            print(f"  {m['name']}: accepted {accepted}, {band_text(m['band'])}")
    return 0


def accepted_text(values: list[Any]) -> str:
    """The accepted runs' central values as `baseline show/diff` print them: their range,
    and what runs had instead of a number ('no value' for e.g. a KM median never reached,
    'NaN', '+inf'), where a bare '—' said neither."""
    from nasrepro.claims import baselines

    centers = [baselines._center(v) for v in values]
    nums = [c for c in centers if baselines._no_value_kind(c) is None]
    odd = sorted({k for c in centers if (k := baselines._no_value_kind(c)) is not None})
    parts = ([f"[{min(nums):.6g}, {max(nums):.6g}]"] if nums else []) + odd
    return " or ".join(parts) if parts else "nothing (no accepted run)"


def band_text(band: float | None) -> str:
    """A measurement's band as `baseline show/diff` print it: a measurement without one is
    not gated by value (timings: its verdict is), which 'band None' did not say."""
    return "not gated by value (no band)" if band is None else f"band {band:g}"


def _cmd_diff(args: argparse.Namespace) -> int:
    """The accepted baseline against the latest record: verdict, measurements, config, env."""
    from nasrepro.claims import baselines
    from nasrepro.claims.references import claim_spec

    rc = 0
    for cid in args.claims:
        claim_spec(cid)  # validates the ID: an unknown one is not "run it first"
        rec = _latest_record(cid, args.tier)
        path = baselines.path_for(rec)
        base = baselines.load_for(rec)
        print(f"== {cid} [{args.tier}] record vs {path}")
        if base is None:
            print("  no accepted baseline for this record's key")
            continue
        cmp = baselines.compare(rec, base, path=path)
        print(f"  status: {cmp.status}")
        verdicts = sorted({r["verdict"] for r in base["runs"]})
        print(f"  verdict: accepted {' / '.join(verdicts)}, now {rec['verdict']}")
        for line in baselines.config_diff(base["config"], rec["config"]):
            print(f"  config {line}")
        base_m = {m["name"]: m for m in base["measurements"]}
        for m in rec["measurements"]:
            b = base_m.get(m["name"])
            acc = (accepted_text([r["values"].get(m["name"]) for r in base["runs"]]) if b
                   else "—")
            now = m.get("center")
            now_s = (f"{now:.6g}" if isinstance(now, (int, float))
                     else str(now) if now is not None else "no value")
            band = band_text(b.get("band")) if b else "not in the baseline"
            print(f"  {m['name']}: accepted {acc}, {band}; now {now_s}")
        env_then, env_now = base["runs"][-1], rec.get("env", {})
        print(f"  env: accepted on {env_then.get('cpu_model')} ({env_then['variant']}), git "
              f"{str(env_then.get('git_sha'))[:12]}; now {env_now.get('cpu_model')} "
              f"({env_now.get('machine_class')}), git {str(env_now.get('git_sha'))[:12]}")
        for p in cmp.problems:
            print(f"  ! {p}")
        for i in cmp.info:
            print(f"  . {i}")
        rc = rc or (0 if cmp.ok else 1)
    return rc


def register(sub: argparse._SubParsersAction) -> None:
    """Add `nasrepro baseline ...` to the CLI."""
    p = sub.add_parser("baseline", help="record, accept, show or diff accepted baselines",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    bsub = p.add_subparsers(dest="action", required=True)
    from nasrepro.cli import HelpFormatter

    d = HelpFormatter

    sp = bsub.add_parser("record", formatter_class=d,
                         help="run claims under every code-path variant of a machine class "
                              "and accept the pooled records")
    sp.add_argument("--claim", action="append", default=[],
                    help="claim ID or paper prefix (repeatable; default: every claim)")
    sp.add_argument("--tier", default="smoke", choices=("smoke", "full"), help="tier")
    sp.add_argument("--class", dest="cls", default=None, choices=CAPABILITIES,
                    help="CPU capability of the class to record (default: this machine's)")
    sp.add_argument("--repeats", type=int, default=1,
                    help="runs per variant (more capture timing noise)")
    sp.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device")
    sp.add_argument("--keep", action="store_true", help="keep the per-run reports folders")
    sp.set_defaults(func=_cmd_record)

    sp = bsub.add_parser("accept", formatter_class=d,
                         help="accept the latest record(s) of claims as their baseline")
    sp.add_argument("claims", nargs="+", metavar="CLAIM", type=str.upper,
                    help="claim ID (any case, as `nasrepro run --claim` takes it)")
    sp.add_argument("--tier", default="smoke", choices=("smoke", "full"), help="tier")
    sp.add_argument("--from", dest="reports", action="append", type=Path, default=[],
                    metavar="REPORTS_DIR",
                    help="pool the records of several reports folders (repeatable)")
    sp.add_argument("--add", action="store_true",
                    help="pool with the runs already accepted instead of replacing them")
    sp.add_argument("--force", action="store_true",
                    help="accept a record made with user overrides (--seeds)")
    sp.set_defaults(func=_cmd_accept)

    for name, func, what in (("show", _cmd_show, "the accepted runs and ranges"),
                             ("diff", _cmd_diff, "the accepted baseline vs the latest record")):
        sp = bsub.add_parser(name, formatter_class=d, help=what)
        sp.add_argument("claims", nargs="+", metavar="CLAIM", type=str.upper,
                        help="claim ID (any case, as `nasrepro run --claim` takes it)")
        sp.add_argument("--tier", default="smoke", choices=("smoke", "full"), help="tier")
        if name == "show":
            sp.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                            help="device whose machine class to show")
        sp.set_defaults(func=func)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `nasrepro baseline ...`")
