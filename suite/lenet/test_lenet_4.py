"""LENET-4: case 8 (lr 0.1) does not learn: training accuracy stays below 0.1 (chance)."""

import numpy as np
import pytest
import torch
from lenet_common import study, study_config

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.data.mnist import load_mnist
from nasrepro.experiments.lenet import CASES, curve
from nasrepro.report.figures_lenet import fig_lr_train_accuracy
from nasrepro.train.lenet_loop import sequential_batch


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


def batch_class_counts(train_labels: torch.Tensor, iters: int, bs: int) -> np.ndarray:
    """iters x 10: how many images of each class mini-batch `it` holds, the batches read as
    the training loop reads them (sequential_batch: Caffe's stored order with wrap-around)."""
    return np.stack([np.bincount(sequential_batch(train_labels, train_labels, it, bs)[1]
                                 .numpy(), minlength=10) for it in range(iters)])


def constant_prediction(batch_acc: np.ndarray, counts: np.ndarray) -> tuple[int, int] | None:
    """(class c, first iteration n, 0-based) such that from iteration n to the end every
    mini-batch accuracy equals class c's share of that mini-batch, the earliest such n over
    the classes; None if no class matches at least the last 100 iterations. A net that
    predicts c for every image scores exactly that."""
    correct = np.rint(batch_acc * counts.sum(1)).astype(int)
    best = None
    for c in range(counts.shape[1]):
        differs = np.flatnonzero(correct != counts[:, c])
        n = int(differs[-1]) + 1 if differs.size else 0
        if n <= len(correct) - 100 and (best is None or n < best[1]):
            best = (c, n)
    return best


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
    # the label mix of each checkpoint's window (training labels in the order they are read)
    its = runs["8"][0]["iterations"]
    every = int(its[0])
    bs = CASES["8"].batch
    mnist = load_mnist()
    counts = batch_class_counts(mnist.train_labels, int(its[-1]), bs)
    window = counts.reshape(len(its), every, 10).sum(1) / (every * bs)  # checkpoints x 10
    preds = [constant_prediction(r["batch_acc"], counts) for r in runs["8"]]
    pred_cls = {p[0] for p in preds if p is not None}
    one_cls = pred_cls.pop() if len(pred_cls) == 1 and None not in preds else None
    headers = ["iteration", "train acc", "test acc"]
    if one_cls is not None:
        headers.append(f"share of class {one_cls} (predicted) in the window")
    headers += ["largest class share in the window", "its class"]
    rows = []
    for j, (i, a, b) in enumerate(zip(its, np.median(train, 0), np.median(test, 0),
                                      strict=True)):
        row = [int(i), round(float(a), 4), round(float(b), 4)]
        if one_cls is not None:
            row.append(round(float(window[j, one_cls]), 4))
        rows.append([*row, round(float(window[j].max()), 4), int(window[j].argmax())])
    result.table("Case 8 per checkpoint (median over seeds); window = the "
                 f"{every} x {bs} = {every * bs:,} training images of the {every} iterations "
                 "before the checkpoint, in the order they were read", headers, rows)
    result.notes.append(f"Seeds {seeds}: final training accuracy "
                        f"{[round(float(v), 4) for v in train[:, -1]]}, final test accuracy "
                        f"{[round(float(v), 4) for v in test[:, -1]]} (chance = 0.1); highest "
                        f"test accuracy over the {len(its)} checkpoints "
                        f"{[round(float(v), 4) for v in test.max(axis=1)]}. "
                        + single_class_note(test[:, -1], mnist.test_labels.numpy()))
    bound = ref.value
    for s, p, r, tr in zip(seeds, preds, runs["8"], train, strict=True):
        if p is None:
            result.notes.append(f"Seed {s}: no single class's share matches case 8's "
                                "mini-batch accuracy over its last 100 iterations.")
            continue
        c, n = p
        after = its - every >= n            # windows read entirely after iteration n
        over = [int(i) for i, v in zip(its, tr, strict=True) if v > bound]
        in_window = np.allclose(tr[after], window[after, c], atol=1e-9)
        result.notes.append(
            f"Seed {s}: from iteration {n + 1} on (1-based; {len(r['batch_acc']) - n} "
            f"iterations) every mini-batch accuracy of case 8 equals the share of class {c} "
            f"in that mini-batch: the net predicts class {c} for every image"
            + (" (class 0 is what argmax returns for a row of NaN logits)" if c == 0 else "")
            + ". Its training accuracy at checkpoints "
            f"{', '.join(str(int(i)) for i in its[after])} is "
            + ("therefore exactly" if in_window else "not exactly")
            + f" the share of class {c} in that checkpoint's window, "
            f"{window[after, c].min():.4f}-{window[after, c].max():.4f} (window's largest "
            f"class share {window[after].max(1).min():.4f}-{window[after].max(1).max():.4f}); "
            f"checkpoints above {bound}: {over or 'none'}. Whether a net stuck at one class "
            f"passes '<= {bound}' thus depends on that class's share of each window, not on "
            "learning; the rule's limit is in the claim's interpretation.")
    # the claim is about training accuracy (paper Fig. 2), so that is what is shown
    result.figures.append(fig_lr_train_accuracy(runs, ref.value, claim.tier))
    claim.submit(result)
