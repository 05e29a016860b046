"""Teeth, measured: a curated set of realistic regressions of the shared code, each applied to
a copy of the checkout and run against the tests that should notice it.

A mutant is killed when at least one of its tests fails (pytest exit 1); it survives when
they all pass. The score and every survivor go to reports/mutants.json and REPORT.md. The
set runs in the nightly env (`nasrepro mutants`), not in the default test run: each mutant
reruns real experiments.

Each mutant names the test files or claims that should catch it: the cheapest tests that a
maintainer would expect to, so the nightly stays within its budget. A mutant whose
replacement text no longer exists in the code is reported as `stale` (fix the catalogue).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasrepro.errors import ConfigError


@dataclass(frozen=True)
class Mutant:
    """One realistic regression: replace `old` by `new` (exactly once) in `path`."""

    name: str
    path: str          # relative to the repository root
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments: files, node ids, or "--claim=ID"
    why: str


MUTANTS: tuple[Mutant, ...] = (
    Mutant("reinforce-lr", "nasrepro/experiments/reward_search.py",
           "FactorizedController(s, g, device=d), lr=0.01,",
           "FactorizedController(s, g, device=d), lr=0.0105,", ("--claim=REWARD-5",),
           "REINFORCE Adam lr 0.01 -> 0.0105 in the search spec"),
    Mutant("inv-schedule-off-by-one", "nasrepro/train/schedules.py",
           "return base_lr * (1.0 + gamma * iteration) ** (-power)",
           "return base_lr * (1.0 + gamma * (iteration + 1)) ** (-power)",
           ("suite/unit/test_schedules.py",),
           "Caffe inv schedule evaluated one iteration late"),
    Mutant("ema-without-bias-correction", "nasrepro/nas/reinforce.py",
           "return self.num / self.den", "return self.num",
           ("suite/unit/test_reinforce_baseline.py",),
           "REINFORCE baseline: EMA without its bias correction"),
    Mutant("proposed-cutoff-moved", "nasrepro/nas/rewards.py",
           "torch.clamp(1.5 * t - latency_ms, min=1.0)",
           "torch.clamp(1.4 * t - latency_ms, min=1.0)",
           ("suite/unit/test_rewards.py", "suite/reward/test_reward_1.py"),
           "the proposed reward's latency cut-off moved from 1.5T to 1.4T (torch path)"),
    Mutant("proposed-cutoff-moved-numpy", "nasrepro/nas/rewards.py",
           "np.maximum(1.5 * t - np.asarray(latency_ms, dtype=np.float64), 1.0)",
           "np.maximum(1.4 * t - np.asarray(latency_ms, dtype=np.float64), 1.0)",
           ("--claim=REWARD-1",),
           "the proposed reward's latency cut-off moved from 1.5T to 1.4T (numpy path)"),
    Mutant("mnasnet-alpha", "nasrepro/nas/rewards.py",
           "alpha: float = -0.07, beta: float = -0.07",
           "alpha: float = -0.05, beta: float = -0.07",
           ("--claim=REWARD-1",), "MnasNet soft reward exponent alpha -0.07 -> -0.05"),
    Mutant("proposed-weights", "nasrepro/nas/rewards.py",
           "x: float = 0.9, y: float = 0.1", "x: float = 0.8, y: float = 0.1",
           ("--claim=REWARD-1",), "proposed reward's accuracy weight x 0.9 -> 0.8"),
    Mutant("gcn-adjacency-zeroed", "nasrepro/nas/controllers/gcn.py",
           "adj = torch.stack(per_seed)[:, None] * truncation_masks(truncate_m)[None]",
           "adj = 0 * torch.stack(per_seed)[:, None] * truncation_masks(truncate_m)[None]",
           ("suite/unit/test_gcn_controller.py",), "the GCN controller's adjacency zeroed"),
    Mutant("lstm-logits-unbounded", "nasrepro/nas/controllers/lstm.py",
           "# [S, 5]\n            logits = self.tanh_constant * torch.tanh(logits / "
           "self.temperature)\n", "# [S, 5]\n",
           ("suite/unit/test_controllers.py::test_lstm_logits_bounded_by_tanh_constant",),
           "the LSTM controller's sample() drops ENAS' tanh bound on its logits (sample_many, "
           "the same line, is caught by the same test)"),
    Mutant("cutout-removed", "nasrepro/data/augment.py",
           "    if cutout_size:\n        x = cutout(x, cutout_size, gen)",
           "    if cutout_size:\n        pass",
           ("suite/unit/test_cifar.py",), "cutout silently dropped from the augmentation"),
    Mutant("flip-removed", "nasrepro/data/augment.py",
           "    if flip:\n        x = random_flip(x, gen)", "    if flip:\n        pass",
           ("suite/unit/test_cifar.py",), "horizontal flip silently dropped"),
    Mutant("crop-never-shifts", "nasrepro/data/augment.py",
           "    dy = torch.randint(0, 2 * padding + 1, (b,), device=x.device, generator=gen)\n"
           "    dx = torch.randint(0, 2 * padding + 1, (b,), device=x.device, generator=gen)\n",
           "    dy = torch.full((b,), padding, device=x.device)\n"
           "    dx = torch.full((b,), padding, device=x.device)\n",
           ("suite/unit/test_cifar.py",),
           "the random crop always cuts the centre window (padding, no shift)"),
    Mutant("opsub-test-split-swapped", "nasrepro/experiments/opsub.py",
           'self.test = cifar.load("test",', 'self.test = cifar.load("train",',
           ("suite/unit/test_opsub_data.py",),
           "OPSUB evaluated on training images instead of the test set"),
    Mutant("wrn-shortcut-input", "nasrepro/models/wrn.py",
           "else self.shortcut(o))", "else self.shortcut(x))",
           ("suite/unit/test_wrn.py",),
           "WRN projection shortcut fed the raw input instead of the pre-activation"),
    Mutant("lenet-gamma", "nasrepro/train/lenet_loop.py",
           "GAMMA, POWER = 0.001, 0.75", "GAMMA, POWER = 0.0001, 0.75",
           ("suite/unit/test_lenet_solver.py",),
           "LeNet inv policy gamma 0.001 -> 0.0001 (Caffe's example value, not the paper's)"),
    Mutant("lenet-inv-caller-off-by-one", "nasrepro/train/lenet_loop.py",
           "self.opt.step(self.lr(self.iteration))",
           "self.opt.step(self.lr(self.iteration + 1))",
           ("suite/unit/test_lenet_solver.py",),
           "the LeNet trainer asks the inv schedule for the next iteration's lr"),
    Mutant("lenet-bias-lr-mult", "nasrepro/models/lenet.py",
           "def __init__(self, model: nn.Module, momentum: float = 0.9, "
           "weight_decay: float = 5e-4,\n                 bias_lr_mult: float = 2.0)",
           "def __init__(self, model: nn.Module, momentum: float = 0.9, "
           "weight_decay: float = 5e-4,\n                 bias_lr_mult: float = 1.0)",
           ("suite/unit/test_lenet_solver.py",), "LeNet bias lr multiplier 2 -> 1"),
    Mutant("lenet-weight-decay-dropped", "nasrepro/models/lenet.py",
           "g = p.grad.add(p, alpha=self.weight_decay)\n            v.mul_(self.momentum)"
           ".addcmul_(g, lr_k)",
           "g = p.grad\n            v.mul_(self.momentum).addcmul_(g, lr_k)",
           ("suite/unit/test_lenet_solver.py",), "LeNet SGD step without weight decay"),
    Mutant("lenet-momentum", "nasrepro/train/lenet_loop.py",
           "self.opt = StackedCaffeSGD(self.model)",
           "self.opt = StackedCaffeSGD(self.model, momentum=0.95)",
           ("suite/unit/test_lenet_solver.py",), "LeNet SGD momentum 0.9 -> 0.95"),
    Mutant("gcn-temperature", "nasrepro/experiments/gcnas.py",
           '"temperature": 5.0,', '"temperature": 4.0,', ("--claim=GCNAS-1",),
           "GCN controller's softmax temperature 5 -> 4 in the experiment spec"),
    # the gate, its keys and the resumable stages: regressions that turn the suite's own
    # judgement soft, the kind no paper number shows
    Mutant("gate-band-doubled", "nasrepro/claims/baselines.py",
           "lo, hi = min(centers) - band, max(centers) + band",
           "lo, hi = min(centers) - 2 * band, max(centers) + 2 * band",
           ("suite/unit/test_gate.py", "suite/unit/test_claims_core.py"),
           "the baseline gate lets a measurement move twice its band"),
    Mutant("gate-verdict-change-not-gated", "nasrepro/claims/baselines.py",
           'problems.append(f"verdict changed: accepted',
           'info.append(f"verdict changed: accepted',
           ("suite/unit/test_gate.py", "suite/unit/test_claims_core.py"),
           "a changed verdict is reported as information instead of failing the gate"),
    Mutant("gate-lost-measurement-not-gated", "nasrepro/claims/baselines.py",
           'problems.extend(f"measurement {n!r} disappeared"',
           'info.extend(f"measurement {n!r} disappeared"',
           ("suite/unit/test_gate.py", "suite/unit/test_claims_core.py"),
           "a measurement missing from a new record passes the gate"),
    Mutant("gate-knife-edge-without-width", "nasrepro/claims/baselines.py",
           "if lo - width <= b <= hi + width:", "if lo <= b <= hi:",
           ("suite/unit/test_gate.py",),
           "a timing verdict near its bound (within the accepted range's width) is gated"),
    Mutant("class-without-cpu-capability", "nasrepro/measure/environment.py",
           'path = aten + ("".join(',
           'path = ("".join(',
           ("suite/unit/test_gate.py",),
           "the machine class forgets the CPU code path (AVX2 and AVX-512 share baselines)"),
    Mutant("class-without-library-levels", "nasrepro/measure/environment.py",
           "if level != aten) if aten in LEVELS else", "if False) if aten in LEVELS else",
           ("suite/unit/test_gate.py",),
           "ATen capped alone is keyed as the capped class although MKL and oneDNN keep the "
           "CPU's kernels (it then fails that class's baselines with no code change)"),
    Mutant("stage-key-distill-not-chained", "nasrepro/experiments/opsub.py",
           '{"after": keys["baseline"], "distill": t["distill"], "pos": pp, "cand": c})',
           '{"distill": t["distill"], "pos": pp, "cand": c})',
           ("suite/unit/test_stage_keys.py",),
           "a distillation stage's key omits the host it distils from"),
    Mutant("stage-key-finetune-not-chained", "nasrepro/experiments/opsub.py",
           '{"after": d, "finetune": t["finetune"], "seed": 0})',
           '{"after": keys["baseline"], "finetune": t["finetune"], "seed": 0})',
           ("suite/unit/test_stage_keys.py",),
           "a substituted fine-tune's key omits the distillation it starts from"),
    Mutant("bundle-files-unverified", "nasrepro/stages/bundle.py",
           "if got != want:", "if not got:",
           ("suite/unit/test_stage_runner.py::test_bundle_round_trip_and_checks",),
           "`stages import` no longer checks each file's sha256 against the manifest"),
    Mutant("bundle-keys-by-name-only", "nasrepro/stages/bundle.py",
           'for n, i in m["stage_ids"].items() if here.get(n) != i]',
           'for n, i in m["stage_ids"].items() if n not in here]',
           ("suite/unit/test_stage_runner.py::test_bundle_round_trip_and_checks",),
           "`stages import` accepts stages computed under other keys (other code or data)"),
    Mutant("host-weights-unverified", "nasrepro/stages/host_weights.py",
           'if got != prov["sha256"]:', "if not got:",
           ("suite/unit/test_stage_runner.py::"
            "test_committed_bf16_host_verifies_and_seeds_the_baseline",),
           "a committed bf16 host is used without checking its sha256"),
    Mutant("resume-without-rng-state", "nasrepro/train/loop.py",
           '        gen.set_state(state["gen"])\n', "",
           ("suite/unit/test_checkpoint.py",),
           "a resumed training stage restarts its random stream (augmentation, order)"),
    Mutant("distill-resume-without-optimizer", "nasrepro/train/distill.py",
           '        opt.load_state_dict(state["opt"])\n', "",
           ("suite/unit/test_checkpoint.py",),
           "a resumed distillation restarts Adam's moments"),
    Mutant("distill-resume-ignored", "nasrepro/train/distill.py",
           "    state = progress.load()\n", "    state = None\n",
           ("suite/unit/test_checkpoint.py",),
           "a distillation ignores its checkpoint and recomputes the stage from epoch 1"),
    Mutant("budget-ignored", "nasrepro/stages/budget.py",
           "return self.deadline is not None and now + took > self.deadline",
           "return self.deadline is None and now + took > self.deadline",
           ("suite/unit/test_stage_runner.py::"
            "test_budgeted_runs_stop_at_epochs_and_resume_to_identical_results",
            "suite/unit/test_stage_runner.py::"
            "test_the_speed_stage_stops_between_its_timings_under_a_budget"),
           "--budget never stops a stage"),
    Mutant("distill-teacher-in-train-mode", "nasrepro/train/distill.py",
           "    teacher.eval()\n    for p in teacher.parameters():",
           "    for p in teacher.parameters():",
           ("suite/unit/test_distill.py",),
           "the frozen teacher distils in train mode (batch-norm batch statistics, running "
           "statistics drift)"),
    Mutant("cudnn-autotuning", "nasrepro/train/perf.py",
           "torch.backends.cudnn.benchmark = False", "torch.backends.cudnn.benchmark = True",
           ("suite/unit/test_gpu_paths.py",),
           "cuDNN autotunes again: a GPU stage re-run no longer equals the first run bit for bit"),
    Mutant("stored-only-computes", "nasrepro/experiments/cache.py",
           "return out if hits[0] else NOT_STORED", "return out",
           ("suite/unit/test_claims_core.py",),
           "a unit that read no cached result counts as stored and runs in the driver"),
    Mutant("thread-count-leaks", "nasrepro/train/threads.py",
           "        torch.set_num_threads(before)\n", "        pass\n",
           ("suite/unit/test_lenet.py",),
           "a LeNet stack leaves torch pinned to one thread for the rest of the process"),
    Mutant("speed-gate-credits-a-faster-machine", "nasrepro/measure/speed_gate.py",
           "return max(1.0, statistics.median(first[k] / base[k] for k in common))",
           "return statistics.median(first[k] / base[k] for k in common)",
           ("suite/unit/test_speed_gate.py",),
           "the speed gate divides by a machine factor below 1 (a faster machine hides nothing, "
           "but flags benchmarks that did not speed up with it)"),
    Mutant("speed-gate-last-timing-counts", "nasrepro/measure/speed_gate.py",
           "best[k] = min(best[k], again[k])", "best[k] = again[k]",
           ("suite/unit/test_speed_gate.py",),
           "a benchmark's retry replaces its best median instead of keeping the best"),
    Mutant("lenet-spread-unpaired", "nasrepro/train/lenet_timing.py",
           "ratios = [same_repeat_ratio(per_case, k, ref) for k in keys]",
           "ratios = [float(np.median(per_case[k])) for k in keys]",
           ("suite/unit/test_lenet_timing_ratios.py",),
           "LENET-2's spread from the cases' own medians (machine drift not cancelled)"),
    Mutant("lenet-run-key-without-data", "nasrepro/experiments/lenet.py",
           '"code": _run_code_hash(), "data": mnist_fingerprint(),',
           '"code": _run_code_hash(),',
           ("suite/unit/test_robust_data_keys.py",),
           "a cached LeNet run is served past corrupt MNIST files (its key skips the data check)"),
    Mutant("km-censored-as-events", "nasrepro/claims/survival.py",
           "return sps.CensoredData(uncensored=t[o], right=t[~o])",
           "return sps.CensoredData(uncensored=t)",
           ("suite/unit/test_stats.py",),
           "Kaplan-Meier counts a run censored at the horizon as settling there (REWARD-4's "
           "'median not reached' would become a number)"),
    Mutant("logrank-two-sided", "nasrepro/claims/survival.py",
           'censored_data(y_times, y_observed), alternative="greater")',
           'censored_data(y_times, y_observed), alternative="two-sided")',
           ("suite/unit/test_stats.py",),
           "'settles sooner' tested two-sided: a reward that settles later would pass too"),
    Mutant("mann-whitney-direction", "nasrepro/claims/stats.py",
           'p = float(sps.mannwhitneyu(xa, ya, alternative="less", method=method,',
           'p = float(sps.mannwhitneyu(xa, ya, alternative="greater", method=method,',
           ("suite/unit/test_stats.py",),
           "the one-sided Mann-Whitney test asks the opposite direction"),
)


def _copy_checkout(root: Path, dest: Path) -> None:
    ignore = shutil.ignore_patterns(".git", ".tox", "reports", "__pycache__", "*.egg-info",
                                    ".hypothesis", ".benchmarks", ".venv", ".whl", ".devdata")
    shutil.copytree(root, dest, ignore=ignore, symlinks=True)


def apply(mutant: Mutant, root: Path) -> None:
    """Apply a mutant to the checkout at `root` (its text must occur exactly once)."""
    path = root / mutant.path
    text = path.read_text(encoding="utf-8")
    n = text.count(mutant.old)
    if n != 1:
        raise ConfigError(f"mutant {mutant.name}: expected its text once in {mutant.path}, "
                          f"found {n} times (stale catalogue entry)")
    path.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")


def run_one(mutant: Mutant, root: Path, timeout_s: float = 1800) -> dict[str, Any]:
    """Apply a mutant to a fresh copy of `root`, run its tests; killed / survived / stale."""
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        copy = Path(tmp) / "repo"
        _copy_checkout(root, copy)
        try:
            apply(mutant, copy)
        except ConfigError as exc:
            return {"name": mutant.name, "status": "stale", "why": mutant.why,
                    "detail": str(exc), "tests": list(mutant.tests), "seconds": 0.0}
        env = {**os.environ, "PYTHONPATH": str(copy), "NASREPRO_ROOT": str(copy),
               "NASREPRO_REPORTS": str(Path(tmp) / "reports")}
        cmd = [sys.executable, "-m", "pytest", *mutant.tests, "-x", "-q",
               "-p", "no:cacheprovider", "--benchmark-disable", "-o", "addopts="]
        try:
            proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True,
                                  timeout=timeout_s)
            rc, out = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired:
            rc, out = -1, f"timed out after {timeout_s:.0f} s"
    failed = [ln for ln in out.splitlines() if ln.startswith(("FAILED", "ERROR"))]
    status = {0: "survived", 1: "killed"}.get(rc, "error")
    return {"name": mutant.name, "status": status, "why": mutant.why, "exit": rc,
            "tests": list(mutant.tests), "caught_by": failed[:3],
            "detail": "" if status != "error" else out[-500:],
            "seconds": round(time.time() - t0, 1)}


def score(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Mutation score = killed / (killed + survived + error); stale ones are listed apart."""
    judged = [r for r in results if r["status"] != "stale"]
    killed = sum(r["status"] == "killed" for r in judged)
    return {"killed": killed, "judged": len(judged),
            "score": killed / len(judged) if judged else None,
            "survivors": [r["name"] for r in judged if r["status"] != "killed"],
            "stale": [r["name"] for r in results if r["status"] == "stale"]}


