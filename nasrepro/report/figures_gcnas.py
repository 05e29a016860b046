"""GC-NAS figure: per-block mean latency and accuracy of every controller (GCNAS-1/2)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nasrepro.report.figures import new_figure, save_figure


def blocks_figure(results: dict[str, dict[str, Any]], cfg: dict[str, Any], source: str,
                  labels: dict[str, str], tier: str, name: str = "gcnas_blocks") -> str:
    """Rows: mean accuracy and mean latency per 250-sample block; columns: rewards.
    Each controller: median over its seeds with the IQR as a band; T marked."""
    from nasrepro.experiments.reward_search import block_means

    rewards = cfg["rewards"]
    fig, axes = new_figure(2, len(rewards), figsize=(5.6 * len(rewards), 7.2), squeeze=False,
                           sharex=True)
    for ci, reward in enumerate(rewards):
        ax_a, ax_l = axes[0, ci], axes[1, ci]
        target = None
        for ctl, res in results.items():
            key = f"{reward}/{source}"
            if key not in res["groups"]:
                continue
            target = res["targets"][source]
            g = res["groups"][key]
            x = (np.arange(g["lat"].shape[1] // cfg["block"]) + 1) * cfg["block"]
            ablation = ctl.startswith("gcn_")
            style = {"lw": 1.0 if ablation else 1.7, "ls": "--" if ablation else "-"}
            for ax, arr in ((ax_a, g["acc"]), (ax_l, g["lat"])):
                b = block_means(arr, cfg["block"])
                q1, med, q3 = np.percentile(b, [25, 50, 75], axis=0)
                (line,) = ax.plot(x, med, label=f"{labels.get(ctl, ctl)} (n={b.shape[0]})",
                                  **style)
                ax.fill_between(x, q1, q3, color=line.get_color(), alpha=0.15)
        if target is not None:
            ax_l.axhline(target, color="k", ls=":", lw=1.2, label=f"T = {target:.2f} ms")
        ax_a.set_title(f"{reward} reward, {source}")
        ax_a.set_ylabel("mean test accuracy per block (%)")
        ax_l.set_ylabel("mean latency per block (ms)")
        ax_l.set_xlabel(f"sample (end of {cfg['block']}-sample block)")
    # one legend for all panels, below them, so no curve is hidden behind it
    handles, names = axes[1, -1].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=4, fontsize=8)
    fig.suptitle("GC-NAS vs RNN, NB201 REINFORCE, random search, evolution: "
                 "median over seeds (n in legend), band: IQR over seeds")
    return save_figure(fig, name, tier)


def km_feasibility_figure(curves: dict[str, dict[str, dict]], horizon: float, tier: str,
                          name: str = "gcnas_km_feasible") -> str:
    """GCNAS-1: Kaplan-Meier fraction of runs that reached a feasible block (mean latency
    <= T) by sample n, every controller (lines), one panel per reward.

    curves[reward][label] = {"t", "survival"} from claims.survival.km."""
    rewards = list(curves)
    fig, axes = new_figure(1, len(rewards), figsize=(5.4 * len(rewards), 4.0), sharey=True,
                           squeeze=False)
    for ax, reward in zip(axes[0], rewards, strict=True):
        for label, c in curves[reward].items():
            t = np.concatenate([[0.0], c["t"], [horizon + 150.0]])
            reached = 1.0 - np.concatenate([[1.0], c["survival"], c["survival"][-1:]])
            ax.step(t, reached, where="post", label=label,
                    ls="--" if "ablation" in label else "-")
        ax.axvline(horizon, color="k", lw=0.8, alpha=0.5)  # end of search: censoring
        ax.set_xlim(0, horizon + 150.0)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{reward} reward")
        ax.set_xlabel("sample n")
    axes[0, 0].set_ylabel("fraction of runs with a feasible block by n (KM)")
    axes[0, -1].legend(fontsize=7, loc="lower right")
    fig.suptitle("GCNAS-1 (ours): Kaplan-Meier estimate of samples to the first feasible "
                 f"block; runs never feasible are censored at {horizon:g}")
    return save_figure(fig, name, tier)
