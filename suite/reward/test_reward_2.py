"""REWARD-2: the orderings of Table 1 (which DNN each reward prefers in cases a-c)."""

import pytest

from nasrepro.claims import ClaimResult, Measurement, Verdict
from nasrepro.experiments.reward import TABLE1_CASES, table1

# (case, reward) -> expected relation of R1 to R2, as CLAIMS.md states it.
ORDERINGS = {
    ("a", "mnasnet"): "~", ("a", "proposed"): "<",
    ("b", "mnasnet"): "~", ("b", "proposed"): ">",
    ("c", "mnasnet"): ">", ("c", "proposed"): "<",
}


@pytest.mark.claim("REWARD-2")
def test_reward_2_orderings(claim):
    near = claim.spec.tolerance("near_equal")
    ours = table1()
    result = ClaimResult(claim.claim, config=claim.config(cases=TABLE1_CASES,
                                                          orderings=list(map(str, ORDERINGS))))
    for (case, reward), rel in ORDERINGS.items():
        r1, r2 = ours[f"{case}/{reward}/R1"], ours[f"{case}/{reward}/R2"]
        if rel == "~":
            # |R1 - R2| checked against the 'approximately equal' bound (paper value 0).
            result.add(Measurement(f"{case}/{reward}: |R1-R2| (~ equal)", abs(r1 - r2),
                                   paper=0.0, tolerance=near, band=1e-9))
        else:
            holds = r1 > r2 if rel == ">" else r1 < r2
            result.add(Measurement(
                f"{case}/{reward}: R1 {rel} R2", r1 - r2, band=1e-9,
                verdict=Verdict.REPRODUCED if holds else Verdict.NOT_REPRODUCED,
                detail=f"R1 - R2 = {r1 - r2:+.6f} (needs {'> 0' if rel == '>' else '< 0'})"))
    result.notes.append("Claim verdict: REPRODUCED only if all six orderings hold.")
    record, _ = claim.submit(result)
    failed = [m["name"] for m in record["measurements"] if m["verdict"] != "REPRODUCED"]
    assert not failed, f"orderings that do not hold: {failed}"
