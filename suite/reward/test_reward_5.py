"""REWARD-5 (Fig. 6): of 5000 samples, how many have latency <= T and accuracy in
[50, 60) % / [60, 70) %: paper MnasNet 659 / 781, proposed 780 / 1004 (one run each);
we report per-seed counts and test 'proposed > MnasNet' over seeds."""

import numpy as np
import pytest

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.claims.stats import mann_whitney_less, median_ci, median_difference_ci, summarize
from nasrepro.experiments import reward_search as rs
from nasrepro.report.figures_reward import fig6_heatmaps


@pytest.mark.claim("REWARD-5")
def test_reward_5_feasible_counts(claim):
    s = rs.primary_search(claim.tier, len(claim.seeds(rs.TIERS[claim.tier]["seeds"])),
                          claim.device)
    cfg, res, src, where, mets = s.cfg, s.res, s.source, s.where, s.metrics
    spec = claim.spec
    result = ClaimResult(claim.claim, config=claim.config(**cfg))
    tol = spec.tolerance("count")
    for b in ("50-60", "60-70"):
        for r in ("mnasnet", "proposed"):
            ref = spec.value(f"count/{b}/{r}")
            counts = [float(v) for v in mets[r][f"count/{b}"]]
            ci, spread = median_ci(counts), summarize(counts)
            result.add(Measurement(
                f"count/{b}/{r} [{where}]", counts,
                paper=ref.value, source=ref.source, tolerance=tol, unit="samples",
                band=25.0, detail=f"median {ci['median']:g} (95 % bootstrap {ci['low']:.4g}-"
                                  f"{ci['high']:.4g}), mean {spread['mean']:.1f}, seed std "
                                  f"{spread['std']:.1f} (the band is centred on the median)"))
        test = mann_whitney_less(mets["mnasnet"][f"count/{b}"], mets["proposed"][f"count/{b}"])
        dci = median_difference_ci(mets["proposed"][f"count/{b}"], mets["mnasnet"][f"count/{b}"])
        result.add(Measurement(
            f"proposed > mnasnet in [{b.replace('-', ', ')}) %: P(count_m < count_p) [{where}]",
            test["effect"], tolerance=spec.tolerance("more"), p_value=test["p"], band=0.1,
            detail=f"one-sided Mann-Whitney over seeds ({test['method']}); median difference "
                   f"proposed - MnasNet {dci['difference']:g} (95 % bootstrap {dci['low']:.4g} to "
                   f"{dci['high']:.4g})"))
    rows = []
    # the tier's sources, then the rescaled column's search (REWARD-4's sensitivity table)
    rescaled = rs.rescaled_results(claim.tier, cfg["seeds"], claim.device)
    for run_cfg, run in ((cfg, res), rescaled):
        for s, r in ((s, r) for s in run_cfg["sources"] for r in run_cfg["rewards"]):
            g = rs.group_metrics(run, run_cfg, r, s)
            c50, c60 = summarize(g["count/50-60"]), summarize(g["count/60-70"])
            feasible = (run["groups"][f"{r}/{s}"]["lat"] <= run["targets"][s]).sum(-1)
            rows.append([s, f"{run['targets'][s]:.3f}", r,
                         f"{c50['median']:.0f} [{c50['q1']:.0f}, {c50['q3']:.0f}]",
                         f"{c60['median']:.0f} [{c60['q1']:.0f}, {c60['q3']:.0f}]",
                         f"{np.median(feasible):.0f}"])
    result.table(f"Counts per search of samples with LAT <= T by accuracy bin ({cfg['seeds']} "
                 "seeds each; median [IQR]); paper: MnasNet 659 / 781, proposed 780 / 1004",
                 ["latency source", "T (ms)", "reward", "ACC in [50,60)", "ACC in [60,70)",
                  "all LAT <= T"], rows)
    result.notes.append(f"Latency source {where}; the paper's 17 ms on NB201's own latency "
                        "is matched by quantile (CLAIMS.md). Same runs as REWARD-4 (cached).")
    (scaled,) = rescaled[0]["sources"]
    result.notes.append(
        f"{scaled}: {rs.RESCALED[scaled]} rescaled so that T is {rs.PAPER_T_MS:g} ms (where the "
        "proposed reward weighs latency as in the paper; REWARD-4's sensitivity table), a "
        "search of its own; not part of the verdict.")
    result.figures.append(fig6_heatmaps(res, src, claim.tier))
    record, _ = claim.submit(result)
    # Exact check: per-seed counts never exceed the samples of a search.
    for r in cfg["rewards"]:
        assert (mets[r]["count/50-60"] + mets[r]["count/60-70"]).max() <= cfg["n_samples"]
    assert record["verdict"] in ("REPRODUCED", "PARTIAL", "NOT REPRODUCED")
