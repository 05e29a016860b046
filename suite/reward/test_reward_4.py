"""REWARD-4 (Fig. 7): the proposed reward's sampled latency settles <= T sooner than
MnasNet's (paper: from sample 4000 vs 4750, printed '15 %' sooner; our paper value 15.8 %
is derived as (4750 - 4000) / 4750); mean accuracy rises in both.

Many seeds per reward (the paper ran one search each). The settling sample is a censored
time to event: runs that never settle within the search are censored at its end, never
dropped and never given a value; Kaplan-Meier medians, a one-sided log-rank test and the
restricted mean settling sample (nasrepro.claims.survival).
"""

import numpy as np
import pytest

from nasrepro.claims import ClaimResult, Measurement, Verdict
from nasrepro.claims import survival as sv
from nasrepro.experiments import reward_search as rs
from nasrepro.report.figures_reward import fig7_blocks, km_settle_figure


def _times(g: dict, key: str = "settle", mask: str = "censored", horizon: float = 5000.0
           ) -> tuple[np.ndarray, np.ndarray]:
    """(times, observed) of one group's settling (or first-crossing) sample."""
    return sv.from_coded(g[key], g[mask], horizon)


def _rmst(t: np.ndarray, o: np.ndarray, horizon: float) -> str:
    r = sv.rmst_ci(t, o, horizon)
    return f"{r['rmst']:.0f} [{r['low']:.0f}, {r['high']:.0f}]"


def per_seed_table(result: ClaimResult, title: str, times: dict[str, tuple]) -> None:
    """Per-seed times and event flags, one column pair per group (for recomputation)."""
    names = list(times)
    n = len(times[names[0]][0])
    rows = [[i] + [v for k in names for v in (float(times[k][0][i]), bool(times[k][1][i]))]
            for i in range(n)]
    result.table(title, ["seed"] + [h for k in names for h in (f"{k} time", f"{k} event")],
                 rows)


def _sooner(test: dict[str, float], spec) -> str:
    """What a one-sided log-rank test of 'proposed settles sooner' found, at the claim's
    level (a note states the result the test gave, not the paper's hypothesis)."""
    alpha = spec.tolerance("sooner").value
    found = ("proposed settles sooner" if test["p"] <= alpha
             else f"no evidence at alpha {alpha:g} that proposed settles sooner")
    return f"{found} (one-sided log-rank z = {test['z']:.2f}, p = {test['p']:.3g})"


def _block_start_reading(spec, meds: dict[str, dict], block: float) -> str:
    """Whether reading the paper's settling samples as block starts (one block later on our
    block-end metric) instead of block ends would change the settle rule's outcome for any of
    the KM medians shown, or the speed-up item's (generated; the references stay block ends)."""
    ends = {r: spec.value(f"settle/{r}").value for r in ("proposed", "mnasnet")}
    starts = {r: v + block for r, v in ends.items()}

    def met(ours, ref, tol) -> bool:
        return ours is not None and tol.check(ours, ref)[0] is Verdict.REPRODUCED

    tol = spec.tolerance("settle")
    changed = [f"{run} {r} (KM median {m:g})" for run, ms in meds.items()
               for r, m in ms.items() if met(m, ends[r], tol) != met(m, starts[r], tol)]
    speed_end = spec.value("speedup").value
    speed_start = (starts["mnasnet"] - starts["proposed"]) / starts["mnasnet"]
    p = meds["primary"]
    if None in p.values():
        speed = "the speed-up item is NOT REPRODUCED under both (a primary KM median not reached)"
    else:
        ours = (p["mnasnet"] - p["proposed"]) / p["mnasnet"]
        tol_s = spec.tolerance("speedup")
        same = met(ours, speed_end, tol_s) == met(ours, speed_start, tol_s)
        speed = (f"the speed-up item ({ours:.3f}) is judged "
                 + ("the same" if same else "differently") + " under both")
    return (f"Paper's settling samples read as block starts instead of block ends: its run "
            f"would score {starts['proposed']:g} / {starts['mnasnet']:g} on our block-end "
            f"metric, speed-up {speed_start:.3f} instead of {speed_end:.3f}. Settle rule "
            f"(±{tol.value:g}) outcome would change for: "
            f"{', '.join(changed) if changed else 'none of the KM medians shown'}; {speed}.")


