"""REWARD-4/5: REINFORCE searches on NAS-Bench-201 with the MnasNet and proposed rewards.

One batched run covers every (reward, latency source) group x seeds: each row of the
controller is one independent search (see nasrepro.nas.reinforce). The result is cached
(nasrepro.experiments.cache) so REWARD-4 and REWARD-5 share it.

Latency sources and T (CLAIMS.md, paper B, "latency data"):
  1080ti_256    primary      T = its 0.74 quantile (CLAIMS.md's reading of the share 17 ms
                             has in NB201's own latency distribution; other readings give
                             0.71-0.75, see REWARD-4's interpretation; 1080ti_256 has
                             NB201's shape at ~1.5x, and the rewards use its own ms)
  silver_4210r  sensitivity  T = 17 ms (74 % of its cells are under 17 ms)
  2080ti_256    sensitivity  T = its 0.74 quantile (another GPU batch-256 table)
  nb201         official     T = 17 ms, only when `nasrepro nb201 export` wrote a table
  1080ti_256_x17  rescaled   1080ti_256 x 17 / its 0.74 quantile, T = 17 ms: the proposed
                             reward (not scale-free) then equals the paper's at equal LAT/T;
                             a run of its own (rescaled_results), REWARD-4's sensitivity table

Controller factories are a parameter: CONTROLLERS maps a name to
factory(n_seeds, generator, device) -> Controller, with its REINFORCE hyperparameters.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nasrepro.data import nb201, nb201_measured
from nasrepro.data.nb201 import NB201Table, load_table, official_table_path
from nasrepro.errors import ConfigError, DataError
from nasrepro.experiments.cache import cached
from nasrepro.nas.controllers.base import Controller
from nasrepro.nas.controllers.factorized import FactorizedController
from nasrepro.nas.controllers.lstm import LSTMController
from nasrepro.nas.reinforce import GroupedReward, TableLookup, run_reinforce
from nasrepro.nas.rewards import (
    mnasnet_hard_reward,
    mnasnet_reward,
    proposed_reward,
    tunas_abs_reward,
)
from nasrepro.progress import Ticker
from nasrepro.train.threads import torch_threads

PAPER_T_MS = 17.0
BLOCK = 250          # the paper's Fig. 7 block (20 blocks of 250 samples)
N_SAMPLES = 5000     # samples per search (the paper's)
TUNAS_BETA = -0.07   # our choice: MnasNet's exponent magnitude (TuNAS tunes beta per target)

# Per-tier budgets (the one place for them). seeds = searches per (reward, source) group.
TIERS: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": 50, "n_samples": N_SAMPLES, "block": BLOCK,
              "controller": "factorized", "rnn_seeds": 0,
              "rewards": ("mnasnet", "proposed", "mnasnet_hard", "tunas_abs"),
              "sources": ("1080ti_256", "silver_4210r", "2080ti_256")},
    "full": {"seeds": 200, "n_samples": N_SAMPLES, "block": BLOCK,
             "controller": "factorized", "rnn_seeds": 50,
             "rewards": ("mnasnet", "proposed", "mnasnet_hard", "tunas_abs"),
             "sources": ("1080ti_256", "silver_4210r", "2080ti_256")},
}
# rnn_seeds: seeds per reward of the LSTM-controller sensitivity run (MnasNet and proposed,
# primary source). 0 in smoke: the LSTM costs ~3 ms per update for one seed and grows with
# seeds (~15 ms for 40) on this CPU, i.e. minutes for 5000 samples.

REWARD_FNS: dict[str, Callable[..., Any]] = {
    "mnasnet": mnasnet_reward,
    "proposed": proposed_reward,
    "mnasnet_hard": mnasnet_hard_reward,
    "tunas_abs": functools.partial(tunas_abs_reward, beta=TUNAS_BETA),
}
REWARD_LABELS = {"mnasnet": "MnasNet (α=β=−0.07)", "proposed": "proposed (x=0.9, y=0.1)",
                 "mnasnet_hard": "MnasNet hard (α=0, β=−1)",
                 "tunas_abs": f"TuNAS abs (β={TUNAS_BETA})"}


@dataclass(frozen=True)
class LatencySource:
    """A latency column and how its target T is set: rule 'quantile' (T = that quantile
    of the column) or 'fixed' (T in ms)."""

    name: str
    rule: str
    value: float
    role: str

    def target_ms(self, table: NB201Table) -> float:
        if self.rule == "fixed":
            return float(self.value)
        return float(np.quantile(table.latency_ms(self.name).numpy(), self.value))

    def describe(self, table: NB201Table) -> str:
        how = (f"{self.value:g} quantile" if self.rule == "quantile" else "fixed")
        return f"{self.name} (T = {self.target_ms(table):.3f} ms, {how}; {self.role})"


SOURCES: dict[str, LatencySource] = {
    "1080ti_256": LatencySource("1080ti_256", "quantile", 0.74, "primary"),
    "silver_4210r": LatencySource("silver_4210r", "fixed", PAPER_T_MS, "sensitivity"),
    "2080ti_256": LatencySource("2080ti_256", "quantile", 0.74, "sensitivity"),
    "nb201": LatencySource("nb201", "fixed", PAPER_T_MS, "official NB201 latency"),
    "1080ti_256_x17": LatencySource("1080ti_256_x17", "fixed", PAPER_T_MS,
                                    "sensitivity: 1080ti_256 rescaled to T = 17 ms"),
}
PRIMARY_SOURCE = "1080ti_256"
# Derived columns: name -> the column it rescales so that its T (rule of SOURCES[base]) lands
# on the paper's 17 ms. MnasNet's reward depends on LAT/T only and is unchanged by this; the
# proposed reward's log_T term is not scale-free (REWARD-4's interpretation).
RESCALED: dict[str, str] = {"1080ti_256_x17": PRIMARY_SOURCE}


@dataclass(frozen=True)
class ControllerSpec:
    """A controller factory and the REINFORCE hyperparameters it is run with."""

    factory: Callable[[int, torch.Generator, str], Controller]
    lr: float
    ema_momentum: float
    entropy_weight: float
    note: str


CONTROLLERS: dict[str, ControllerSpec] = {
    "factorized": ControllerSpec(
        lambda s, g, d: FactorizedController(s, g, device=d), lr=0.01, ema_momentum=0.9,
        entropy_weight=0.0,
        note="NAS-Bench-201/NATS-Bench REINFORCE baseline: 6x5 logits init 1e-3*N(0,1), "
             "Adam lr 0.01 (NATS-Bench's documented command for cifar100/tss), EMA baseline "
             "momentum 0.9, no entropy term, one architecture per update"),
    "lstm": ControllerSpec(
        lambda s, g, d: LSTMController(s, g, device=d), lr=0.001, ema_momentum=0.99,
        entropy_weight=1e-4,
        note="NB201-ENAS LSTM architecture (hidden 32, 2 layers, temperature 5, tanh "
             "constant 2.5, init U(-0.1, 0.1)) trained with the suite's one-sample REINFORCE: "
             "Adam lr 0.001 (default betas and eps), bias-corrected EMA baseline decay 0.99, "
             "entropy weight 1e-4 in the loss, no clipping (not NB201's ENAS training)"),
}


def register_controller(name: str, spec: ControllerSpec) -> None:
    """Make a controller available to search_config(controller=name) / search_results.

    The name enters the config (and so the cache key and the baseline's config hash);
    re-registering a name with another spec is refused so cached results stay honest."""
    if name in CONTROLLERS and CONTROLLERS[name] != spec:
        raise ValueError(f"controller {name!r} is already registered with another spec")
    CONTROLLERS[name] = spec


def sources_for(names: tuple[str, ...]) -> tuple[str, ...]:
    """The configured sources plus `nb201` when an exported official table exists."""
    extra = ("nb201",) if official_table_path().is_file() and "nb201" not in names else ()
    return tuple(names) + extra


def search_config(tier: str, seeds: int | None = None, device: str = "cpu",
                  **overrides: Any) -> dict[str, Any]:
    """The frozen config of one batched search run (what the cache and baselines key on)."""
    cfg = dict(TIERS[tier])
    if seeds is not None:
        cfg["seeds"] = seeds
    cfg.update(overrides)
    # the tier's own sources gain NB201's official column where exported; a run that names
    # its sources (the LSTM and rescaled sensitivity runs) searches only those
    cfg["sources"] = (tuple(cfg["sources"]) if "sources" in overrides
                      else sources_for(tuple(cfg["sources"])))
    cfg["rewards"] = tuple(cfg["rewards"])
    cfg["device"] = device
    if cfg["controller"] not in CONTROLLERS:
        raise ConfigError(f"unknown controller {cfg['controller']!r}; registered: "
                          f"{', '.join(CONTROLLERS)} (see register_controller)")
    spec = CONTROLLERS[cfg["controller"]]
    cfg.update(lr=spec.lr, ema_momentum=spec.ema_momentum, entropy_weight=spec.entropy_weight)
    return cfg


def table_for(sources: tuple[str, ...]) -> NB201Table:
    """The shipped table, plus NB201's own latency column when `sources` asks for it (from
    the user's exported official table); shared by the REWARD and GCNAS searches."""
    table = load_table()
    if "nb201" in sources:
        official = load_table(official_table_path())
        if len(official) != len(table) or not torch.equal(official.index, table.index):
            raise DataError(f"{official.path}: the exported official table has {len(official)} "
                            "rows; the search needs all 15625 cells (export the full file)")
        table.latency["nb201"] = official.latency_ms("nb201")
    for name in _measured(sources):
        nb201_measured.add_measured(table, name)
    for name in sources:
        if base := RESCALED.get(name):
            column = table.latency_ms(base)
            table.latency[name] = column * (PAPER_T_MS / SOURCES[base].target_ms(table))
    return table


def _measured(sources: tuple[str, ...]) -> list[str]:
    """The sources that are columns measured by `nasrepro nb201 measure-latency` (not HELP
    devices, not `nb201`), read from their own table files."""
    found = nb201_measured.measured_tables()
    return [s for s in sources if s in found and s != "nb201" and s not in nb201.HELP_SHA256]


def latency_source(name: str) -> LatencySource:
    """The configured source `name`, else a measured column with T at its 0.74 quantile (the
    rule of the GPU sources; silver_4210r's fixed 17 ms puts 74.4 % of cells under T)."""
    if name in SOURCES:
        return SOURCES[name]
    return LatencySource(name, "quantile", 0.74, "measured on a user's machine")


def data_fingerprint(sources: tuple[str, ...]) -> dict[str, str]:
    """{table file: sha256} of the verified tables `table_for(sources)` reads: part of every
    search cache key, so a changed table recomputes and a corrupt one is a DataError."""
    out = nb201.fingerprint()
    if "nb201" in sources:
        out.update(nb201.fingerprint(official_table_path()))
    found = nb201_measured.measured_tables()
    for name in _measured(sources):
        out.update(nb201.fingerprint(found[name]))
    return out


def run_search(cfg: dict[str, Any], controller: ControllerSpec | None = None,
               progress: bool = False, threads: int | None = 1,
               table: NB201Table | None = None) -> dict[str, Any]:
    """Run every (reward, source) group x seeds as one batched REINFORCE search.

    Returns numpy arrays keyed by group 'reward/source': row, acc (%), lat (ms), each
    [seeds, n_samples], plus targets {source: T}, controller note and timing.
    threads: torch CPU threads during the search. The per-step tensors are tiny, so one
    thread is fastest: measured 18 s vs 108 s CPU for the smoke run with 2 threads on a
    busy 2-core machine (threads only spin). None keeps torch's setting.
    table: an already loaded table_for(cfg's sources) (a loop of single searches, e.g. the
    batching benchmark, loads it once); None loads it.
    """
    with torch_threads(threads if cfg["device"] == "cpu" else None):
        return _run_search(cfg, controller, progress, table)


def _run_search(cfg: dict[str, Any], controller: ControllerSpec | None,
                progress: bool, table: NB201Table | None = None) -> dict[str, Any]:
    spec = controller or CONTROLLERS[cfg["controller"]]
    device = cfg["device"]
    table = (table if table is not None else table_for(tuple(cfg["sources"]))).to(device)
    groups = [(r, s) for s in cfg["sources"] for r in cfg["rewards"]]
    n = cfg["seeds"]
    rows_src = [s for (_, s) in groups for _ in range(n)]
    targets = {s: latency_source(s).target_ms(table.to("cpu")) for s in cfg["sources"]}
    reward_groups = [(functools.partial(REWARD_FNS[r], target_ms=targets[s]),
                      range(gi * n, (gi + 1) * n)) for gi, (r, s) in enumerate(groups)]
    g = torch.Generator(device=device).manual_seed(cfg.get("base_seed", 0))
    ctl = spec.factory(len(rows_src), g, device)
    lookup = TableLookup(table, rows_src)
    reward = GroupedReward(reward_groups, len(rows_src), device)
    started, cpu0 = time.perf_counter(), time.process_time()

    ticker = Ticker(f"reward search, {len(rows_src)} searches batched", cfg["n_samples"],
                    "samples")

    def _progress(t: int, _trace: Any) -> None:
        ticker.update(t)

    trace = run_reinforce(ctl, lookup, reward, cfg["n_samples"], lr=spec.lr,
                          ema_momentum=spec.ema_momentum, entropy_weight=spec.entropy_weight,
                          generator=g, progress=_progress if progress else None,
                          progress_every=250)
    out: dict[str, Any] = {"targets": targets, "controller_note": spec.note,
                           "wall_s": time.perf_counter() - started,
                           "cpu_s": time.process_time() - cpu0, "groups": {}}
    for gi, key in enumerate(f"{r}/{s}" for r, s in groups):
        sl = slice(gi * n, (gi + 1) * n)
        out["groups"][key] = {
            "row": trace.row[sl].cpu().numpy().astype(np.int16),
            "acc": (100.0 * trace.acc[sl]).cpu().numpy().astype(np.float32),
            "lat": trace.lat[sl].cpu().numpy().astype(np.float32),
        }
    return out


def search_results(tier: str, seeds: int | None = None, device: str = "cpu",
                   **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, result) of the tier's search, computed once per code version (cached)."""
    cfg = search_config(tier, seeds, device, **overrides)
    return cfg, cached("reward_search", cfg, lambda: run_search(cfg, progress=True),
                       data=data_fingerprint(tuple(cfg["sources"])))


def rnn_results(tier: str, device: str = "cpu"
                ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The LSTM-controller sensitivity run of a tier (None where the tier has none)."""
    n = TIERS[tier].get("rnn_seeds", 0)
    if not n:
        return None
    return search_results(tier, seeds=n, device=device, controller="lstm",
                          rewards=("mnasnet", "proposed"), sources=(PRIMARY_SOURCE,))


def rescaled_results(tier: str, seeds: int | None = None, device: str = "cpu"
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """MnasNet and proposed on the primary column rescaled to T = 17 ms (1080ti_256_x17), as
    a run of its own so the primary search's numbers stay as they are."""
    return search_results(tier, seeds=seeds, device=device, rewards=("mnasnet", "proposed"),
                          sources=tuple(RESCALED))


# ----------------------------------------------------------------------------- metrics

def block_means(x: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Mean per consecutive block: [S, N] -> [S, N // block]."""
    s, n = x.shape
    return x[:, : n - n % block].reshape(s, n // block, block).mean(-1, dtype=np.float64)


def settling_sample(lat_blocks: np.ndarray, target: float, block: int = BLOCK) -> np.ndarray:
    """End sample of the first settled block (the first block whose mean, and every later
    block's, is <= target; the settled stretch starts block - 1 samples earlier); np.inf where
    the last block is above target (censored)."""
    below = lat_blocks <= target
    # suffix_all[b] = all blocks b.. are below
    suffix_all = np.flip(np.cumprod(np.flip(below, -1), -1), -1).astype(bool)
    first = np.where(suffix_all.any(-1), suffix_all.argmax(-1), -1)
    return np.where(first >= 0, (first + 1.0) * block, np.inf)


def first_crossing(lat_blocks: np.ndarray, target: float, block: int = BLOCK) -> np.ndarray:
    """End sample of the first block <= target that follows a block > target; np.inf when
    no block crosses from above to below (a run that starts below and never rises above
    also gives inf: shown as 'no crossing')."""
    below = lat_blocks <= target
    cross = below[:, 1:] & ~below[:, :-1]
    first = np.where(cross.any(-1), cross.argmax(-1) + 1, -1)
    return np.where(first >= 0, (first + 1.0) * block, np.inf)


ACC_BINS = ((50.0, 60.0), (60.0, 70.0))


def feasible_counts(acc: np.ndarray, lat: np.ndarray, target: float,
                    bins: tuple[tuple[float, float], ...] = ACC_BINS) -> dict[str, np.ndarray]:
    """Per seed: samples with latency <= target and accuracy (%) in each [lo, hi) bin."""
    ok = lat <= target
    return {f"{lo:g}-{hi:g}": (ok & (acc >= lo) & (acc < hi)).sum(-1) for lo, hi in bins}


def paper_target_note(source: str, target: float) -> str:
    """'source, T = x ms (rule)' for tables and notes."""
    src = latency_source(source)
    how = f"{src.value:g} quantile" if src.rule == "quantile" else "fixed"
    return f"{source}, T = {target:.3f} ms ({how})"


def censored_code(cfg: dict[str, Any]) -> float:
    """The finite value a never-settling run is coded as: one block past the end
    (> n_samples, the 'worst' rank for the censoring-aware rank test)."""
    return float(cfg["n_samples"] + cfg["block"])


def group_metrics(res: dict[str, Any], cfg: dict[str, Any], reward: str, source: str
                  ) -> dict[str, np.ndarray]:
    """Per-seed REWARD-4/5 metrics of one (reward, source) group.

    settle / crossing: sample numbers with never-settling / never-crossing runs coded as
    censored_code(cfg); censored / no_crossing: the masks; lat_blocks / acc_blocks:
    [S, blocks] means; acc_rise: last - first block mean accuracy (pp); counts: per bin."""
    g = res["groups"][f"{reward}/{source}"]
    target = res["targets"][source]
    lat_b = block_means(g["lat"], cfg["block"])
    acc_b = block_means(g["acc"], cfg["block"])
    settle = settling_sample(lat_b, target, cfg["block"])
    cross = first_crossing(lat_b, target, cfg["block"])
    code = censored_code(cfg)
    return {"settle": np.where(np.isinf(settle), code, settle), "censored": np.isinf(settle),
            "crossing": np.where(np.isinf(cross), code, cross), "no_crossing": np.isinf(cross),
            "lat_blocks": lat_b, "acc_blocks": acc_b,
            "acc_rise": acc_b[:, -1] - acc_b[:, 0],
            "first_block_below": lat_b[:, 0] <= target,
            **{f"count/{k}": v for k, v in feasible_counts(g["acc"], g["lat"], target).items()}}


@dataclass
class PrimarySearch:
    """The REWARD-4/5 search on the primary latency source, as both claims read it."""

    cfg: dict[str, Any]
    res: dict[str, Any]
    source: str
    target: float
    where: str  # "source, T = ..." note shown next to every number
    metrics: dict[str, dict[str, np.ndarray]]  # reward -> group_metrics


def primary_search(tier: str, seeds: int, device: str = "cpu") -> PrimarySearch:
    """Run (or load from cache) the tier's search and derive the per-reward metrics on
    PRIMARY_SOURCE: the one context REWARD-4 and REWARD-5 share."""
    cfg, res = search_results(tier, seeds=seeds, device=device)
    src = PRIMARY_SOURCE
    target = res["targets"][src]
    return PrimarySearch(cfg, res, src, target, paper_target_note(src, target),
                         {r: group_metrics(res, cfg, r, src) for r in cfg["rewards"]})
