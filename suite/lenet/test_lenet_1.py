"""LENET-1: time per 100 iterations grows linearly with batch size (cases 2, 1, 3)."""

import numpy as np
import pytest
from lenet_common import hardware, median_time, timing, timing_config, timing_note

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.claims.stats import linear_fit
from nasrepro.experiments.lenet import BATCH_CASES, CASES
from nasrepro.report.figures_lenet import fig_time
from nasrepro.train.lenet_timing import same_repeat_ratio


@pytest.mark.claim("LENET-1")
def test_lenet_1_time_linear_in_batch(claim):
    t = timing(claim)
    spec = claim.spec
    result = ClaimResult(claim.claim, config=timing_config(claim))
    batches = [CASES[k].batch for k in BATCH_CASES]
    times = [median_time(t, k) for k in BATCH_CASES]
    fit = linear_fit(batches, times)
    per = t["per_case"]
    # ratios of the same repeat (same machine state), then the median over repeats
    r_64_32 = same_repeat_ratio(per, "1", "2")
    r_128_64 = same_repeat_ratio(per, "3", "1")
    for name, ours in (("r2", fit["r2"]), ("min_doubling_ratio", min(r_64_32, r_128_64))):
        ref = spec.value(name)
        result.add(Measurement(name, ours, **ref.fields(),
                               tolerance=spec.tolerance(name), band=None,
                               detail=f"device {hardware(claim)}"))
    result.table("Time per 100 training iterations (batch cases)",
                 ["case", "batch", "median s/100 it", "IQR s", "repeats"],
                 [[k, CASES[k].batch, round(median_time(t, k), 4),
                   round(float(np.subtract(*np.percentile(per[k], [75, 25]))), 4),
                   len(per[k])] for k in BATCH_CASES])
    result.table("Linear fit time = slope * batch + intercept",
                 ["slope s/100it per image", "intercept s", "R^2", "t64/t32", "t128/t64"],
                 [[round(fit["slope"], 6), round(fit["intercept"], 4), round(fit["r2"], 4),
                   round(r_64_32, 3), round(r_128_64, 3)]])
    result.notes.append(timing_note(claim, t))
    mid = fit["slope"] * batches[1] + fit["intercept"]
    result.notes.append(
        "Proportionality, read directly (R^2 of 3 points cannot tell a line from a gently "
        "bending curve: time ~ sqrt(batch) gives R^2 0.992 with doubling ratios 1.41): "
        f"doubling ratios t64/t32 = {r_64_32:.3f}, t128/t64 = {r_128_64:.3f} (2 = "
        "proportional, 1.41 = sqrt-like, 1 = flat); intercept of the fitted line "
        f"{fit['intercept']:+.4f} s = {fit['intercept'] / times[1]:+.1%} of t64 (0 = "
        f"proportional); residual at batch 64 {times[1] - mid:+.4f} s "
        f"({(times[1] - mid) / times[1]:+.1%} of t64; a curve bending down leaves it "
        "positive).")
    result.notes.append("Verdict rule: both measurements must hold (R^2 of the line through "
                        "the three medians, and every batch doubling costing >= 1.2x time).")
    result.figures.append(fig_time(t, hardware(claim), claim.tier))
    claim.submit(result)
