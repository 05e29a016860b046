"""REWARD-SENS (extension, issue 15): where do the REWARD paper's REWARD-4/5 numbers appear?

A map over conditions the paper fixed once: every latency column of the shipped table
(HELP devices, each measured per architecture; the table's provenance file says where each
column comes from), the target T at several quantiles of each column and at the paper's
17 ms where 17 ms lies inside the column's range, and the controller setting:
  factorized  NB201/NATS-Bench REINFORCE policy, Adam lr in LRS (one run, one Adam
              parameter group per lr: nasrepro.nas.controllers.stacked)
  enas_lstm   the LSTM controller trained as NAS-Bench-201's ENAS controller
              (nasrepro.nas.reinforce_enas; its own documented Adam lr 0.001)
Each (setting, cell, reward) x seeds is one row of a batched search; rows differ in
latency column and T only. Samples are reduced on the fly (block mean latency, REWARD-5
counts), never stored as [rows, 5000] traces.

Per cell: P(proposed settles sooner) = P(T_p < T_m) + P(tie)/2 over seed pairs (censored
runs are censored at the same horizon, so coding them as one value past it orders them
correctly and ties them with each other), the one-sided log-rank p-value (REWARD-4's test),
the Kaplan-Meier median settling sample per reward (None = not reached), the median
REWARD-5 counts per reward, and whether the paper's REWARD-4 numbers are met there (KM
medians within REWARD-4's settle tolerance of 4000 / 4750 and the speed-up within its
speedup tolerance of 15.8 %).
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from nasrepro.claims import survival as sv
from nasrepro.claims.stats import mann_whitney_less
from nasrepro.data import nb201_measured
from nasrepro.data.nb201 import NB201Table, official_table_path
from nasrepro.experiments import reward_search as rs
from nasrepro.experiments.cache import cached
from nasrepro.nas.controllers.factorized import FactorizedController
from nasrepro.nas.controllers.lstm import LSTMController
from nasrepro.nas.controllers.stacked import StackedController
from nasrepro.nas.reinforce import GroupedReward, TableLookup, run_reinforce
from nasrepro.nas.reinforce_enas import EnasSettings, run_reinforce_enas
from nasrepro.parallel import Unit, run_units
from nasrepro.progress import Ticker
from nasrepro.report.sensitivity import paper_targets
from nasrepro.train.threads import torch_threads

REWARDS = ("mnasnet", "proposed")
QUANTILES = (0.5, 0.6, 0.74, 0.85)
FIXED_MS = (rs.PAPER_T_MS,)
# Adam learning rates of the factorized controller:
#   0.01  NATS-Bench's documented reinforce.py command (cifar100, tss): today's REWARD-4/5
#   0.5   NAS-Bench-201's documented reproduction command (docs/NAS-Bench-201.md, item [9]:
#         `bash ./scripts-search/algos/REINFORCE.sh 0.5 -1`)
#   0.07  ours: a value between, the geometric midpoint sqrt(0.01 * 0.5) = 0.0707 rounded
LRS = (0.01, 0.07, 0.5)
PAPER_LR = 0.01
PAPER_CELL = (rs.PRIMARY_SOURCE, "q0.74")  # REWARD-4/5's primary setting

# The ENAS-trained LSTM costs ~0.5 ms CPU per search per update (per-seed LSTM weights:
# batched small matmuls, 20 draws per update), ~40x the factorized policy per search, so
# it runs on the paper's own T columns only (the 0.74 quantile and 17 ms), all sources.
ENAS_LABELS = ("q0.74", "17 ms")
# workers: processes for the two batched runs (factorized, ENAS); 2 = both CPU cores.

TIERS: dict[str, dict[str, Any]] = {
    # smoke: one slice of the map (primary column, 2 quantiles + 17 ms, the two documented
    # lrs, a few ENAS-LSTM seeds); ~10 s on the 2-core machine.
    "smoke": {"seeds": 12, "enas_seeds": 4, "sources": (rs.PRIMARY_SOURCE,),
              "quantiles": (0.5, 0.74), "fixed_ms": FIXED_MS, "lrs": (0.01, 0.5),
              "enas_labels": ENAS_LABELS, "n_samples": rs.N_SAMPLES, "block": rs.BLOCK,
              "workers": 1},
    # full: every latency column of the table (sources None = all), 4 quantiles + 17 ms,
    # three lrs, the ENAS-LSTM row.
    "full": {"seeds": 40, "enas_seeds": 10, "sources": None, "quantiles": QUANTILES,
             "fixed_ms": FIXED_MS, "lrs": LRS, "enas_labels": ENAS_LABELS,
             "n_samples": rs.N_SAMPLES, "block": rs.BLOCK, "workers": 2},
}
ENAS = EnasSettings()


@dataclass(frozen=True)
class Cell:
    """One (latency column, T) point of the map. label: 'q0.74' or '17 ms'; quantile: the
    share of the column's cells with latency <= T."""

    source: str
    label: str
    target_ms: float
    quantile: float