def rescaled_sensitivity(result: ClaimResult, claim, spec, primary: dict, horizon: float,
                         cfg: dict, res: dict) -> None:
    """Sensitivity table and note: MnasNet and proposed on the primary column rescaled so
    that T lands on 17 ms (the proposed reward is not scale-free; MnasNet's is, so its row
    differs from the primary's by the random stream only: a yardstick for seed noise).
    cfg, res: the primary search (its seed count; the base column's T from its targets)."""
    rcfg, rres = rs.rescaled_results(claim.tier, cfg["seeds"], claim.device)
    (name,) = rcfg["sources"]
    base = rs.RESCALED[name]
    scale = rs.PAPER_T_MS / float(res["targets"][base])
    rows, rtt, med = [], {}, {}
    tol = spec.tolerance("settle")
    for r in rcfg["rewards"]:
        g = rs.group_metrics(rres, rcfg, r, name)
        rtt[r] = _times(g, horizon=horizon)
        med[r] = sv.km_median(*rtt[r])
        ref = spec.value(f"settle/{r}").value
        # the settle item's own rule, applied here for the reader (not an item of the claim)
        met = Measurement(r, med[r], paper=ref, tolerance=tol, verdict=None if med[r]
                          is not None else Verdict.NOT_REPRODUCED).evaluate()
        rows.append([r, sv.describe(*rtt[r], horizon), _rmst(*rtt[r], horizon),
                     f"{int((~rtt[r][1]).sum())}/{len(rtt[r][0])}",
                     f"{ref:g} {tol.describe()}: "
                     + ("met" if met is Verdict.REPRODUCED else "not met"),
                     "not reached" if primary[r] is None else f"{primary[r]:g}"])
    where = f"{base} x {scale:.4f} ({rs.PAPER_T_MS:g} ms / its T), T = {rs.PAPER_T_MS:g} ms"
    result.table(f"Sensitivity: rescaled latency ({where}; {rcfg['seeds']} seeds per reward, "
                 "a search of its own)",
                 ["reward", "settling sample (KM median)", "restricted mean settling sample",
                  "never settle", "paper (settle item's rule)", "primary source: KM median"],
                 rows)
    speed = ("no measurable speed-up (a KM median not reached)"
             if None in med.values() else
             f"speed-up (KM medians) {(med['mnasnet'] - med['proposed']) / med['mnasnet']:.1%}")
    test = sv.logrank_sooner(*rtt["proposed"], *rtt["mnasnet"])
    result.notes.append(
        f"Rescaled latency ({where}): the proposed reward's latency term then weighs as in "
        f"the paper at equal LAT/T; {_sooner(test, spec)}; "
        f"{speed}. MnasNet's reward is the same function of LAT/T on both columns, so its "
        "two KM medians differ by the random stream only. Search cost "
        f"{rres['cpu_s']:.1f} s CPU (cached).")
    result.notes.append(_block_start_reading(spec, {"primary": primary, "rescaled": med},
                                             float(cfg["block"])))


