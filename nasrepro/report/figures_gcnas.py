"""GC-NAS figure: per-block mean latency and accuracy of every controller (GCNAS-1/2)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nasrepro.report.figures import new_figure, save_figure


def blocks_figure(results: dict[str, dict[str, Any]], cfg: dict[str, Any], source: str,
                  labels: dict[str, str], name: str = "gcnas_blocks") -> str:
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
    axes[1, -1].legend(fontsize=7, loc="best")
    fig.suptitle("GC-NAS vs RNN, NB201 REINFORCE, random search, evolution: "
                 "median over seeds, IQR band")
    return save_figure(fig, name)
