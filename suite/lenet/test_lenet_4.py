"""LENET-4: case 8 (lr 0.1) does not learn: training accuracy stays below 0.1 (chance)."""

import numpy as np
import pytest
from lenet_common import study, study_config

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.data.mnist import load_mnist
from nasrepro.experiments.lenet import curve
from nasrepro.report.figures_lenet import fig_lr_train_accuracy


def single_class_note(final_test_acc: np.ndarray, test_labels: np.ndarray) -> str:
    """Which final test accuracies equal one class's share of the test set: exactly what a
    net that predicts that one class for every image scores (a diverged net does)."""
    counts = np.bincount(test_labels, minlength=10)
    out = []
    for acc in final_test_acc:
        hits = np.flatnonzero(counts == round(float(acc) * test_labels.size))
        out.append(f"{acc:.4f} = the share of class {int(hits[0])}, the score of a net that "
                   "predicts that one class for every image" if hits.size else
                   f"{acc:.4f} equals no single class's share")
    return (f"MNIST's test classes each make up {counts.min() / test_labels.size:.4f}-"
            f"{counts.max() / test_labels.size:.4f} of the test set; final test accuracy "
            + "; ".join(out) + ".")


@pytest.mark.claim("LENET-4")
def test_lenet_4_case8_does_not_learn(claim):
    seeds, runs = study(claim)
    spec = claim.spec
    result = ClaimResult(claim.claim, config=study_config(claim, seeds))
    train = curve(runs["8"], "train_acc")          # seeds x 10 checkpoints
    test = curve(runs["8"], "test_acc")
    ref = spec.value("max_train_acc")
    result.add(Measurement("max_train_acc", train.max(axis=1), **ref.fields(),
                           tolerance=spec.tolerance("max_train_acc"),
                           band=0.01, detail="max over checkpoints 100..1000 of the mean "
                                             "mini-batch accuracy of the last 100 iterations"))
    result.table("Case 8 per checkpoint (median over seeds)",
                 ["iteration", "train acc", "test acc"],
                 [[int(i), round(float(a), 4), round(float(b), 4)] for i, a, b in
                  zip(runs["8"][0]["iterations"], np.median(train, 0), np.median(test, 0),
                      strict=True)])
    result.notes.append(f"Seeds {seeds}: final training accuracy "
                        f"{[round(float(v), 4) for v in train[:, -1]]}, final test accuracy "
                        f"{[round(float(v), 4) for v in test[:, -1]]} (chance = 0.1). "
                        + single_class_note(test[:, -1], load_mnist().test_labels.numpy()))
    # the claim is about training accuracy (paper Fig. 2), so that is what is shown
    result.figures.append(fig_lr_train_accuracy(runs, ref.value, claim.tier))
    claim.submit(result)