@pytest.mark.claim("REWARD-4")
def test_reward_4_settling(claim):
    s = rs.primary_search(claim.tier, len(claim.seeds(rs.TIERS[claim.tier]["seeds"])),
                          claim.device)
    cfg, res, src, where, mets = s.cfg, s.res, s.source, s.where, s.metrics
    spec = claim.spec
    result = ClaimResult(claim.claim, config=claim.config(**cfg))
    horizon = float(cfg["n_samples"])
    tt = {r: _times(mets[r], horizon=horizon) for r in ("mnasnet", "proposed")}

    tol_settle = spec.tolerance("settle")
    med = {}
    for r in ("proposed", "mnasnet"):
        ref = spec.value(f"settle/{r}")
        t, o = tt[r]
        med[r] = sv.km_median(t, o)
        detail = (f"Kaplan-Meier median: {sv.describe(t, o, horizon)}; runs that never settle "
                  f"are censored at {horizon:g}; restricted mean settling sample (area under "
                  f"the KM curve to {horizon:g}) {_rmst(t, o, horizon)} (95 % bootstrap)")
        # A median the KM curve does not reach is not a measured settling point: it cannot
        # confirm the paper's value.
        forced = Verdict.NOT_REPRODUCED if med[r] is None else None
        result.add(Measurement(
            f"settle/{r}: KM median settling sample [{where}]", med[r], paper=ref.value,
            source=ref.source, tolerance=tol_settle, unit="sample", band=250.0,
            verdict=forced, detail=detail))
    ref = spec.value("speedup")
    rd = sv.rmst_difference_ci(*tt["proposed"], *tt["mnasnet"], horizon)
    rm = sv.rmst(*tt["mnasnet"], horizon)
    rmst_note = (f"restricted means (to {horizon:g}): MnasNet {rm:.0f}, proposed "
                 f"{rm - rd['difference']:.0f}; proposed sooner by {rd['difference']:.0f} "
                 f"[{rd['low']:.0f}, {rd['high']:.0f}] samples (95 % bootstrap), "
                 f"{rd['difference'] / rm:.1%} (descriptive: depends on the horizon)")
    reached = med["mnasnet"] is not None and med["proposed"] is not None
    missing = [r for r in ("mnasnet", "proposed") if med[r] is None]
    result.add(Measurement(
        f"speedup (KM median settle, mnasnet vs proposed) [{where}]",
        (med["mnasnet"] - med["proposed"]) / med["mnasnet"] if reached else None,
        paper=ref.value, source=ref.source, tolerance=spec.tolerance("speedup"), band=0.05,
        verdict=None if reached else Verdict.NOT_REPRODUCED,
        detail=(f"KM medians MnasNet {med['mnasnet']:g}, proposed {med['proposed']:g}"
                if reached else "KM median not reached within "
                f"{horizon:g} for {' and '.join(missing)}: no measurable speed-up")
        + f"; {rmst_note}"))
    lr = sv.logrank_sooner(*tt["proposed"], *tt["mnasnet"])
    fp, fm = (sv.fraction_by(*tt[r], horizon) for r in ("proposed", "mnasnet"))
    # The paper's text says its block mean latency 'fell' to <= 17 ms at 4000 / 4750, so it was
    # above T before; how many of ours start above T (text only).
    above = {r: f"{int((~mets[r]['first_block_below']).sum())}/{len(tt[r][0])}"
             for r in ("proposed", "mnasnet")}
    result.add(Measurement(
        f"proposed settles sooner than mnasnet: KM fraction settled by {horizon:g}, "
        f"proposed - mnasnet [{where}]", fp - fm, tolerance=spec.tolerance("sooner"),
        p_value=lr["p"], band=0.1,
        detail=f"settled by {horizon:g}: proposed {fp:.2f}, MnasNet {fm:.2f}; one-sided "
               f"log-rank, H1 proposed's settling hazard higher (scipy.stats.logrank(proposed, "
               f"mnasnet, alternative='greater')): z = {lr['z']:.3f}; runs whose first block "
               f"mean latency is above T (the paper's text says its mean 'fell' to <= 17 ms): "
               f"proposed {above['proposed']}, MnasNet {above['mnasnet']}"))
    tol_rise = spec.tolerance("acc_rise")
    for r in ("proposed", "mnasnet"):
        result.add(Measurement(
            f"acc_rise/{r} (last - first block mean accuracy) [{where}]",
            list(mets[r]["acc_rise"]), threshold=0.0,
            source="Lim & Kim 2022, Fig. 7: mean accuracy rises over the run",
            tolerance=tol_rise, unit="pp", band=0.5))

    rows, curves = [], {}
    for s in cfg["sources"]:
        t = res["targets"][s]
        curves[s] = {}
        for r in cfg["rewards"]:
            g = rs.group_metrics(res, cfg, r, s)
            st, so = _times(g, horizon=horizon)
            ct, co = _times(g, "crossing", "no_crossing", horizon)
            curves[s][r] = {**sv.km(st, so), "label": rs.REWARD_LABELS.get(r, r)}
            n = len(st)
            rows.append([s, f"{t:.3f}", r, sv.describe(st, so, horizon),
                         _rmst(st, so, horizon), f"{int((~so).sum())}/{n}",
                         sv.describe(ct, co, horizon), f"{int((~co).sum())}/{n}",
                         f"{int(g['first_block_below'].sum())}/{n}",
                         f"{np.median(g['lat_blocks'][:, 0]):.2f} -> "
                         f"{np.median(g['lat_blocks'][:, -1]):.2f}",
                         f"{np.median(g['acc_blocks'][:, 0]):.2f} -> "
                         f"{np.median(g['acc_blocks'][:, -1]):.2f}"])
    result.table(
        f"Settling per reward and latency source ({cfg['seeds']} seeds each; Kaplan-Meier "
        f"medians, runs without the event censored at {horizon:g}; restricted mean to "
        f"{horizon:g} with 95 % bootstrap interval)",
        ["latency source", "T (ms)", "reward", "settling sample (KM median)",
         "restricted mean settling sample", "never settle", "first crossing (KM median)",
         "no crossing", "block 1 <= T", "lat block 1 -> 20 (ms)", "acc block 1 -> 20 (%)"],
        rows)
    per_seed_table(
        result, f"Per-seed settling samples on the primary source ({where}): time = settling "
        f"sample if event is true, else the censoring time ({horizon:g}, never settled); the "
        "log-rank test above is scipy.stats.logrank on these", tt)
    for s in cfg["sources"]:
        if s != src:
            ps = _times(rs.group_metrics(res, cfg, "proposed", s), horizon=horizon)
            ms = _times(rs.group_metrics(res, cfg, "mnasnet", s), horizon=horizon)
            t = sv.logrank_sooner(*ps, *ms)
            result.notes.append(
                f"Sensitivity {rs.paper_target_note(s, res['targets'][s])}: "
                f"{_sooner(t, spec)}; KM medians "
                f"proposed {sv.describe(*ps, horizon)}, MnasNet {sv.describe(*ms, horizon)}.")
    rnn = rs.rnn_results(claim.tier, claim.device)
    if rnn is None:
        result.notes.append(
            "RNN (LSTM) controller rows: not run in this tier (full tier: "
            f"{rs.TIERS['full']['rnn_seeds']} seeds per reward); see docs/nb201.md.")
    else:
        rcfg, rres = rnn
        rrows, rtt = [], {}
        for r in rcfg["rewards"]:
            g = rs.group_metrics(rres, rcfg, r, src)
            rtt[r] = _times(g, horizon=horizon)
            rrows.append([r, sv.describe(*rtt[r], horizon), _rmst(*rtt[r], horizon),
                          f"{int((~rtt[r][1]).sum())}/{len(rtt[r][0])}",
                          f"{np.median(g['lat_blocks'][:, -1]):.2f}",
                          f"{np.median(g['acc_blocks'][:, -1]):.2f}"])
        rt = sv.logrank_sooner(*rtt["proposed"], *rtt["mnasnet"])
        result.table(f"Sensitivity: LSTM controller ({rcfg['seeds']} seeds per reward, {where})",
                     ["reward", "settling sample (KM median)", "restricted mean settling sample",
                      "never settle", "lat block 20 (ms)", "acc block 20 (%)"], rrows)
        result.notes.append(f"LSTM controller ({rres['controller_note']}): "
                            f"{_sooner(rt, spec)}.")
    rescaled_sensitivity(result, claim, spec, med, horizon, cfg, res)
    result.notes.append(
        f"Latency source {where}; controller: {res['controller_note']}; "
        f"{cfg['n_samples']} samples per search, blocks of {cfg['block']}.")
    column = rs.table_for((src,)).latency_ms(src).double()
    mean_lat, target = float(column.mean()), float(res["targets"][src])
    result.notes.append(
        "Settling sample = end sample of the first settled block (the first block whose "
        "mean latency, and every later block's, is <= T); first crossing = first block "
        "<= T after a block > T. Runs whose "
        "first block is already <= T are counted in 'block 1 <= T'. Uniform start: the "
        f"mean latency of all {len(column)} cells of {src} is {mean_lat:.2f} ms, "
        f"{'at or below' if mean_lat <= target else 'above'} T = {target:.2f} ms, so a "
        "near-uniform controller's first block is expected "
        f"{'at or below' if mean_lat <= target else 'above'} T (the paper's text says its "
        "mean latency 'fell' (떨어졌다) to <= 17 ms at sample 4000 / 4750, so it was above T "
        "before; Fig. 7 itself is not in our text; per-reward counts of runs whose first "
        "block is above T are in the 'sooner' item's detail). Both are times to event: a "
        f"run without the event within {horizon:g} samples is censored at {horizon:g} "
        "(Kaplan-Meier; the median is 'not reached' when under half the runs have the event).")
    result.notes.append(
        f"Search cost: {res['cpu_s']:.1f} s CPU / {res['wall_s']:.1f} s wall for "
        f"{len(cfg['sources']) * len(cfg['rewards']) * cfg['seeds']} searches batched "
        "(cached; shared with REWARD-5).")
    paper = {r: spec.value(f"settle/{r}").value for r in ("proposed", "mnasnet")}
    result.figures.append(fig7_blocks(res, cfg, src, claim.tier, paper))
    result.figures.append(km_settle_figure(
        {s: {r: curves[s][r] for r in ("mnasnet", "proposed")} for s in cfg["sources"]},
        horizon, paper, claim.tier))
    for s in cfg["sources"]:
        if s != src:
            result.figures.append(fig7_blocks(res, cfg, s, claim.tier, paper,
                                              name=f"reward_fig7_{s}"))
    record, _ = claim.submit(result)
    # Exact checks (not paper comparisons): the metrics are well defined for every seed.
    for r in cfg["rewards"]:
        settle = mets[r]["settle"]
        assert np.all(settle % cfg["block"] == 0) and settle.min() >= cfg["block"]
        assert np.array_equal(mets[r]["censored"], settle > horizon)
    assert record["verdict"] in ("REPRODUCED", "PARTIAL", "NOT REPRODUCED")
