"""GC-NAS (paper D) experiments for GCNAS-1/2: the GCN controller on the REWARD-4 task,
side by side with the RNN (LSTM) controller, NB201's REINFORCE baseline (factorized
policy), random search and regularized evolution.

Same task as REWARD-4 (nasrepro.experiments.reward_search): NB201 CIFAR-100 test accuracy,
the REWARD-4 latency sources and targets T, the MnasNet and proposed rewards, 5000 samples
per search, 250-sample blocks, one architecture per REINFORCE update, base seed 0.

Controller rows (CONTROLLER_ROWS)
  gcn           GCNController (nasrepro.nas.controllers.gcn), REINFORCE
  gcn_shuffled  the same GCN with a randomly relabelled adjacency per seed (ablation);
                batched in the same run as `gcn`, row i of both shares its initialisation
  lstm          REWARD-4's LSTM ("RNN controller": NB201-ENAS's network, trained with the
                suite's one-sample REINFORCE, not NB201-ENAS's recipe), reward_search run
  factorized    REWARD-4's own run (NB201 REINFORCE baseline): the very cached result
                REWARD-4 uses, so it is computed once per code version for both claims
  random        uniform random search (nasrepro.nas.random_search)
  evolution     regularized evolution with the search reward as fitness
Every row's result has run_search's format ({"targets", "groups": {"reward/source":
{"row", "acc" (%), "lat" (ms)}}, "wall_s", "cpu_s", ...}), so one metric function
(`metrics`) serves every controller.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from nasrepro.data.nb201 import NB201Table
from nasrepro.experiments import reward_search as rs
from nasrepro.experiments.cache import cached
from nasrepro.nas.controllers.gcn import GCNController
from nasrepro.nas.evolution import regularized_evolution
from nasrepro.nas.random_search import random_search
from nasrepro.nas.reinforce import GroupedReward, TableLookup, run_reinforce
from nasrepro.parallel import Unit, cpu_default_jobs, run_units
from nasrepro.progress import Ticker
from nasrepro.train.threads import torch_threads

# GCN hyperparameters: architecture (our choices: the paper gives no layer count, width or
# normalisation; docs/gcnas.md) and REINFORCE settings. REINFORCE uses the RNN controller's
# (lstm) settings so that only the network differs (lr not tuned for the GCN).
GCN_ARCH = {"hidden": 16, "layers": 3, "truncate_m": None, "temperature": 5.0,
            "tanh_constant": 2.5}
GCN_REINFORCE = {"lr": rs.CONTROLLERS["lstm"].lr,
                 "ema_momentum": rs.CONTROLLERS["lstm"].ema_momentum,
                 "entropy_weight": rs.CONTROLLERS["lstm"].entropy_weight}
EVOLUTION = {"population": 10, "tournament": 3}  # NB201's R-EA script defaults

# Non-inferiority margins of the GCNAS verdicts (rationales in reference_results/papers/
# d_gcnas.json): one block of samples, 1 pp of accuracy, 0.01 reward (~1 pp at equal lat).
MARGIN_SAMPLES = rs.BLOCK
MARGIN_ACC_PP = 1.0
MARGIN_REWARD = 0.01

CONTROLLER_ROWS = ("gcn", "lstm", "factorized", "random", "evolution", "gcn_shuffled")
LABELS = {"gcn": "GCN (GC-NAS)", "gcn_shuffled": "GCN, shuffled adjacency (ablation)",
          "lstm": "RNN (ENAS LSTM)", "factorized": "NB201 REINFORCE (factorized)",
          "random": "random search", "evolution": "regularized evolution"}

# Per-tier budgets (the one place for them). seeds: searches per (reward, source) for the
# rows run here (gcn, gcn_shuffled, lstm, random, evolution); the factorized row is
# REWARD-4's own run with REWARD-4's seed count.
# Rewards and sources match REWARD-4's LSTM sensitivity run (rs.rnn_results), so in the
# full tier (seeds = rs.TIERS["full"]["rnn_seeds"]) the RNN row is that very cached run,
# unless an exported official NB201 table exists: experiment_config then adds `nb201`
# (rs.sources_for) while rs.rnn_results keeps (PRIMARY_SOURCE,), so the RNN row is a run of
# its own and the GCN rows draw another random stream.
TIERS: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": 8, "n_samples": rs.N_SAMPLES, "block": rs.BLOCK,
              "rewards": ("mnasnet", "proposed"), "sources": (rs.PRIMARY_SOURCE,)},
    "full": {"seeds": 50, "n_samples": rs.N_SAMPLES, "block": rs.BLOCK,
             "rewards": ("mnasnet", "proposed"), "sources": (rs.PRIMARY_SOURCE,)},
}


def experiment_config(tier: str, seeds: int | None = None, device: str = "cpu",
                      reward_seeds: int | None = None) -> dict[str, Any]:
    """The frozen config of the GC-NAS comparison (what the cache and baselines key on).

    reward_seeds: the --seeds override REWARD-4 would see (None: its tier default)."""
    cfg = dict(TIERS[tier])
    if seeds is not None:
        cfg["seeds"] = seeds
    cfg.update(tier=tier, device=device, rewards=tuple(cfg["rewards"]),
               sources=rs.sources_for(tuple(cfg["sources"])), gcn=dict(GCN_ARCH),
               gcn_reinforce=dict(GCN_REINFORCE), evolution=dict(EVOLUTION),
               reward_seeds=reward_seeds)
    return cfg


def _groups(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """(reward, source) groups in run_search's order (sources outer, rewards inner)."""
    return [(r, s) for s in cfg["sources"] for r in cfg["rewards"]]


