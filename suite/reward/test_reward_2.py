"""REWARD-2: the orderings of Table 1 (which DNN each reward prefers in cases a-c)."""

import pytest

from nasrepro.claims import ClaimResult, Measurement, Verdict
from nasrepro.claims.references import claim_spec
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
    table1_paper = claim_spec("REWARD-1")  # the paper's printed R1, R2 (Table 1)
    for (case, reward), rel in ORDERINGS.items():
        r1, r2 = ours[f"{case}/{reward}/R1"], ours[f"{case}/{reward}/R2"]
        p1, p2 = (table1_paper.value(f"{case}/{reward}/{k}").value for k in ("R1", "R2"))
        src = f"paper Table 1, case {case}, {reward}: R1 {p1:g}, R2 {p2:g}"
        if rel == "~":
            # |R1 - R2| checked against the 'approximately equal' bound (threshold 0).
            result.add(Measurement(f"{case}/{reward}: |R1-R2| (~ equal)", abs(r1 - r2),
                                   paper=round(abs(p1 - p2), 6), threshold=0.0, source=src,
                                   tolerance=near, band=1e-9))
        else:
            holds = r1 > r2 if rel == ">" else r1 < r2
            result.add(Measurement(
                f"{case}/{reward}: R1 {rel} R2", r1 - r2, paper=round(p1 - p2, 6), source=src,
                band=1e-9,
                verdict=Verdict.REPRODUCED if holds else Verdict.NOT_REPRODUCED,
                detail=f"R1 - R2 = {r1 - r2:+.6f} (needs {'> 0' if rel == '>' else '< 0'})"))
    result.notes.append("Claim verdict: REPRODUCED only if all six orderings hold.")
    record, _ = claim.submit(result)
    failed = [m["name"] for m in record["measurements"] if m["verdict"] != "REPRODUCED"]
    assert not failed, f"orderings that do not hold: {failed}"
