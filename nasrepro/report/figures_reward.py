"""Figures mirroring the REWARD paper's."""

from __future__ import annotations

from nasrepro.experiments.reward import T, reward_curves
from nasrepro.report.figures import new_figure, save_figure


def fig3_reward_vs_latency(tier: str, acc: float = 0.5) -> str:
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
    return save_figure(fig, "reward_fig3", tier)


def fig6_heatmaps(res: dict, source: str, tier: str,
                  rewards: tuple[str, ...] = ("mnasnet", "proposed"),
                  name: str = "reward_fig6") -> str:
    """Fig. 6: counts of sampled architectures by accuracy x latency for each reward
    (all 5000 samples of every seed pooled, shown as the mean count per search), with the
    latency target T marked and the REWARD-5 bins outlined."""
    import numpy as np

    target = res["targets"][source]
    groups = [res["groups"][f"{r}/{source}"] for r in rewards]
    lat_all = np.concatenate([g["lat"].ravel() for g in groups])
    lat_edges = np.linspace(np.percentile(lat_all, 0.5), np.percentile(lat_all, 99.5), 31)
    acc_edges = np.arange(40.0, 75.5, 1.0)  # counts below 40 % are tiny (see REWARD-5 table)
    from matplotlib.colors import LogNorm
    fig, axes = new_figure(1, len(rewards), figsize=(5.2 * len(rewards), 4.2), sharey=True)
    for ax, r, g in zip(np.atleast_1d(axes), rewards, groups, strict=True):
        h, _, _ = np.histogram2d(g["acc"].ravel(), g["lat"].ravel(), [acc_edges, lat_edges])
        mean = (h / g["acc"].shape[0]).T
        im = ax.pcolormesh(acc_edges, lat_edges, np.where(mean > 0, mean, np.nan),
                           cmap="viridis", norm=LogNorm(vmin=0.02, vmax=max(mean.max(), 0.03)))
        fig.colorbar(im, ax=ax, label="samples per search (mean over seeds)")
        ax.axhline(target, color="r", ls="--", lw=1.2, label=f"T = {target:.2f} ms")
        for lo in (50, 60, 70):
            ax.axvline(lo, color="k", ls=":", lw=0.8)
        ax.set_title(f"{r} ({g['acc'].shape[0]} seeds)")
        ax.set_xlabel("CIFAR-100 test accuracy (%)")
        ax.legend(loc="upper left", fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel(f"latency (ms), {source}")
    fig.suptitle(f"REWARD Fig. 6 (ours): accuracy × latency of sampled cells, {source}")
    return save_figure(fig, name, tier)


def fig7_blocks(res: dict, cfg: dict, source: str, tier: str,
                paper: dict[str, float] | None = None,
                rewards: tuple[str, ...] = ("mnasnet", "proposed", "mnasnet_hard", "tunas_abs"),
                name: str = "reward_fig7") -> str:
    """Fig. 7: mean accuracy and mean latency per block of samples (median over seeds,
    IQR band) for each reward, with T and the paper's settling samples (`paper`, reward ->
    sample, e.g. 4000 / 4750) marked on the latency panel."""
    import numpy as np

    from nasrepro.experiments.reward_search import REWARD_LABELS, block_means

    target = res["targets"][source]
    fig, (ax_a, ax_l) = new_figure(1, 2, figsize=(11, 4.8))
    for r in rewards:
        key = f"{r}/{source}"
        if key not in res["groups"]:
            continue
        g = res["groups"][key]
        x = (np.arange(g["lat"].shape[1] // cfg["block"]) + 1) * cfg["block"]
        extra = r not in ("mnasnet", "proposed")
        style = {"lw": 1.0 if extra else 1.8, "alpha": 0.6 if extra else 1.0}
        for ax, arr in ((ax_a, g["acc"]), (ax_l, g["lat"])):
            b = block_means(arr, cfg["block"])
            q1, med, q3 = np.percentile(b, [25, 50, 75], axis=0)
            (line,) = ax.plot(x, med, label=REWARD_LABELS.get(r, r), **style)
            ax.fill_between(x, q1, q3, color=line.get_color(), alpha=0.12 if extra else 0.25)
    ax_l.axhline(target, color="k", ls="--", lw=1, label=f"T = {target:.2f} ms")
    colors = {line.get_label(): line.get_color() for line in ax_l.get_lines()}
    for r, n in (paper or {}).items():
        ax_l.axvline(n, color=colors.get(REWARD_LABELS.get(r, r), "grey"), ls=":", lw=1.4,
                     label=f"paper: {REWARD_LABELS.get(r, r).split(' (')[0]} settles from {n:g}")
    ax_a.set_ylabel("mean accuracy per block (%)")
    ax_l.set_ylabel(f"mean latency per block (ms), {source}")
    for ax in (ax_a, ax_l):
        ax.set_xlabel(f"sample (end of {cfg['block']}-sample block)")
    # one legend below both panels, so no curve is hidden behind it
    handles, names = ax_l.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=4, fontsize=7)
    n = cfg["seeds"]
    fig.suptitle(f"REWARD Fig. 7 (ours): median over {n} seeds, band: IQR over seeds; {source}")
    return save_figure(fig, name, tier)


def km_settle_figure(curves: dict[str, dict[str, dict]], horizon: float,
                     paper: dict[str, float], tier: str, name: str = "reward_km_settle") -> str:
    """REWARD-4: Kaplan-Meier fraction of runs settled (<= T from then on) by sample n,
    per reward (lines) and latency source (panels), the paper's settling samples marked.

    curves[source][reward] = {"t", "survival"} from claims.survival.km, plus "label"."""
    import numpy as np

    sources = list(curves)
    fig, axes = new_figure(1, len(sources), figsize=(4.8 * len(sources), 3.9), sharey=True,
                           squeeze=False)
    colors = {"mnasnet": "C0", "proposed": "C1", "mnasnet_hard": "C2", "tunas_abs": "C3"}
    for ax, src in zip(axes[0], sources, strict=True):
        for r, c in curves[src].items():
            t = np.concatenate([[0.0], c["t"], [horizon + 150.0]])
            settled = 1.0 - np.concatenate([[1.0], c["survival"], c["survival"][-1:]])
            ax.step(t, settled, where="post", color=colors.get(r), label=c.get("label", r))
        for r, n in paper.items():
            ax.axvline(n, color=colors.get(r), ls="--", lw=1,
                       label=f"paper {r}: from sample {n:g}")
        ax.axhline(0.5, color="grey", ls=":", lw=0.8)
        ax.axvline(horizon, color="k", lw=0.8, alpha=0.5)  # end of search: censoring
        ax.set_xlim(0, horizon + 150.0)
        ax.set_ylim(0, 1)
        ax.set_title(src, fontsize=9)
        ax.set_xlabel("sample n")
    axes[0, 0].set_ylabel("fraction of runs settled by n (KM)")
    axes[0, -1].legend(fontsize=7, loc="upper left")
    fig.suptitle("REWARD-4 (ours): Kaplan-Meier estimate of the settling sample; runs that "
                 f"never settle are censored at {horizon:g}")
    return save_figure(fig, name, tier)
