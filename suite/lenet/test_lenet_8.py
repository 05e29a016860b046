"""LENET-8: case 6 oscillates: training accuracy swings by about 10 % after iteration 200."""

import numpy as np
import pytest
from lenet_common import study, study_config

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.experiments.lenet import ALL_CASES, curve
from nasrepro.report.figures_lenet import fig_train_accuracy


def swings(run) -> tuple[float, float]:
    """(swing of the mean-of-100 training accuracy, swing of the single mini-batch accuracy
    at every 100th iteration, what Caffe would display if the net computed accuracy in
    training), both max - min over checkpoints after 200. We read the last mini-batch before
    each checkpoint (index 100k - 1); Caffe's display at iteration 100k shows the forward
    pass of iteration 100k (0-based, before its update), the next mini-batch."""
    after = run["iterations"] > 200
    display = run["batch_acc"][run["iterations"] - 1]
    return (float(np.ptp(run["train_acc"][after])), float(np.ptp(display[after])))


def control_note(case6: np.ndarray, case1: np.ndarray) -> str:
    """How each of case 6's swings (seeds x 2) compares with the control case 1's, medians
    over seeds: a swing the control matches is not evidence of an lr-driven oscillation."""
    parts = []
    for j, what in enumerate(("mean-of-100", "single-batch")):
        a, b = float(np.median(case6[:, j])), float(np.median(case1[:, j]))
        how = "larger than" if a > b else "the same as" if a == b else "smaller than"
        parts.append(f"{what} swing {a:.4f} vs case 1's {b:.4f} ({how} the control's)")
    return "In this run, case 6: " + "; ".join(parts) + "."


def binomial_swing(runs, batch: int, draws: int = 10_000) -> tuple[float, float]:
    """(median, 95th percentile) of the single-batch swing a run would show from mini-batch
    sampling alone: at each checkpoint after 200, Binomial(batch, p) / batch with p = the
    run's mean-of-100 accuracy there (median over seeds); fixed generator, so the same
    numbers every run."""
    it = runs[0]["iterations"]
    p = np.clip(np.median(curve(runs, "train_acc"), 0)[it > 200], 0.0, 1.0)
    sims = np.random.default_rng(0).binomial(batch, p, size=(draws, p.size)) / batch
    r = np.ptp(sims, axis=1)
    return float(np.median(r)), float(np.percentile(r, 95))


def rank_note(every: dict, null: dict) -> str:
    """Where case 6's single-batch swing stands among all runs and against its own
    sampling-only swing."""
    med = {k: float(np.median(v[:, 1])) for k, v in every.items()}
    six = med["6"]
    above = sorted((k for k in med if k != "6" and med[k] > six), key=lambda k: -med[k])
    same = [k for k in med if k != "6" and med[k] == six]
    return (f"Case 6's single-batch swing {six:.4f} (batch {ALL_CASES['6'].batch}): "
            f"{len(above)} of the other {len(med) - 1} runs swing more "
            f"({', '.join(f'case {k} {med[k]:.4f}' for k in above) or 'none'}), "
            f"{len(same)} as much ({', '.join(f'case {k}' for k in same) or 'none'}); "
            f"binomial sampling alone gives case 6 a median swing of {null['6'][0]:.4f} "
            f"(95th percentile {null['6'][1]:.4f}), so its observed swing is "
            + ("within" if six <= null["6"][1] else "beyond")
            + " what sampling alone gives. The item compares the swing with 'about 10 %' "
            "only, not with the control or with sampling; the interpretation names a rule "
            "that would.")


@pytest.mark.claim("LENET-8")
def test_lenet_8_case6_oscillates(claim):
    seeds, runs = study(claim)
    spec = claim.spec
    result = ClaimResult(claim.claim, config=study_config(claim, seeds))
    every = {k: np.array([swings(r) for r in rs]) for k, rs in runs.items()}
    s6, s1 = every["6"], every["1"]
    for j, name in enumerate(("swing_mean100", "swing_display")):
        ref = spec.value(name)
        result.add(Measurement(name, s6[:, j], **ref.fields(),
                               tolerance=spec.tolerance(name), band=0.01))
    result.table("Swing after iteration 200 (max - min over checkpoints 300..1000), per seed",
                 ["case", "definition", *[f"seed {s}" for s in seeds]],
                 [["6", "mean of last 100 batches", *np.round(s6[:, 0], 4)],
                  ["6", "single batch (Caffe display)", *np.round(s6[:, 1], 4)],
                  ["1 (control)", "mean of last 100 batches", *np.round(s1[:, 0], 4)],
                  ["1 (control)", "single batch (Caffe display)", *np.round(s1[:, 1], 4)]])
    result.notes.append("Two readings of the paper's training-accuracy curve: our defined "
                        "training accuracy (mean over the last 100 mini-batches), and the "
                        "single mini-batch accuracy at each display step (Caffe prints it only "
                        "if the training net has an Accuracy layer, which the stock "
                        "examples/mnist net has in TEST only). Case 1 "
                        "(batch 64, lr 0.01) is shown as a control: a swing that case 1 shows "
                        "too is mini-batch sampling noise, not an lr-driven oscillation.")
    result.notes.append(control_note(s6, s1))
    null = {k: binomial_swing(rs, ALL_CASES[k].batch) for k, rs in runs.items()}
    result.table("Swing after 200 of every run (median over seeds) and the single-batch swing "
                 "that binomial sampling alone gives (10,000 draws of Binomial(batch, p) / "
                 "batch at each checkpoint 300..1000, p = that run's mean-of-100 accuracy "
                 "there)",
                 ["case", "batch", "lr", "mean-of-100 swing", "single-batch swing",
                  "binomial-only single-batch swing: median", "95th percentile"],
                 [[k, ALL_CASES[k].batch, ALL_CASES[k].base_lr,
                   round(float(np.median(v[:, 0])), 4), round(float(np.median(v[:, 1])), 4),
                   round(null[k][0], 4), round(null[k][1], 4)] for k, v in every.items()])
    result.notes.append(rank_note(every, null))
    result.figures.append(fig_train_accuracy(runs, claim.tier))
    claim.submit(result)