def mutants_path() -> Path:
    """reports/mutants.json: the last mutation run (rendered into REPORT.md)."""
    from nasrepro.paths import reports_dir

    return reports_dir() / "mutants.json"


def committed_mutants_path() -> Path:
    """reference_results/mutants.json: the mutation run committed with the code (`--save`);
    the report falls back to it, labelled with its date and git sha."""
    from nasrepro.paths import reference_dir

    return reference_dir() / "mutants.json"


def _cmd_mutants(args: argparse.Namespace) -> int:
    from nasrepro.files import atomic_write_json
    from nasrepro.measure.environment import fingerprint
    from nasrepro.paths import repo_root

    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    unknown = set(args.only) - {m.name for m in MUTANTS}
    if unknown:
        raise ConfigError(f"unknown mutant(s) {sorted(unknown)}; `nasrepro mutants --list`")
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:<30} {m.path}: {m.why}  [tests: {' '.join(m.tests)}]")
        return 0
    results = []
    for i, m in enumerate(chosen, 1):
        print(f"[mutants] {i}/{len(chosen)} {m.name}: {m.why} ...", flush=True)
        r = run_one(m, repo_root())
        results.append(r)
        print(f"[mutants]   {r['status']} in {r['seconds']:.0f} s"
              + (f" by {r['caught_by'][0]}" if r.get("caught_by") else ""), flush=True)
    summary = score(results)
    data = {"summary": summary, "mutants": results, "env": fingerprint("cpu"),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_json(mutants_path(), data)
    if args.save:
        if args.only:
            raise ConfigError("--save stores a run of the whole catalogue; drop --only")
        atomic_write_json(committed_mutants_path(), data)
        print(f"[mutants] saved to {committed_mutants_path()} (commit it)")
    pct = f"{summary['score']:.0%}" if summary["score"] is not None else "—"
    print(f"[mutants] score {summary['killed']}/{summary['judged']} = {pct}; survivors: "
          f"{', '.join(summary['survivors']) or 'none'}; stale: "
          f"{', '.join(summary['stale']) or 'none'}; written to {mutants_path()}")
    return 0 if not summary["survivors"] and not summary["stale"] else 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add `nasrepro mutants` to the CLI."""
    from nasrepro.cli import HelpFormatter

    p = sub.add_parser("mutants", help="run the curated regression mutants (nightly)",
                       formatter_class=HelpFormatter,
                       description=__doc__)
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only these mutants (repeatable)")
    p.add_argument("--list", action="store_true", help="list the catalogue and exit")
    p.add_argument("--save", action="store_true",
                   help="also store the run under reference_results/ (to commit)")
    p.set_defaults(func=_cmd_mutants)