def _targets(table: NB201Table, sources: Sequence[str]) -> dict[str, float]:
    return {s: rs.latency_source(s).target_ms(table.to("cpu")) for s in sources}


def _pack(trace_acc: torch.Tensor, trace_lat: torch.Tensor, trace_row: torch.Tensor,
          acc_is_fraction: bool = True) -> dict[str, np.ndarray]:
    acc = 100.0 * trace_acc if acc_is_fraction else trace_acc
    return {"row": trace_row.cpu().numpy().astype(np.int16),
            "acc": acc.cpu().numpy().astype(np.float32),
            "lat": trace_lat.cpu().numpy().astype(np.float32)}


def run_gcn(cfg: dict[str, Any], progress: bool = False) -> dict[str, dict[str, Any]]:
    """GCN and its shuffled-adjacency ablation as one batched REINFORCE run.

    Rows: [variant (dag, shuffled)] x [(reward, source) group] x [seed]. Row i of the dag
    block and row i of the shuffled block share their initialisation (paired ablation).
    Returns {"gcn": result, "gcn_shuffled": result} in run_search's format."""
    device, n = cfg["device"], cfg["seeds"]
    table = rs.table_for(tuple(cfg["sources"])).to(device)
    groups = _groups(cfg)
    targets = _targets(table, cfg["sources"])
    variants = ("dag", "shuffled")
    g = torch.Generator(device=device).manual_seed(cfg.get("base_seed", 0))
    per_variant = len(groups) * n
    init_seeds = torch.randint(0, 2**31 - 1, (per_variant,), generator=g).tolist()
    ctl = GCNController(init_seeds * len(variants), **cfg["gcn"],
                        adjacency=[v for v in variants for _ in range(per_variant)],
                        device=device)
    rows_src = [s for _ in variants for (_, s) in groups for _ in range(n)]
    reward_groups = []
    for vi in range(len(variants)):
        for gi, (r, s) in enumerate(groups):
            start = vi * per_variant + gi * n
            reward_groups.append((functools.partial(rs.REWARD_FNS[r], target_ms=targets[s]),
                                  range(start, start + n)))
    lookup = TableLookup(table, rows_src)
    reward = GroupedReward(reward_groups, len(rows_src), device)
    started, cpu0 = time.perf_counter(), time.process_time()

    ticker = Ticker(f"GCN search, {len(rows_src)} searches batched", cfg["n_samples"],
                    "samples")

    def _progress(t: int, _trace: Any) -> None:
        ticker.update(t)

    hp = cfg["gcn_reinforce"]
    trace = run_reinforce(ctl, lookup, reward, cfg["n_samples"], lr=hp["lr"],
                          ema_momentum=hp["ema_momentum"],
                          entropy_weight=hp["entropy_weight"], generator=g,
                          progress=_progress if progress else None, progress_every=250)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    out: dict[str, dict[str, Any]] = {}
    for vi, v in enumerate(variants):
        name = "gcn" if v == "dag" else f"gcn_{v}"
        res: dict[str, Any] = {"targets": targets, "wall_s": wall, "cpu_s": cpu,
                               "n_rows": len(rows_src), "params": ctl.n_params_per_seed(),
                               "groups": {}}
        for gi, (r, s) in enumerate(groups):
            sl = slice(vi * per_variant + gi * n, vi * per_variant + (gi + 1) * n)
            res["groups"][f"{r}/{s}"] = _pack(trace.acc[sl], trace.lat[sl], trace.row[sl])
        out[name] = res
    return out


