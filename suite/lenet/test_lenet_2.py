"""LENET-2: changing only the learning rate does not change time (cases 1, 4, 5, 7, 8)."""

import numpy as np
import pytest
from lenet_common import hardware, median_time, timing, timing_config, timing_note

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.experiments.lenet import CASES, LR_CASES

LEARNING = ("1", "4", "5", "7")  # case 8 (lr 0.1) diverges: judged on its own


def lr_time_measures(t: dict) -> dict[str, float]:
    """The two LENET-2 quantities from one timing run (medians over interleaved repeats):
    the spread (max/min - 1) of the learning cases, and case 8's time relative to case 1."""
    med = {k: median_time(t, k) for k in LR_CASES}
    learning = [med[k] for k in LEARNING]
    return {"relative_spread_learning_cases": max(learning) / min(learning) - 1.0,
            "case8_over_case1": med["8"] / med["1"]}


@pytest.mark.claim("LENET-2")
def test_lenet_2_time_independent_of_lr(claim):
    t = timing(claim)
    spec = claim.spec
    result = ClaimResult(claim.claim, config=timing_config(claim))
    for name, value in lr_time_measures(t).items():
        ref = spec.value(name)
        result.add(Measurement(name, value, paper=ref.value, source=ref.source,
                               tolerance=spec.tolerance(name), band=None,
                               detail=f"medians over interleaved repeats; {hardware(claim)}"))
    per = t["per_case"]
    result.table("Time per 100 training iterations at batch 64",
                 ["case", "base lr", "median s/100 it", "median / case 1",
                  "same-repeat ratio to case 1 (median)"],
                 [[k, CASES[k].base_lr, round(median_time(t, k), 4),
                   round(median_time(t, k) / median_time(t, "1"), 3),
                   round(float(np.median(per[k] / per["1"])), 3)] for k in LR_CASES])
    result.notes.append(timing_note(claim, t))
    result.notes.append(
        "Case 8 (lr 0.1) diverges within its first 100 iterations (its net then predicts one "
        "class) and trains measurably faster: in five consecutive timing runs of this session "
        "(shared 2-core CPU) case 8 / case 1 was 0.965, 0.920, 0.943, 0.914, 0.897 (a sixth: "
        "0.911), while the learning cases agreed within 0.6-3.3 %. The case-8 ratio sits at "
        "the 10 % tolerance, so this verdict can flip between REPRODUCED and PARTIAL from run "
        "to run (5 of 6 runs REPRODUCED); case 8 was faster in all six. A first version "
        "judged all five cases by one max/min spread; the diverged case is now judged on its "
        "own so the report shows the effect.")
    claim.submit(result)
