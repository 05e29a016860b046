"""LENET-7: test accuracy reaches its plateau (~0.95) by about iteration 400 whatever the
batch size (cases 1-3)."""

import numpy as np
import pytest
from lenet_common import at, study, study_config

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.experiments.lenet import BATCH_CASES, CASES
from nasrepro.report.figures_lenet import fig_batch_cases


@pytest.mark.claim("LENET-7")
def test_lenet_7_plateau_by_400(claim):
    seeds, runs = study(claim)
    spec = claim.spec
    result = ClaimResult(claim.claim, config=study_config(claim, seeds))
    for k in BATCH_CASES:
        a400, a1000 = at(runs[k], "test_acc", 400), at(runs[k], "test_acc", 1000)
        for name, value in ((f"case{k}_test_acc_400", a400),
                            (f"case{k}_gain_400_to_1000", a1000 - a400)):
            kind = name.split("_", 1)[1]
            ref = spec.value(kind)
            result.add(Measurement(name, value, **ref.fields(),
                                   tolerance=spec.tolerance(kind), band=0.005,
                                   detail=f"batch {CASES[k].batch}"))
    result.notes.append("Plateau by 400 = test accuracy at iteration 400 in the ~0.95 region "
                        "AND at most 2 points gained from 400 to 1000; both per batch size.")
    result.table("Test accuracy of cases 2, 1, 3 (median over seeds)",
                 ["iteration", *[f"case {k} (bs {CASES[k].batch})" for k in BATCH_CASES]],
                 [[int(i), *(round(float(np.median(at(runs[k], "test_acc", int(i)))), 4)
                             for k in BATCH_CASES)] for i in runs["1"][0]["iterations"]])
    result.figures.append(fig_batch_cases(runs, claim.tier))
    claim.submit(result)
