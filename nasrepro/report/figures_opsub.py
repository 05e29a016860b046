"""Figures of the OPSUB report: the LANA distillation loss curves (ours; the paper has none)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from nasrepro.report.figures import new_figure, save_figure


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    if k <= 1 or len(y) < k:
        return y
    return np.convolve(y, np.ones(k) / k, mode="valid")


def distillation_curves(result: dict[str, Any], tier: str, name: str = "opsub_distill") -> str:
    """One panel per paper position: MSE / Var(target) per step for each candidate (moving
    average), identity as a horizontal line. Returns the figure's report path."""
    pos_map = result["positions"]
    fig, axes = new_figure(1, len(pos_map), figsize=(4.2 * len(pos_map), 3.6), sharey=True)
    for ax, (pp, p) in zip(np.atleast_1d(axes), pos_map.items(), strict=True):
        for key, d in sorted(result["distill"].items()):
            if not key.startswith(f"p{pp}/"):
                continue
            cand = key.split("/")[1]
            if "identity" in d:
                ident = d["identity"]
                ax.axhline(ident["mse"] / ident["target_var"], color="k", ls=":", lw=1,
                           label=f"{cand} (identity)")
                continue
            loss = np.asarray(d["loss"]) / np.maximum(np.asarray(d["target_var"]), 1e-12)
            k = max(1, len(loss) // 20)
            y = _smooth(loss, k)
            ax.plot(np.arange(len(y)) + k // 2, y, label=cand)
        ax.set_title(f"paper position {pp} (block {p})")
        ax.set_xlabel("distillation step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("MSE / Var(block output)")
    fig.suptitle(f"OPSUB: LANA block distillation loss, {result['network']} "
                 f"({result['tier']} tier)", fontsize=10)
    return save_figure(fig, name, tier)
