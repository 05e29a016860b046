"""Figures mirroring the LeNet paper's Figs. 2-7 (ours: medians over seeds, seed range shaded),
plus LENET-9's side-by-side of the paper's rule and the linear scaling rule."""

from __future__ import annotations

from typing import Any

import numpy as np

from nasrepro.experiments.lenet import ALL_CASES, BATCH_CASES, CASES, LR_CASES, curve
from nasrepro.report.figures import new_figure, save_figure


def _label(key: str) -> str:
    c = ALL_CASES[key]
    name = f"case {key}" if key in CASES else "extra"
    return f"{name}: bs {c.batch}, lr {c.base_lr:g}"


def _curves(ax: Any, study: dict, keys: list[str], field: str, tag: str = "") -> str:
    """Median over seeds per case, the seed range shaded; returns what the lines and bands
    are (e.g. 'median over 3 seeds, shaded: min-max'), from the data, for the title."""
    seeds = set()
    for k in keys:
        runs = study[k]
        y = curve(runs, field)
        seeds.add(y.shape[0])
        it = runs[0]["iterations"]
        line, = ax.plot(it, np.median(y, axis=0), marker="o", ms=3, label=_label(k) + tag)
        if y.shape[0] > 1:
            ax.fill_between(it, y.min(axis=0), y.max(axis=0), color=line.get_color(), alpha=0.15)
    ax.set_xlabel("iteration")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    n = "/".join(str(v) for v in sorted(seeds))
    return f"median over {n} seed(s)" + (", shaded: min–max over seeds" if max(seeds) > 1
                                         else "")


def fig_train_accuracy(study: dict, tier: str) -> str:
    """Fig. 2: training accuracy (mean of the last 100 mini-batches) of all nine cases."""
    fig, ax = new_figure(figsize=(7, 4.5))
    how = _curves(ax, study, list(CASES), "train_acc")
    ax.set_ylabel("training accuracy (mean of last 100 batches)")
    ax.set_title(f"LENET Fig. 2 (ours): training accuracy, all cases\n{how}", fontsize=10)
    return save_figure(fig, "lenet_fig2_train_acc", tier)


def fig_lr_train_accuracy(study: dict, bound: float, tier: str) -> str:
    """LENET-4: training accuracy of the learning-rate cases (1, 4, 5, 7, 8), the claim's
    bound for case 8 ('stays below `bound`') drawn as a line."""
    fig, ax = new_figure(figsize=(7, 4.5))
    how = _curves(ax, study, list(LR_CASES), "train_acc")
    ax.axhline(bound, color="k", ls="--", lw=1, label=f"claim: case 8 stays below {bound:g}")
    ax.legend(fontsize=7)
    ax.set_ylabel("training accuracy (mean of last 100 batches)")
    ax.set_title(f"LENET-4 (ours): training accuracy, learning rates (cases 1, 4, 5, 7, 8)"
                 f"\n{how}", fontsize=10)
    return save_figure(fig, "lenet4_train_acc_lr", tier)


def fig_time(timing: dict, device_name: str, tier: str) -> str:
    """Fig. 3: training time per 100 iterations per case (median, IQR error bars; the
    caption says over how many repeats)."""
    keys = list(CASES)
    per = timing["per_case"]
    med = [float(np.median(per[k])) for k in keys]
    q1 = [med[i] - float(np.percentile(per[k], 25)) for i, k in enumerate(keys)]
    q3 = [float(np.percentile(per[k], 75)) - med[i] for i, k in enumerate(keys)]
    reps = sorted({len(per[k]) for k in keys})
    fig, ax = new_figure(figsize=(7, 4.2))
    colors = {32: "C1", 64: "C0", 128: "C2"}
    ax.bar([f"{k}\nbs{CASES[k].batch}" for k in keys], med, yerr=[q1, q3], capsize=3,
           color=[colors.get(CASES[k].batch, "C3") for k in keys])
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=c, label=f"batch {b}") for b, c in colors.items()],
              fontsize=7, loc="upper left")
    ax.set_ylabel("s per 100 training iterations")
    ax.set_xlabel("case")
    ax.set_title(f"LENET Fig. 3 (ours): time per case, {device_name}\nbars: median; error "
                 f"bars: IQR (25th-75th percentile) over {'/'.join(map(str, reps))} "
                 "interleaved repeats", fontsize=9)
    return save_figure(fig, "lenet_fig3_time", tier)