def all_sources(table: NB201Table) -> tuple[str, ...]:
    """Every latency column of the table (the shipped table's, plus `nb201` when the user
    exported the official file): new columns are picked up without a code change."""
    return tuple(table.sources)


def grid(table: NB201Table, sources: tuple[str, ...], quantiles: tuple[float, ...],
         fixed_ms: tuple[float, ...]) -> list[Cell]:
    """The map's cells: per source, T at each quantile, then each fixed T that lies
    strictly inside the column's [min, max] range."""
    cells = []
    for src in sources:
        col = table.latency_ms(src).to("cpu", torch.float64).numpy()
        for q in quantiles:
            cells.append(Cell(src, f"q{q:g}", float(np.quantile(col, q)), q))
        for t in fixed_ms:
            if col.min() < t < col.max():
                cells.append(Cell(src, f"{t:g} ms", float(t), float(np.mean(col <= t))))
    return cells


def sens_config(tier: str, device: str = "cpu", seeds: int | None = None) -> dict[str, Any]:
    """The frozen config of the tier's map (cache and baseline key); seeds overrides the
    factorized seeds per reward and cell (--seeds)."""
    cfg = dict(TIERS[tier])
    if seeds is not None:
        cfg["seeds"] = seeds
    if cfg["sources"] is None:
        # every column of the shipped table, plus the `measure-latency` columns committed with
        # the package (nasrepro/data/tables/): the map's config is then the same for every
        # user of a checkout; a user's own column joins when placed there (config news)
        committed = tuple(nb201_measured.committed_tables())
        cfg["sources"] = all_sources(rs.table_for(rs.sources_for(committed)))
    else:
        cfg["sources"] = rs.sources_for(tuple(cfg["sources"]))
    cfg["device"] = device
    cfg["rewards"] = REWARDS
    cfg["enas"] = asdict(ENAS)
    cfg["factorized"] = {k: getattr(rs.CONTROLLERS["factorized"], k)
                         for k in ("ema_momentum", "entropy_weight")}
    return cfg


class BlockReducer:
    """Per row, on the fly: the sum of sampled latency per block, and REWARD-5 counts
    (latency <= the row's T, accuracy % in each bin)."""

    def __init__(self, targets: torch.Tensor, acc_pct: torch.Tensor, n_samples: int,
                 block: int, bins: tuple[tuple[float, float], ...] = rs.ACC_BINS) -> None:
        self.targets, self.acc_pct, self.block, self.bins = targets, acc_pct, block, bins
        s = targets.shape[0]
        self.lat_sum = torch.zeros(s, n_samples // block, dtype=torch.float64,
                                   device=targets.device)
        self.counts = torch.zeros(s, len(bins), dtype=torch.long, device=targets.device)

    def __call__(self, t: int, row: torch.Tensor, acc: torch.Tensor, lat: torch.Tensor,
                 reward: torch.Tensor) -> None:
        """Fold in sample t of every row (tensors [S]): the k = 1 case of `many`."""
        self.many(t, row[:, None], acc, lat[:, None], reward)  # acc, reward: unused

    def many(self, t0: int, row: torch.Tensor, acc: torch.Tensor, lat: torch.Tensor,
             reward: torch.Tensor) -> None:
        """Fold in samples t0 .. t0 + k - 1 of every row at once (tensors [S, k])."""
        k = lat.shape[1]
        blocks = torch.arange(t0, t0 + k, device=lat.device) // self.block
        keep = blocks < self.lat_sum.shape[1]
        self.lat_sum.index_add_(1, blocks[keep], lat[:, keep].to(torch.float64))
        ok = lat <= self.targets.unsqueeze(1)
        a = self.acc_pct[row]
        for i, (lo, hi) in enumerate(self.bins):
            self.counts[:, i] += (ok & (a >= lo) & (a < hi)).sum(1)

    def result(self) -> dict[str, np.ndarray]:
        return {"lat_blocks": (self.lat_sum / self.block).cpu().numpy(),
                "counts": self.counts.cpu().numpy()}


