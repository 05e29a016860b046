"""REWARD-SENS heatmaps: latency source x T, one figure per controller setting, drawn from
the record's per-cell table (nasrepro.report.sensitivity.CELL_HEADERS)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from nasrepro.report.figures import new_figure, save_figure
from nasrepro.report.sensitivity import paper_targets


def _t_key(label: str) -> tuple[int, float]:
    """Quantile columns first (ascending), then fixed-T columns ('17 ms')."""
    if label.startswith("q"):
        return (0, float(label[1:]))
    return (1, float(label.split()[0]))


def heatmaps(cells: list[dict[str, Any]], tier: str, paper_cell: tuple[str, str, str],
             n_samples: int) -> list[str]:
    """Per setting: P(proposed sooner) and the KM median settling sample of each reward,
    sources x T; '*' = one-sided log-rank p <= 0.05, 'NR' = KM median not reached,
    black box = REWARD-4/5's source and T (in every setting), green box = the paper's
    REWARD-4 numbers met."""
    from matplotlib.colors import Normalize

    paths = []
    for setting in dict.fromkeys(c["setting"] for c in cells):
        sc = [c for c in cells if c["setting"] == setting]
        sources = sorted({c["source"] for c in sc})
        labels = sorted({c["T"] for c in sc}, key=_t_key)
        at = {(c["source"], c["T"]): c for c in sc}
        panels = [("P(proposed sooner)", "P(proposed sooner)", "RdBu_r", Normalize(0, 1)),
                  ("KM median settle, proposed", "median settling, proposed", "viridis_r",
                   Normalize(0, n_samples)),
                  ("KM median settle, MnasNet", "median settling, MnasNet", "viridis_r",
                   Normalize(0, n_samples))]
        fig, axes = new_figure(1, 3, figsize=(4.2 + 1.2 * len(labels) * 3,
                                              2.2 + 0.32 * len(sources)), sharey=True)
        for ax, (key, title, cmap, norm) in zip(axes, panels, strict=True):
            grid = np.full((len(sources), len(labels)), np.nan)
            for i, s in enumerate(sources):
                for j, t in enumerate(labels):
                    c = at.get((s, t))
                    if c is not None and c[key] is not None:
                        grid[i, j] = c[key]
            ax.set_facecolor("lightgrey")  # NaN (not reached, not run) is drawn transparent
            im = ax.imshow(grid, cmap=cmap, norm=norm, aspect="auto")
            fig.colorbar(im, ax=ax, shrink=0.8)
            for i, s in enumerate(sources):
                for j, t in enumerate(labels):
                    c = at.get((s, t))
                    if c is None:
                        continue
                    v = c[key]
                    if key == "P(proposed sooner)":
                        txt = f"{v:.2f}" + ("*" if c["log-rank p"] <= 0.05 else "")
                    else:
                        txt = "NR" if v is None else f"{v:g}"
                    ax.text(j, i, txt, ha="center", va="center", fontsize=6)
                    if c["paper REWARD-4 met"]:
                        ax.add_patch(_box(j, i, "lime"))
                    if (s, t) == paper_cell[1:]:  # REWARD-4/5's source and T, every setting
                        ax.add_patch(_box(j, i, "black"))
            ax.set_xticks(range(len(labels)), labels, fontsize=7)
            ax.set_yticks(range(len(sources)), sources, fontsize=7)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("T (quantile of the source's latency, or fixed)", fontsize=7)
        seeds = sc[0]["seeds"]
        fig.suptitle(f"REWARD-SENS ({tier}), {setting}, {seeds} seeds per reward and cell; "
                     f"* log-rank p ≤ 0.05; NR not reached within {n_samples}; black box: "
                     f"REWARD-4/5's source and T; green: paper's {paper_targets().short()} met",
                     fontsize=8)
        slug = re.sub(r"[^a-z0-9]+", "_", setting.lower()).strip("_")
        paths.append(save_figure(fig, f"reward_sens_{slug}", tier))
    return paths


def _box(x: float, y: float, color: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor=color, lw=1.8)
