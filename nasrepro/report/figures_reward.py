"""Figures mirroring the REWARD paper's."""

from __future__ import annotations

from nasrepro.experiments.reward import T, reward_curves
from nasrepro.report.figures import new_figure, save_figure


def fig3_reward_vs_latency(acc: float = 0.5) -> str:
    """Fig. 3: MnasNet and proposed rewards against latency at ACC = 0.5, T marked."""
    c = reward_curves(acc)
    fig, ax = new_figure(figsize=(6, 4))
    ax.plot(c["latency_ms"], c["mnasnet"], label="MnasNet (α = β = −0.07)")
    ax.plot(c["latency_ms"], c["proposed"], label="proposed (x = 0.9, y = 0.1)")
    ax.axvline(T, color="k", ls="--", lw=1, label=f"T = {T:g} ms")
    ax.axvline(1.5 * T - 1, color="grey", ls=":", lw=1, label="1.5T − 1 (f = 0 beyond)")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel(f"reward at ACC = {acc:g}")
    ax.set_title("REWARD Fig. 3 (ours): reward vs latency")
    ax.legend(fontsize=8)
    return save_figure(fig, "reward_fig3")