def _rows(cells: list[Cell], seeds: int) -> tuple[list[str], torch.Tensor, list[int]]:
    """Row layout [reward][cell][seed]: per-row source, T [rows], reward index per row."""
    src, tgt, rew = [], [], []
    for ri in range(len(REWARDS)):
        for c in cells:
            src += [c.source] * seeds
            tgt += [c.target_ms] * seeds
            rew += [ri] * seeds
    return src, torch.tensor(tgt, dtype=torch.float64), rew


def _reward(targets: torch.Tensor, rew_of_row: list[int], device: str) -> GroupedReward:
    """Row-wise rewards with a per-row T (one vectorised group per reward)."""
    idx = torch.tensor(rew_of_row)
    groups = []
    for ri, name in enumerate(REWARDS):
        rows = torch.nonzero(idx == ri).squeeze(1)
        t = targets[rows].to(device)
        groups.append((functools.partial(rs.REWARD_FNS[name], target_ms=t), rows.tolist()))
    return GroupedReward(groups, len(rew_of_row), device)


def run_map(cfg: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    """Run every setting of the map: {cells, settings: {name: {cells (indices), lat_blocks,
    counts, seeds}}, timing}. The factorized run and the ENAS run are two search groups
    (independent batched runs; results identical wherever they run): with cfg['workers'] = 2
    two processes, with --executor ray two Ray tasks (nasrepro.parallel)."""
    table = rs.table_for(tuple(cfg["sources"]))
    cells = grid(table, tuple(cfg["sources"]), tuple(cfg["quantiles"]), tuple(cfg["fixed_ms"]))
    parts = [p for p, on in (("factorized", bool(cfg["lrs"])),
                             ("enas_lstm", bool(cfg["enas_seeds"]))) if on]
    t0 = time.perf_counter()
    done = run_units([Unit(_run_part, (p, cfg, cells, progress), f"REWARD-SENS {p} run")
                      for p in parts], device=cfg["device"],
                     default_jobs=cfg.get("workers", 1))
    out: dict[str, Any] = {"cells": [asdict(c) for c in cells], "settings": {}, "timing": {}}
    for part, (settings, timing) in zip(parts, done, strict=True):
        out["settings"].update(settings)
        out["timing"][part] = timing
    out["timing"]["wall_s"] = time.perf_counter() - t0
    return out


def _run_part(part: str, cfg: dict[str, Any], cells: list[Cell], progress: bool
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    with torch_threads(1 if cfg["device"] == "cpu" else None):
        table = rs.table_for(tuple(cfg["sources"])).to(cfg["device"])
        t0, c0 = time.perf_counter(), time.process_time()
        run = _run_factorized if part == "factorized" else _run_enas
        settings, rows = run(cfg, table, cells, progress)
        return settings, {"wall_s": time.perf_counter() - t0,
                          "cpu_s": time.process_time() - c0, "rows": rows}


def _run_factorized(cfg: dict[str, Any], table: NB201Table, cells: list[Cell],
                    progress: bool) -> tuple[dict[str, Any], int]:
    """All lrs x cells x rewards x seeds in one batched run, one Adam group per lr."""
    device, n = cfg["device"], cfg["n_samples"]
    src, tgt, rew = _rows(cells, cfg["seeds"])
    k = len(cfg["lrs"])
    g = torch.Generator(device=device).manual_seed(0)
    ctl = StackedController([FactorizedController(len(src), g, device=device)
                             for _ in range(k)])
    tgt_all = tgt.repeat(k)
    red = BlockReducer(tgt_all.to(device), table.acc.to(torch.float64), n, cfg["block"])
    spec = rs.CONTROLLERS["factorized"]
    ticker = Ticker(f"reward sensitivity map, {ctl.n_seeds} factorized searches", n,
                    "samples")
    run_reinforce(ctl, TableLookup(table, src * k), _reward(tgt_all, rew * k, device), n,
                  lr=cfg["lrs"][0], ema_momentum=spec.ema_momentum,
                  entropy_weight=spec.entropy_weight, generator=g,
                  optimizer=ctl.adam(cfg["lrs"]), observe=red, keep_trace=False,
                  progress=(lambda t, _tr: ticker.update(t)) if progress else None,
                  progress_every=250)
    res, per = red.result(), len(src)
    every = list(range(len(cells)))
    return ({f"factorized lr={lr:g}": {
        "cells": every, "lat_blocks": res["lat_blocks"][i * per:(i + 1) * per],
        "counts": res["counts"][i * per:(i + 1) * per], "seeds": cfg["seeds"]}
        for i, lr in enumerate(cfg["lrs"])}, ctl.n_seeds)


def _run_enas(cfg: dict[str, Any], table: NB201Table, cells: list[Cell], progress: bool
              ) -> tuple[dict[str, Any], int]:
    """The ENAS-trained LSTM on the cells whose T label is in cfg['enas_labels']."""
    device, n = cfg["device"], cfg["n_samples"]
    which = [i for i, c in enumerate(cells) if c.label in cfg["enas_labels"]]
    sub = [cells[i] for i in which]
    src, tgt, rew = _rows(sub, cfg["enas_seeds"])
    g = torch.Generator(device=device).manual_seed(1)
    lstm = LSTMController(len(src), g, device=device)
    red = BlockReducer(tgt.to(device), table.acc.to(torch.float64), n, cfg["block"])
    ticker = Ticker(f"reward sensitivity map, {len(src)} ENAS-LSTM searches", n, "samples")
    k = ENAS.samples_per_update  # lookup/reward act on seed-major [S * k] rows
    rep = [i for i in range(len(src)) for _ in range(k)]
    run_reinforce_enas(lstm, TableLookup(table, [src[i] for i in rep]),
                       _reward(tgt[rep], [rew[i] for i in rep], device), n,
                       settings=ENAS, generator=g, observe=red.many,
                       progress=ticker.update if progress else None)
    return ({f"enas_lstm lr={ENAS.lr:g}": {"cells": which, **red.result(),
                                           "seeds": cfg["enas_seeds"]}}, len(src))


def map_results(tier: str, device: str = "cpu", seeds: int | None = None
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, raw result) of the tier's map, computed once per code version (cached)."""
    cfg = sens_config(tier, device, seeds)
    data = rs.data_fingerprint(tuple(cfg["sources"]))
    return cfg, cached("reward_sensitivity", cfg, lambda: run_map(cfg), data=data)


# ----------------------------------------------------------------------------- statistics

def cell_stats(lat_blocks: np.ndarray, counts: np.ndarray, cells: list[dict[str, Any]],
               seeds: int, n_samples: int, block: int) -> list[dict[str, Any]]:
    """Per cell of one setting: P(proposed sooner), log-rank p, KM medians, counts, and
    whether the paper's REWARD-4 numbers are met (rows laid out [reward][cell][seed])."""
    paper = paper_targets()
    nc = len(cells)
    code = float(n_samples + block)
    out = []
    for ci, c in enumerate(cells):
        per: dict[str, Any] = {}
        for ri, r in enumerate(REWARDS):
            sl = slice((ri * nc + ci) * seeds, (ri * nc + ci + 1) * seeds)
            settle = rs.settling_sample(lat_blocks[sl], c["target_ms"], block)
            cens = np.isinf(settle)
            t, o = sv.from_coded(np.where(cens, code, settle), cens, float(n_samples))
            per[r] = {"codes": np.where(cens, code, settle), "t": t, "o": o,
                      "first": lat_blocks[sl, 0], "last": float(np.median(lat_blocks[sl, -1])),
                      "median": sv.km_median(t, o), "settled": int(o.sum()),
                      "counts": np.median(counts[sl], axis=0).tolist()}
        p, m = per["proposed"], per["mnasnet"]
        eff = mann_whitney_less(p["codes"], m["codes"])["effect"]
        lr_test = sv.logrank_sooner(p["t"], p["o"], m["t"], m["o"])
        mp, mm = p["median"], m["median"]
        speed = (mm - mp) / mm if mp is not None and mm is not None else None
        met = paper.met(mp, mm, speed)
        out.append({**c, "p_sooner": eff, "logrank_p": lr_test["p"], "z": lr_test["z"],
                    "median": {r: per[r]["median"] for r in REWARDS},
                    "settled": {r: per[r]["settled"] for r in REWARDS},
                    "counts": {r: per[r]["counts"] for r in REWARDS},
                    "speedup": speed, "paper_met": bool(met), "seeds": seeds,
                    "lat_first": float(np.median(np.concatenate([p["first"], m["first"]]))),
                    "lat_last": {r: per[r]["last"] for r in REWARDS}})
    return out


def map_stats(cfg: dict[str, Any], res: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """cell_stats for every setting of the map: {setting name: [cell dicts]}."""
    return {name: cell_stats(s["lat_blocks"], s["counts"], [res["cells"][i] for i in s["cells"]],
                             s["seeds"], cfg["n_samples"], cfg["block"])
            for name, s in res["settings"].items()}


def official_note() -> str:
    """Whether NB201's own latency column is in the map (user-exported official table)."""
    return ("NB201's own latency column (nb201) is included: an exported official table "
            "was found" if official_table_path().is_file() else
            "NB201's own latency column is not available offline (export it with `nasrepro "
            "nb201 export` and it joins the map)")


def source_rows(cfg: dict[str, Any], cells: list[dict[str, Any]]) -> list[list[Any]]:
    """Per latency column: its provenance (origin, what it measures), range and the T
    values the map uses (for the record)."""
    table = rs.table_for(tuple(cfg["sources"]))
    prov: dict[str, tuple[str, str]] = {}
    for entry in table.provenance.get("sources", {}).values():
        for col, what in entry.get("columns", {}).items():
            prov[col.removeprefix("lat__")] = (entry.get("origin", "?"), what)
    rows = []
    for src in cfg["sources"]:
        col = table.latency_ms(src).to("cpu", torch.float64).numpy()
        origin, what = prov.get(src, ("user-exported official NAS-Bench-201 file",
                                      "NB201 latency, s per batch of 256 x 1000"))
        ts = ", ".join(f"{c['label']} = {c['target_ms']:.3f}" for c in cells
                       if c["source"] == src)
        rows.append([src, origin, what, f"{col.min():.3f}", f"{np.median(col):.3f}",
                     f"{col.max():.3f}", ts])
    return rows


def controller_differences() -> list[list[Any]]:
    """Today's LSTM REINFORCE settings (REWARD-4's LSTM rows) against the ENAS-style
    training of this map, generated from the code's constants."""
    lstm = rs.CONTROLLERS["lstm"]
    c = LSTMController(1)
    adam = torch.optim.Adam([torch.zeros(1, requires_grad=True)]).defaults
    n = rs.N_SAMPLES
    return [
        ["architectures per update", 1, ENAS.samples_per_update],
        [f"updates in {n} samples", n, n // ENAS.samples_per_update],
        ["Adam lr", lstm.lr, ENAS.lr],
        ["Adam betas", str(tuple(adam["betas"])), str(ENAS.betas)],
        ["Adam eps", adam["eps"], ENAS.eps],
        ["gradient clipping", "none", f"L2 norm {ENAS.clip_norm:g} per seed"],
        ["entropy", f"loss regulariser, weight {lstm.entropy_weight:g}",
         f"added to the reward (detached), weight {ENAS.entropy_weight:g}"],
        ["baseline", f"bias-corrected EMA of rewards, momentum {lstm.ema_momentum:g}, "
         "updated before the advantage", f"first task reward, then EMA decay "
         f"{ENAS.baseline_decay:g} per sample (no bias correction), before the advantage"],
        ["LSTM hidden, layers, temperature, tanh constant", f"{c.hidden}, {c.layers}, "
         f"{c.temperature:g}, {c.tanh_constant:g}", "same controller, same defaults"],
    ]
