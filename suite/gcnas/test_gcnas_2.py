"""GCNAS-2: side by side with the RNN controller, NB201's REINFORCE baseline, random search
and regularized evolution: samples to feasibility, best feasible accuracy, mean reward,
controller parameters and time per sample; plus the shuffled-adjacency ablation.

Verdict items: GCN vs RNN non-inferiority of the best feasible accuracy and of the mean
reward (primary source, each reward). Parameters and timings are reported, not judged."""

import os

import numpy as np
import pytest

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.claims import survival as sv
from nasrepro.claims.stats import mann_whitney_less, summarize
from nasrepro.experiments import gcnas
from nasrepro.experiments import reward_search as rs

SOURCE = gcnas.SOURCE_NOTE


def _iqr(values, digits: int = 0) -> str:
    s = summarize(values)
    return f"{s['median']:.{digits}f} [{s['q1']:.{digits}f}, {s['q3']:.{digits}f}]"


def _no_feasible(values) -> int:
    """Runs without any sample of latency <= T (their best feasible accuracy is nan)."""
    return int(np.isnan(np.asarray(values, dtype=np.float64)).sum())


def _best_acc_cell(values) -> str | None:
    """median [IQR] of the best feasible accuracy; None (no value) when a run had no
    feasible sample: such a run has no best feasible accuracy to summarise."""
    return None if _no_feasible(values) else _iqr(values, 2)


def _km(m: dict, key: str, cfg: dict) -> str:
    """KM median of a censored per-seed metric (never a censoring code) and its count."""
    h = float(cfg["n_samples"])
    t, o = sv.from_coded(m[key], m[f"{key}_censored"], h)
    return f"{sv.describe(t, o, h)}; {int((~o).sum())}/{len(t)} never"


