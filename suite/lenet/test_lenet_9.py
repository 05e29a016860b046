"""LENET-9: halving the batch while doubling the base lr keeps accuracy and cuts time; set
side by side with the linear scaling rule (Goyal et al. 2017: lr proportional to batch)."""

import numpy as np
import pytest
from lenet_common import at, study, study_config, timing

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.report.figures_lenet import fig_scaling_rules
from nasrepro.train.lenet_timing import same_repeat_ratio

# (direction, paper's rule case, linear-scaling-rule case), both from case 1 (bs 64, lr 0.01)
PAIRS = (("batch / 2", "6", "9"), ("batch x 2", "128@0.005", "128@0.02"))


@pytest.mark.claim("LENET-9")
def test_lenet_9_half_batch_double_lr(claim):
    seeds, runs = study(claim)
    t = timing(claim)
    spec = claim.spec
    result = ClaimResult(claim.claim, config={**study_config(claim, seeds),
                                              "timing_reps": t["reps"],
                                              "timing_block": t["block"]})
    base = at(runs["1"], "test_acc", 1000)
    ref = spec.value("final_test_acc_case6_minus_case1")
    result.add(Measurement("final_test_acc_case6_minus_case1",
                           at(runs["6"], "test_acc", 1000) - base, **ref.fields(),
                           tolerance=spec.tolerance("final_test_acc_case6_minus_case1"),
                           band=0.005))
    ratio = same_repeat_ratio(t["per_case"], "6", "1")
    ref = spec.value("time_ratio_case6_over_case1")
    result.add(Measurement("time_ratio_case6_over_case1", ratio, **ref.fields(),
                           tolerance=spec.tolerance("time_ratio_case6_over_case1"), band=None,
                           detail="same-repeat ratio, median over interleaved repeats"))
    rows, support = [], []
    for direction, paper_k, linear_k in PAIRS:
        cells = []
        for k in (paper_k, linear_k):
            d_final = at(runs[k], "test_acc", 1000) - base
            d_400 = at(runs[k], "test_acc", 400) - at(runs["1"], "test_acc", 400)
            cells.append((float(np.median(d_final)), float(np.median(d_400))))
        rows.append([direction, paper_k, round(cells[0][0], 4), round(cells[0][1], 4),
                     linear_k, round(cells[1][0], 4), round(cells[1][1], 4)])
        closer = ("paper's rule" if abs(cells[0][0]) + abs(cells[0][1])
                  < abs(cells[1][0]) + abs(cells[1][1]) else "linear scaling rule")
        support.append(f"{direction}: {closer} stays closer to case 1")
    result.table("The two rules side by side: test accuracy minus case 1's (median over seeds)",
                 ["from case 1", "paper's rule run", "Δ final", "Δ @400",
                  "linear-rule run", "Δ final", "Δ @400"], rows)
    result.notes.append("Which rule the data supports (closeness to case 1 = |Δ final| + "
                        "|Δ @400|): " + "; ".join(support) + ". At a fixed 1000 iterations a "
                        "smaller batch also sees fewer images, which the paper's rule offsets "
                        "with a larger step; the linear scaling rule assumes equal epochs.")
    result.notes.append(f"Time ratio from the interleaved timing run on {claim.device}.")
    result.figures.append(fig_scaling_rules(runs, claim.tier))
    claim.submit(result)