class _KLookup:
    """ops [S, k, 6] -> (acc [S, k] fraction, lat [S, k] ms), latency source per row."""

    def __init__(self, table: NB201Table, sources: Sequence[str]) -> None:
        self.inner = TableLookup(table, sources)

    def __call__(self, ops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.inner.table.rows(ops)  # [S, k]
        lat = self.inner.columns[self.inner.source_of_row[:, None], rows]
        return self.inner.acc[rows], lat


def run_baselines(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Random search and regularized evolution on the same groups and budget.

    Seeds: row i of a group uses seed base_seed + i (each row its own generator), the
    same for every group, so random search draws the same cells for every reward."""
    device, n = cfg["device"], cfg["seeds"]
    table = rs.table_for(tuple(cfg["sources"])).to(device)
    groups = _groups(cfg)
    targets = _targets(table, cfg["sources"])
    seeds = [cfg.get("base_seed", 0) + i for i in range(n)]
    out: dict[str, dict[str, Any]] = {}
    for name in ("random", "evolution"):
        started, cpu0 = time.perf_counter(), time.process_time()
        res: dict[str, Any] = {"targets": targets, "params": 0, "groups": {}}
        for r, s in groups:
            lookup = _KLookup(table, [s] * n)
            if name == "random":
                tr = random_search(seeds, cfg["n_samples"], lookup, device=device)
            else:
                fit = functools.partial(rs.REWARD_FNS[r], target_ms=targets[s])
                tr = regularized_evolution(seeds, cfg["n_samples"], lookup, fit,
                                           device=device, **cfg["evolution"])
            res["groups"][f"{r}/{s}"] = _pack(tr.acc, tr.lat, table.rows(tr.ops))
        res.update(wall_s=time.perf_counter() - started, cpu_s=time.process_time() - cpu0,
                   n_rows=n * len(groups))
        out[name] = res
    return out


def run_reward_search_rows(cfg: dict[str, Any], controller: str) -> tuple[dict, dict]:
    """The lstm / factorized rows through reward_search's cached runs.

    factorized: REWARD-4's own run (its tier config, all its rewards and sources), so the
    cache serves both claims; lstm: the same task restricted to this tier's groups."""
    if controller == "factorized":
        rcfg, res = rs.search_results(cfg["tier"], seeds=cfg["reward_seeds"],
                                      device=cfg["device"])
    else:
        rcfg, res = rs.search_results(cfg["tier"], seeds=cfg["seeds"], device=cfg["device"],
                                      controller=controller, rewards=cfg["rewards"],
                                      sources=cfg["sources"])
    return rcfg, res


def controller_params(controller: str) -> int:
    """Trainable parameters of one seed's controller (0 for the search baselines)."""
    if controller in ("random", "evolution"):
        return 0
    if controller.startswith("gcn"):
        return GCNController([0], **GCN_ARCH).n_params_per_seed()
    spec = rs.CONTROLLERS[controller]
    ctl = spec.factory(1, torch.Generator().manual_seed(0), "cpu")
    return sum(p.numel() for p in ctl.parameters())


def cpu_threads(n: int, device: str) -> contextlib.AbstractContextManager[None]:
    """n intra-op CPU threads while the controllers run (restored after; no-op off CPU).
    The tensors are tiny (S x 8 nodes x 16 features): on a shared 2-core machine a second
    thread costs far more in synchronisation than it gains (measured 10x slower), and
    one thread keeps CPU runs bit-reproducible."""
    return torch_threads(n if device == "cpu" else None)


# The comparison's search groups: independent batched runs, each cached on its own.
PARTS = ("gcn", "baselines", "lstm", "factorized")


def comparison_part(name: str, cfg: dict[str, Any], progress: bool = False
                    ) -> dict[str, dict[str, Any]]:
    """One search group of the comparison ({controller: result}), on one CPU thread; a unit
    of nasrepro.parallel (so --executor ray runs the four as Ray tasks)."""
    data = rs.data_fingerprint(tuple(cfg["sources"]))  # the tables every part reads
    with cpu_threads(1, cfg["device"]):
        if name == "gcn":
            return cached("gcnas_gcn", cfg, lambda: run_gcn(cfg, progress), data=data)
        if name == "baselines":
            return cached("gcnas_baselines", cfg, lambda: run_baselines(cfg), data=data)
        rcfg, res = run_reward_search_rows(cfg, name)
        return {name: {**res, "config": rcfg, "n_rows": sum(
            v["acc"].shape[0] for v in res["groups"].values())}}


def comparison(tier: str, seeds: int | None = None, device: str = "cpu",
               reward_seeds: int | None = None, progress: bool = False
               ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(config, {controller: result}) of the whole comparison; each part cached."""
    cfg = experiment_config(tier, seeds, device, reward_seeds)
    results: dict[str, dict[str, Any]] = {}
    units = [Unit(comparison_part, (name, cfg, progress), f"GCNAS {name} run", cached=True)
             for name in PARTS]
    # 2 processes on the CPU: on the 2-core Intel VM, smoke tier, gcn 39 s, baselines 3 s,
    # lstm 41 s, factorized 13 s one after another, ~55 s in two; a group's result does not
    # depend on where it runs (suite/unit/test_parallel.py)
    for part in run_units(units, device=device, default_jobs=cpu_default_jobs(device)):
        results.update(part)
    for name, res in results.items():
        res["params"] = controller_params(name)
    return cfg, results


def comparison_for_claim(claim: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """comparison() for a claim test's context (nasrepro.claims.session.ClaimContext):
    its tier, device and --seeds override; the factorized row gets REWARD-4's seed count
    so the cached REWARD-4 run is shared."""
    reward_seeds = len(claim.seeds(rs.TIERS[claim.tier]["seeds"]))
    return comparison(claim.tier, seeds=len(claim.seeds(TIERS[claim.tier]["seeds"])),
                      device=claim.device, reward_seeds=reward_seeds, progress=True)


# Measurement.source of the GCNAS items (the record's text only: not in the config, its
# hash or a baseline)
SOURCE_NOTE = "[paper D: no claim vs the RNN; the suite's own criterion, measured here]"


# ----------------------------------------------------------------------------- metrics

censored_code = rs.censored_code  # one block past the end: the worst rank (REWARD-4's)


def first_feasible_block(lat_blocks: np.ndarray, target: float, block: int) -> np.ndarray:
    """End sample of the first block whose mean latency is <= target; inf if none."""
    below = lat_blocks <= target
    return np.where(below.any(-1), (below.argmax(-1) + 1.0) * block, np.inf)


def metrics(res: dict[str, Any], cfg: dict[str, Any], reward: str, source: str
            ) -> dict[str, np.ndarray]:
    """Per-seed metrics of one controller's (reward, source) group.

    first_feasible / settle: sample numbers (censored coded censored_code(cfg), masks in
    *_censored); best_feasible_acc: best accuracy (%) among samples with latency <= T
    (nan if none); mean_reward: mean reward over the run; mean_acc: mean accuracy (%)
    over the run; last_acc: mean accuracy of the last block; lat/acc_blocks [S, blocks]."""
    g = res["groups"][f"{reward}/{source}"]
    target = res["targets"][source]
    base = rs.group_metrics(res, cfg, reward, source)  # REWARD-4's settle, blocks, ...
    first = first_feasible_block(base["lat_blocks"], target, cfg["block"])
    ok = g["lat"] <= target
    best = np.where(ok.any(-1), np.where(ok, g["acc"], -np.inf).max(-1), np.nan)
    rew = rs.REWARD_FNS[reward](g["acc"].astype(np.float64) / 100.0,
                                g["lat"].astype(np.float64), target_ms=target)
    return {"first_feasible": np.where(np.isinf(first), censored_code(cfg), first),
            "first_feasible_censored": np.isinf(first),
            "settle": base["settle"], "settle_censored": base["censored"],
            "best_feasible_acc": best.astype(np.float64),
            "mean_reward": rew.mean(-1), "mean_acc": g["acc"].mean(-1, dtype=np.float64),
            "last_acc": base["acc_blocks"][:, -1], "lat_blocks": base["lat_blocks"],
            "acc_blocks": base["acc_blocks"]}


def time_per_sample_ms(res: dict[str, Any], cfg: dict[str, Any]) -> dict[str, float]:
    """Wall and CPU time per batched step (all rows) and per sample of one search
    (amortised over the batch), in ms; from the run that produced `res`."""
    n = cfg["n_samples"] if "n_samples" not in res.get("config", {}) \
        else res["config"]["n_samples"]
    rows = max(int(res.get("n_rows", 1)), 1)
    wall, cpu = float(res.get("wall_s", float("nan"))), float(res.get("cpu_s", float("nan")))
    return {"step_wall_ms": 1e3 * wall / n, "step_cpu_ms": 1e3 * cpu / n,
            "sample_wall_ms": 1e3 * wall / n / rows, "rows": rows}


def step_time_ms(controller: str, n_seeds: int = 1, device: str = "cpu",
                 steps: int = 20, repeats: int = 5) -> dict[str, float]:
    """Wall time of one REINFORCE step (sample + lookup + reward + update) of `controller`
    for n_seeds searches batched, in ms: the median over `repeats` timed runs of `steps`
    steps each (device-synchronised, nasrepro.measure.timers), measured now.

    The task is the primary latency source with the proposed reward; the timing is of the
    controller, the task only supplies rewards."""
    from nasrepro.data.nb201 import load_table
    from nasrepro.measure.timers import median_time

    table = load_table().to(device)
    target = rs.SOURCES[rs.PRIMARY_SOURCE].target_ms(table.to("cpu"))
    lookup = TableLookup(table, [rs.PRIMARY_SOURCE] * n_seeds)
    fn = functools.partial(rs.REWARD_FNS["proposed"], target_ms=target)
    g = torch.Generator(device=device).manual_seed(0)
    if controller.startswith("gcn"):
        ctl = GCNController(list(range(n_seeds)), **GCN_ARCH, device=device)
        hp = GCN_REINFORCE
    else:
        spec = rs.CONTROLLERS[controller]
        ctl = spec.factory(n_seeds, g, device)
        hp = {"lr": spec.lr, "ema_momentum": spec.ema_momentum,
              "entropy_weight": spec.entropy_weight}
    with cpu_threads(1, device):
        t = median_time(lambda: run_reinforce(ctl, lookup, fn, steps, generator=g, **hp),
                        repeats=repeats, warmup=1, device=device)
    return {"step_ms": 1e3 * t["median"] / steps, "iqr_ms": 1e3 * t["iqr"] / steps,
            "n_seeds": n_seeds, "device": device}


def step_time_phrase(device: str) -> str:
    """How `step_time_ms` ran on `device`, for a record's note: one intra-op CPU thread on
    the CPU (cpu_threads), the device's own time elsewhere (cpu_threads does nothing off
    the CPU, so 'one CPU thread' would be false there)."""
    if device == "cpu":
        return "on one CPU thread"
    return f"on {device} (the CPU thread count is not set off the CPU)"


def feasible_ceilings(sources: Sequence[str], targets: dict[str, float]
                      ) -> dict[str, float]:
    """{source: best accuracy (%) of any cell with latency <= targets[source]}, read from the
    table the searches used (rs.table_for: with an exported official table that includes
    its `nb201` column, which the shipped table lacks)."""
    table = rs.table_for(tuple(sources))
    return {s: float(table.acc[table.latency_ms(s) <= targets[s]].max()) for s in sources}


def non_inferior_higher(gcn: np.ndarray, rnn: np.ndarray, margin: float) -> dict[str, float]:
    """One-sided Mann-Whitney test of H1 'gcn > rnn - margin' (nan = worst)."""
    from nasrepro.claims.stats import mann_whitney_less

    g = np.nan_to_num(np.asarray(gcn, dtype=np.float64), nan=-np.inf)
    r = np.nan_to_num(np.asarray(rnn, dtype=np.float64), nan=-np.inf)
    lo = min(g[np.isfinite(g)].min(initial=0.0), r[np.isfinite(r)].min(initial=0.0)) - 1e6
    return mann_whitney_less(np.where(np.isfinite(r), r - margin, lo),
                             np.where(np.isfinite(g), g, lo))