@pytest.mark.claim("GCNAS-2")
def test_gcnas_2_side_by_side(claim):
    cfg, results = gcnas.comparison_for_claim(claim)
    spec = claim.spec
    src = rs.PRIMARY_SOURCE
    result = ClaimResult(claim.claim, config=claim.config(**cfg))
    for reward in cfg["rewards"]:
        where = f"{reward}, {rs.paper_target_note(src, results['gcn']['targets'][src])}"
        g = gcnas.metrics(results["gcn"], cfg, reward, src)
        r = gcnas.metrics(results["lstm"], cfg, reward, src)
        test = gcnas.non_inferior_higher(g["best_feasible_acc"], r["best_feasible_acc"],
                                         gcnas.MARGIN_ACC_PP)
        result.add(Measurement(
            f"GCN best feasible accuracy >= RNN's - {gcnas.MARGIN_ACC_PP:g} pp: "
            f"P(rnn - margin < gcn) [{where}]", test["effect"], source=SOURCE,
            tolerance=spec.tolerance("best_acc"), p_value=test["p"], band=0.1,
            detail=f"GCN {np.nanmedian(g['best_feasible_acc']):.2f} %, RNN "
                   f"{np.nanmedian(r['best_feasible_acc']):.2f} % (medians over the runs "
                   f"with a feasible sample); runs with no feasible sample (ranked lowest "
                   f"in the test): GCN {_no_feasible(g['best_feasible_acc'])}/"
                   f"{len(g['best_feasible_acc'])}, RNN {_no_feasible(r['best_feasible_acc'])}"
                   f"/{len(r['best_feasible_acc'])}"))
        test = gcnas.non_inferior_higher(g["mean_reward"], r["mean_reward"],
                                         gcnas.MARGIN_REWARD)
        result.add(Measurement(
            f"GCN mean reward >= RNN's - {gcnas.MARGIN_REWARD:g}: P(rnn - margin < gcn) "
            f"[{where}]", test["effect"], source=SOURCE, tolerance=spec.tolerance("reward"),
            p_value=test["p"], band=0.1,
            detail=f"GCN {np.median(g['mean_reward']):.4f}, RNN "
                   f"{np.median(r['mean_reward']):.4f} (medians)"))

    # the table the searches used (with an exported official table: its nb201 column too)
    ceilings = gcnas.feasible_ceilings(cfg["sources"], results["gcn"]["targets"])
    r0 = cfg["rewards"][0]
    for source in cfg["sources"]:
        t = results["gcn"]["targets"][source]
        ceiling = ceilings[source]
        best = {c: gcnas.metrics(results[c], cfg, r0, source)["best_feasible_acc"]
                for c in gcnas.CONTROLLER_ROWS}
        found = {c: int((np.nan_to_num(b, nan=-np.inf) >= ceiling - 1e-3).sum())
                 for c, b in best.items()}
        rnd, rnn = best["random"], best["lstm"]
        rnd_note = (f"Random search's median best feasible accuracy is "
                    f"{np.median(rnd):.2f} % against the ceiling - {gcnas.MARGIN_ACC_PP:g} pp "
                    f"= {ceiling - gcnas.MARGIN_ACC_PP:.2f} %" if not _no_feasible(rnd) else
                    f"{_no_feasible(rnd)}/{len(rnd)} random searches had no feasible sample")
        if not _no_feasible(rnn):
            bound = np.median(rnn) - gcnas.MARGIN_ACC_PP
            rnd_note += (f"; the RNN's is {np.median(rnn):.2f} %, so the item's bound (RNN - "
                         f"{gcnas.MARGIN_ACC_PP:g} pp) is {bound:.2f} %")
        result.notes.append(
            f"Best feasible accuracy ceiling on {source} (T = {t:.3f} ms): {ceiling:.2f} % "
            f"(the best cell with latency <= T in the table). Runs that found it "
            f"({r0} reward): "
            + ", ".join(f"{gcnas.LABELS[c]} {k}/{len(best[c])}" for c, k in found.items())
            + f". {rnd_note}. Where every controller reaches the ceiling, this "
            "best-of-all-samples measure cannot separate them; where random search comes "
            "within the margin of the ceiling, it cannot separate a learning controller from "
            "random search either. The mean-reward items here and GCNAS-1's last-block "
            "accuracy and block curves (figures in its record) can.")

    # time per REINFORCE step of one search, measured now (not regression-checked)
    timing = {c: gcnas.step_time_ms(c, device=claim.device)
              for c in ("gcn", "lstm", "factorized")}
    rows, no_feasible = [], []
    for source in cfg["sources"]:
        for reward in cfg["rewards"]:
            for ctl in gcnas.CONTROLLER_ROWS:
                res = results[ctl]
                m = gcnas.metrics(res, cfg, reward, source)
                n = len(m["first_feasible"])
                t = timing.get(ctl.split("_")[0] if ctl.startswith("gcn") else ctl)
                amort = gcnas.time_per_sample_ms(res, cfg)
                rows.append([
                    source, reward, gcnas.LABELS[ctl], n,
                    _km(m, "first_feasible", cfg), _km(m, "settle", cfg),
                    _best_acc_cell(m["best_feasible_acc"]),
                    _iqr(m["mean_reward"], 4), res["params"],
                    f"{t['step_ms']:.2f}" if t else "—",
                    f"{1e3 * amort['sample_wall_ms']:.0f} ({amort['rows']} rows)"
                    if np.isfinite(amort["sample_wall_ms"]) else "—"])
                if k := _no_feasible(m["best_feasible_acc"]):
                    no_feasible.append(f"{gcnas.LABELS[ctl]} ({reward}, {source}) {k}/{n}")
    result.table(
        "Side by side (median [IQR] over seeds; samples to an event: Kaplan-Meier median, "
        f"runs without it censored at {cfg['n_samples']})",
        ["source", "reward", "controller", "seeds", "first block <= T", "settles <= T",
         "best feasible acc %", "mean reward", "params/search", "ms/step (1 search)",
         "µs/sample, batched run"], rows)
    result.notes.append(
        "Best feasible accuracy: runs with no sample of latency <= T have none; a row with "
        "such runs shows no value (never 0 %). Runs with no feasible sample: "
        + ("; ".join(no_feasible) if no_feasible else "none, in every row") + ".")

    # shuffled-adjacency ablation: does the true cell graph matter? (the only test of the
    # paper's premise that the graph captures the layers' spatial relations)
    abl, better = [], []
    alpha = spec.tolerance("reward").value
    for reward in cfg["rewards"]:
        g = gcnas.metrics(results["gcn"], cfg, reward, src)
        s = gcnas.metrics(results["gcn_shuffled"], cfg, reward, src)
        rew = mann_whitney_less(s["mean_reward"], g["mean_reward"])
        acc = mann_whitney_less(s["last_acc"], g["last_acc"])
        abl.append([reward, f"{np.median(g['mean_reward']):.4f}",
                    f"{np.median(s['mean_reward']):.4f}", f"{rew['effect']:.2f}",
                    f"{rew['p']:.3g}", f"{np.median(g['last_acc']):.2f}",
                    f"{np.median(s['last_acc']):.2f}", f"{acc['p']:.3g}"])
        result.notes.append(
            f"Ablation ({reward}): true-graph GCN mean reward {np.median(g['mean_reward']):.4f} "
            f"vs shuffled adjacency {np.median(s['mean_reward']):.4f} (medians); one-sided "
            f"Mann-Whitney 'true graph higher': P = {rew['effect']:.2f}, p = {rew['p']:.3g}; "
            f"last-block accuracy {np.median(g['last_acc']):.2f} vs "
            f"{np.median(s['last_acc']):.2f} %, p = {acc['p']:.3g}.")
        better += [f"{what} ({reward})" for what, t in (("mean reward", rew),
                                                        ("last-block accuracy", acc))
                   if t["p"] <= alpha]
    result.notes.append(
        "The ablation is the only test of the paper's premise that the graph of the layers "
        "captures their spatial relations (the items above compare the GCN with the RNN, not "
        f"the graph with a wrong one). At alpha {alpha:g} (one-sided, uncorrected) the true "
        "graph is shown better in "
        + (", ".join(better) if better else f"none of the {2 * len(abl)} comparisons") + ".")
    result.table(f"Shuffled-adjacency ablation ({src}; same initialisation per seed)",
                 ["reward", "GCN mean reward", "shuffled mean reward", "P(shuffled < GCN)",
                  "p (one-sided)", "GCN last-block acc %", "shuffled last-block acc %",
                  "p acc (one-sided)"], abl)
    result.notes.append(
        "Times: 'ms/step (1 search)' is one REINFORCE step (sample, look-up, reward, Adam) "
        "for a single search, median of 5 x 20 steps "
        f"{gcnas.step_time_phrase(claim.device)}, measured in this "
        "test; 'µs/sample, batched run' is the wall time of the cached "
        "batched run divided by samples and searches (batch sizes differ: the factorized row "
        f"is REWARD-4's run). Measured on {os.cpu_count()} CPU(s), 1-minute load average "
        f"{os.getloadavg()[0]:.1f} when this claim was judged: these times are not "
        "regression-checked; the benchmark suite/bench/test_bench_gcn.py measures samples/s.")
    result.notes.append(
        "Verdict rule: combination of the items (best feasible accuracy and mean reward "
        "non-inferiority, each reward, primary source): all pass -> REPRODUCED, none -> NOT "
        "REPRODUCED, else PARTIAL.")
    claim.submit(result)
