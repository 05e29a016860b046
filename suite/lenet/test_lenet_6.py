"""LENET-6: low learning rates learn slowly: case 5 (lr 0.001) reaches less than half the
others' test accuracy early; by 1000 iterations every case except 5 and 8 reaches about 0.95
training accuracy."""

import numpy as np
import pytest
from lenet_common import at, first_checkpoint, study, study_config

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.experiments.lenet import CASES, curve
from nasrepro.report.figures_lenet import fig_lr_cases, fig_train_accuracy

OTHERS = [k for k in CASES if k not in ("5", "8")]


def case5_note(runs5, bound: float) -> str:
    """Case 5 at 900 and 1000 against the paper's exception: 'except case 5, all show a high
    0.95 at 1,000 iterations; case 5 too rises steeply from 900-1000'."""
    tr, te = (np.median(curve(runs5, f), 0) for f in ("train_acc", "test_acc"))
    it = runs5[0]["iterations"]
    j = len(it) - 1
    steps = np.diff(tr)                       # rise into checkpoint k+1
    later = [k for k in range(len(steps) - 1) if it[k] >= 200]
    big = max(later, key=lambda k: steps[k])
    return ("The paper makes case 5 the exception to '0.95 training accuracy at 1,000' "
            "('CASE5를 제외하면 1,000회의 학습이 이루어진 시점에서는 모두 0.95의 높은 "
            "학습율[정확도]을 나타내었고 CASE5 또한 900∼1000회의 시점부터는 가파른 학습 정확도 "
            "상승', except case 5 all reach 0.95 at 1,000; case 5 too rises steeply from "
            "900-1000); no item tests it. Case 5 here (median over seeds): training accuracy "
            f"{tr[j - 1]:.4f} at {int(it[j - 1])}, {tr[j]:.4f} at {int(it[j])} (rise "
            f"{steps[-1]:+.4f}; largest earlier 100-iteration rise after 200: "
            f"{steps[big]:+.4f}, {int(it[big])}->{int(it[big + 1])}); test accuracy "
            f"{te[j - 1]:.4f} -> {te[j]:.4f}. Its training accuracy at 1000 is "
            + ("at or above" if tr[j] >= bound else "below")
            + f" the {bound:.2f} that counts as 'about 0.95' for the others.")


def first_reach_note(runs, keys, level: float) -> str:
    """First checkpoint at which each case's test accuracy (median over seeds) reaches
    `level`: the paper says case 7 needs more iterations than cases 1 and 4 (Fig. 5)."""
    parts = []
    for k in keys:
        it = first_checkpoint(runs[k], "test_acc", level)
        parts.append(f"case {k} {it}" if it is not None else
                     f"case {k} not by {int(runs[k][0]['iterations'][-1])}")
    return ("The paper: case 7 needs more iterations than cases 1 and 4 to reach the limit "
            "(Fig. 5; not an item). First checkpoint with test accuracy >= "
            f"{level} (median over seeds; our reading of the ~0.95 limit): "
            + ", ".join(parts) + ".")


@pytest.mark.claim("LENET-6")
def test_lenet_6_low_lr_slow(claim):
    seeds, runs = study(claim)
    spec = claim.spec
    result = ClaimResult(claim.claim, config=study_config(claim, seeds))
    first = int(runs["5"][0]["iterations"][0])
    early_others = np.stack([at(runs[k], "test_acc", first) for k in OTHERS])  # cases x seeds
    ratio = at(runs["5"], "test_acc", first) / early_others.min(axis=0)
    final_train = np.stack([at(runs[k], "train_acc", 1000) for k in OTHERS])
    ours = {"early_ratio_case5": ratio, "min_final_train_acc_others": final_train.min(axis=0)}
    for name, value in ours.items():
        ref = spec.value(name)
        result.add(Measurement(name, value, **ref.fields(),
                               tolerance=spec.tolerance(name), band=0.01))
    result.table(f"Per case (median over seeds): test acc at {first}, train acc at 1000",
                 ["case", "lr", "batch", f"test acc @{first}", "train acc @1000"],
                 [[k, CASES[k].base_lr, CASES[k].batch,
                   round(float(np.median(at(runs[k], "test_acc", first))), 4),
                   round(float(np.median(at(runs[k], "train_acc", 1000))), 4)] for k in CASES])
    result.notes.append(f"'Early' = the first checkpoint (iteration {first}); ratio = case 5's "
                        "test accuracy / the lowest of the other cases except 8, per seed. "
                        "'Training accuracy at 1000' = mean mini-batch accuracy over "
                        "iterations 901-1000.")
    bound = spec.value("min_final_train_acc_others").value - spec.tolerance(
        "min_final_train_acc_others").value
    result.notes.append(case5_note(runs["5"], bound))
    result.notes.append(first_reach_note(runs, ("1", "4", "7"), 0.95))
    result.figures += [fig_train_accuracy(runs, claim.tier), fig_lr_cases(runs, claim.tier)]
    claim.submit(result)
