"""`nasrepro stages export|import|status`, and the stage-runner options of `nasrepro run`
(--budget, --jobs, --executor, --address)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from nasrepro.parallel import ExecutorChoice


def add_stage_run_options(sp: argparse.ArgumentParser) -> None:
    """--budget / --jobs / --executor / --address on `nasrepro run`."""
    sp.add_argument("--budget", default=None, metavar="TIME",
                    help="run the OPSUB stages first within this time (e.g. 60s, 9m, 1.5h): "
                         "a stage or epoch starts only if its measured time still fits, so a run "
                         "ends at the budget give or take one epoch's variation (finished "
                         "stages stored, the stage in flight checkpointed), then prints what "
                         "is left with an ETA; the OPSUB claims then "
                         "report 'incomplete' until a rerun finishes the stages")
    sp.add_argument("--jobs", type=int, default=None,
                    help="independent units at once: OPSUB stages (distillations and "
                         "fine-tunes after the host; on one GPU they share the device), "
                         "LENET training stacks and search groups (default: each "
                         "experiment's own: 2 worker processes on a CPU for OPSUB stages, "
                         "LENET stacks and GCNAS groups; 1 on a GPU)")
    sp.add_argument("--executor", default="local", choices=("local", "ray"),
                    help="where those units run: local processes, or Ray tasks (pip install "
                         "'nasrepro[ray]'; num_gpus=1/jobs each on CUDA)")
    sp.add_argument("--address", default=None,
                    help="with --executor ray: address of a running Ray cluster (default: "
                         "start a local Ray with --jobs CPUs)")


def _opsub_selected(claims: list[str]) -> bool:
    """Whether the --claim values select any OPSUB claim (all of them read the stages)."""
    from nasrepro.options import claim_matches
    from nasrepro.stages.rebuild import opsub_claims

    return not claims or any(claim_matches(cid, c) for cid in opsub_claims() for c in claims)


def run_stages_first(args: argparse.Namespace, started: float) -> dict[str, str] | None:
    """With --budget, --jobs > 1 or --executor ray (and OPSUB selected): run the OPSUB stages
    through the stage runner, then return the environment under which the claim tests only
    assemble stored stages (None: plain run, nothing to do here)."""
    from nasrepro.claims.session import resolve_device
    from nasrepro.experiments.opsub import DEADLINE_ENV, STAGES_ENV, TIERS
    from nasrepro.stages.budget import parse_duration
    from nasrepro.stages.executors import make_executor
    from nasrepro.stages.runner import run_opsub_stages

    if args.budget is None and args.jobs in (None, 1) and args.executor == "local" \
            and not args.address:
        return None
    budget = parse_duration(args.budget) if args.budget is not None else None
    if not _opsub_selected(args.claim):
        if args.budget is not None:
            print("nasrepro: --budget drives the OPSUB stages; no OPSUB claim is selected, so "
                  "it has no effect", flush=True)
        return None
    device = resolve_device(args.device)
    if TIERS[args.tier]["needs_cuda"] and device != "cuda":
        print(f"OPSUB {args.tier}-tier stages need CUDA: stage runner skipped (the claims say why)",
              flush=True)
    else:
        from nasrepro.parallel import cpu_default_jobs

        jobs = args.jobs or cpu_default_jobs(device)  # as a run without --budget: 2 on a CPU
        executor = make_executor(args.executor, jobs, device, args.address)
        run_opsub_stages(args.tier, device, args.seeds, executor, jobs, budget, started,
                         log=lambda line: print(line, flush=True))
    env = {**os.environ, STAGES_ENV: "stored"}
    if budget is not None:
        env[DEADLINE_ENV] = repr(started + budget)
    return env


def executor_env(choice: ExecutorChoice, env: dict[str, str] | None
                 ) -> dict[str, str] | None:
    """`env` (None: this process's) plus the validated --executor / --jobs / --address for
    the pytest run, where LENET training stacks and search groups read them
    (nasrepro.parallel); `env` unchanged when none of them was given."""
    if choice == ExecutorChoice():
        return env
    return {**(env if env is not None else os.environ), **choice.env()}


def _device(requested: str) -> str:
    from nasrepro.claims.session import resolve_device

    return resolve_device(requested)


def _cmd_export(args: argparse.Namespace) -> int:
    from nasrepro.stages.bundle import export_stages

    m = export_stages(args.tier, _device(args.device), Path(args.dest), args.seeds)
    print(f"exported {len(m['files'])} file(s) of {len(m['stage_ids'])} stage(s) "
          f"({m['tier']}, {m['device']}) to {args.dest}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from nasrepro.stages.bundle import import_stages

    out = import_stages(Path(args.src))
    print(f"imported {len(out['imported'])} file(s), kept {len(out['kept'])} already stored "
          f"({out['tier']}, {out['device']}) into {out['store']}")
    print(import_next_step(out["tier"], out["device"], out["seeds"]))
    return 0


def import_next_step(tier: str, device: str, seeds: int | None) -> str:
    """What to run after an import: `nasrepro report` when every stage is stored (it
    rebuilds the records without training), else the run that computes the rest."""
    from nasrepro.experiments.opsub import stage_graph, stage_store, stages_left

    graph = stage_graph(tier, device, seeds)
    done = len(graph) - len(stages_left(graph, stage_store(tier, device, seeds)))
    run = f"nasrepro run --tier {tier} --claim OPSUB" + (f" --seeds {seeds}" if seeds else "")
    if done < len(graph):
        return (f"{done} of {len(graph)} stages stored: `{run}` computes the other "
                f"{len(graph) - done} here (add --budget TIME to stop in time)")
    if seeds is not None:  # `nasrepro report` rebuilds the default seeds' records only
        return f"every stage is stored: `{run}` writes the OPSUB records (no training)"
    return (f"every stage is stored: `nasrepro report --tier {tier}` renders the report, "
            "first writing from them each OPSUB record that is missing or older (no training)")


def _cmd_status(args: argparse.Namespace) -> int:
    from nasrepro.experiments.opsub import TIERS, stage_graph, stage_store
    from nasrepro.parallel import check_choice
    from nasrepro.stages.eta import status

    check_choice("local", args.jobs, None)  # --jobs 0: one line, exit 2
    device = _device(args.device)
    store = stage_store(args.tier, device, args.seeds)
    print(f"OPSUB stages ({args.tier}, {device}): {store.root}")
    for line in status(stage_graph(args.tier, device, args.seeds), store, args.tier).lines(
            args.jobs):
        print(line)
    if TIERS[args.tier]["needs_cuda"] and device != "cuda":
        print(f"note: the {args.tier} tier's stages run on CUDA only; here its claims are "
              f"judged from committed results alone ({committed_state(args.tier, args.seeds)}"
              "; `nasrepro stages commit` on the GPU machine writes them)")
    return 0


def committed_state(tier: str, seeds: int | None) -> str:
    """One phrase: are this tier's committed stage results complete for this checkout?"""
    from nasrepro.stages.committed import committed_dir, committed_result

    result, why = committed_result(tier, seeds)
    if result is not None:
        return f"complete in {committed_dir(tier)}"
    return why or f"none in {committed_dir(tier)}"


def _cmd_commit(args: argparse.Namespace) -> int:
    from nasrepro.errors import ConfigError
    from nasrepro.experiments.opsub import stage_keys, stage_store
    from nasrepro.stages.committed import committed_dir, committed_result, write_committed
    from nasrepro.stages.host_weights import HOST_FILE, write_host_weights

    device = _device(args.device)
    if args.host:
        complete, _ = committed_result(args.tier, args.seeds)
        fp32_based = not (committed_dir(args.tier) / HOST_FILE).exists()
        if complete is not None and fp32_based and not args.force:
            raise ConfigError(
                f"the committed {args.tier}-tier stage results in {committed_dir(args.tier)} "
                "are complete and were computed from the fp32 host: committing the bf16 host "
                "would re-key every stage after it, and the claims could no longer be judged "
                "from them. Leave it out, or pass --force (then rerun those stages from it)")
        store = stage_store(args.tier, device, args.seeds)
        base = store.load_result(stage_keys(args.tier, device, args.seeds)["baseline"])
        import statistics

        from nasrepro.experiments.opsub import OpsubRun

        prov = write_host_weights(args.tier, base["state"], base["test_acc"],
                                  statistics.median(base["hist"].epoch_time), device,
                                  rounded_acc=OpsubRun(args.tier, device, log=None).host_accuracy)
        print(f"wrote the bf16 host and its provenance: {prov}. Every checkout with it "
              "re-keys the stages after the host (they start from the bf16 host); commit "
              "their results after rerunning them")
        return 0
    names = write_committed(args.tier, device, args.seeds)
    print(f"wrote {len(names)} stage result(s) as JSON to {committed_dir(args.tier)}; "
          "review and commit them")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from nasrepro.errors import ConfigError
    from nasrepro.stages.compare import record_differences

    for folder in (args.a, args.b):
        if not Path(folder).is_dir():
            raise ConfigError(f"{folder}: no such folder (give two results folders, e.g. "
                              "reports/results/smoke)")
    diffs = record_differences(Path(args.a), Path(args.b))
    if diffs:
        print(f"OPSUB records differ ({len(diffs)}): " + "; ".join(diffs[:5]))
        return 1
    n = len(list(Path(args.a).glob("OPSUB-*.json")))
    print(f"OPSUB records equal: {n} record(s), every measurement identical ({args.a} vs "
          f"{args.b})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `nasrepro stages {export,import,status,commit,compare}`."""
    from nasrepro.cli import HelpFormatter

    d = HelpFormatter
    sp = sub.add_parser("stages", help="OPSUB stage results: status, export/import bundles, "
                                       "commit, compare")
    ss = sp.add_subparsers(dest="stages_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tier", default="smoke", choices=("smoke", "full"),
                       help="whose stages (default: smoke)")
        p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                       help="the device the stages were computed on")
        p.add_argument("--seeds", type=int, default=None, help="as given to `nasrepro run`")

    p = ss.add_parser("export", formatter_class=d,
                      help="bundle finished stages (+ checkpoints) with a sha256 manifest")
    common(p)
    p.add_argument("dest", help="a new folder, or a file ending in .tar")
    p.set_defaults(func=_cmd_export)
    p = ss.add_parser("import", formatter_class=d,
                      help="verify a bundle (sha256, stage keys) and add its stages here")
    p.add_argument("src", help="bundle folder or .tar")
    p.set_defaults(func=_cmd_import)
    p = ss.add_parser("status", formatter_class=d,
                      help="done / left stages with an ETA from measured epoch times")
    common(p)
    p.add_argument("--jobs", type=int, default=1, help="concurrent stages for the ETA")
    p.set_defaults(func=_cmd_status)
    p = ss.add_parser("commit", formatter_class=d,
                      help="write finished stage results as JSON (no weights) under "
                           "reference_results/opsub_stages/<tier>/ for committing")
    common(p)
    p.add_argument("--host", action="store_true",
                   help="instead: the trained host as a bf16 state dict with provenance "
                        "(<= 5 MB); it then replaces the baseline stage on every checkout")
    p.add_argument("--force", action="store_true",
                   help="with --host: even when the committed results are complete (they "
                        "then no longer match and must be recomputed from the bf16 host)")
    p.set_defaults(func=_cmd_commit)
    p = ss.add_parser("compare", help="exit 1 unless two results folders hold equal OPSUB "
                                      "records (measurements and verdicts)")
    p.add_argument("a", help="e.g. reports/results/smoke")
    p.add_argument("b")
    p.set_defaults(func=_cmd_compare)