def fig_test_accuracy(study: dict, keys: list[str], fig_no: int, what: str, tier: str) -> str:
    """Figs. 4-6: test accuracy on the full test set for a group of cases."""
    fig, ax = new_figure(figsize=(7, 4.5))
    how = _curves(ax, study, keys, "test_acc")
    ax.set_ylabel("test accuracy (10,000 images)")
    ax.set_title(f"LENET Fig. {fig_no} (ours): test accuracy, {what}\n{how}", fontsize=10)
    return save_figure(fig, f"lenet_fig{fig_no}_test_acc", tier)


def fig_batch_cases(study: dict, tier: str) -> str:
    return fig_test_accuracy(study, list(BATCH_CASES), 4, "batch 32/64/128 (cases 2, 1, 3)",
                             tier)


def fig_lr_cases(study: dict, tier: str) -> str:
    return fig_test_accuracy(study, list(LR_CASES), 5, "learning rates (cases 1, 4, 5, 7, 8)",
                             tier)


def fig_cases_1_6_9(study: dict, tier: str) -> str:
    return fig_test_accuracy(study, ["1", "6", "9"], 6, "cases 1, 6, 9", tier)


def fig_memory(mem: dict, device_name: str, tier: str,
               paper_ratios: dict[str, float] | None = None) -> str:
    """Fig. 7: memory per case: process RSS (mean during training) and tensor memory; the
    paper's ratios to case 1 (`paper_ratios`, case -> e.g. 1.26) marked over those cases."""
    keys = sorted(mem, key=int)
    fig, (a1, a2) = new_figure(1, 2, figsize=(9.5, 4.0))
    labels = [f"{k}\nbs{CASES[k].batch}" for k in keys]
    for ax, field, color in ((a1, "rss_mean_mib", "C0"), (a2, "tensor_mib", "C1")):
        vals = [mem[k][field] for k in keys]
        ax.bar(labels, vals, color=color)
        top = max(vals)
        for i, k in enumerate(keys):
            ratio = (paper_ratios or {}).get(k)
            if ratio is None:
                continue
            y = ratio * mem["1"][field]
            top = max(top, y)
            ax.plot([i - 0.4, i + 0.4], [y, y], color="k", lw=2)
            ax.annotate(f"paper {ratio:.0%}", (i, y), textcoords="offset points",
                        xytext=(0, 3), ha="center", fontsize=7)
        ax.set_ylim(0, top * 1.12)  # room for the marks' labels
        ax.set_xlabel("case")
    a1.set_ylabel("MiB")
    a1.set_title("process RSS (mean while training)", fontsize=9)
    a2.set_title("tensor memory (" + mem[keys[0]]["tensor_kind"].split(" (")[0] + ")",
                 fontsize=9)
    marks = ("\nblack marks: the paper's memory as % of case 1, applied to our case 1"
             if paper_ratios else "")
    fig.suptitle(f"LENET Fig. 7 (ours): memory per case, {device_name}{marks}", fontsize=10)
    return save_figure(fig, "lenet_fig7_memory", tier)


def fig_scaling_rules(study: dict, tier: str) -> str:
    """LENET-9: from case 1 (bs 64, lr 0.01), batch halved/doubled under the paper's rule
    (lr moves against the batch) and under the linear scaling rule (lr moves with it)."""
    fig, (a1, a2) = new_figure(1, 2, figsize=(10, 4), sharey=True)
    how = _curves(a1, study, ["1", "6", "128@0.005"], "test_acc", "")
    a1.set_title("paper's rule: bs x k, lr / k", fontsize=9)
    _curves(a2, study, ["1", "9", "128@0.02"], "test_acc", "")
    a2.set_title("linear scaling rule (Goyal et al. 2017): bs x k, lr x k", fontsize=9)
    a1.set_ylabel("test accuracy")
    fig.suptitle(f"LENET-9 (ours): the two rules side by side; {how}", fontsize=10)
    return save_figure(fig, "lenet_rules", tier)
