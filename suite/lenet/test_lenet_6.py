"""LENET-6: low learning rates learn slowly: case 5 (lr 0.001) reaches less than half the
others' test accuracy early; by 1000 iterations every case except 5 and 8 reaches about 0.95
training accuracy."""

import numpy as np
import pytest
from lenet_common import at, study, study_config

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.experiments.lenet import CASES
from nasrepro.report.figures_lenet import fig_lr_cases, fig_train_accuracy

OTHERS = [k for k in CASES if k not in ("5", "8")]


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
    result.figures += [fig_train_accuracy(runs, claim.tier), fig_lr_cases(runs, claim.tier)]
    claim.submit(result)
