"""OPSUB-3: candidates 4 and 5 differ by less than the baseline std at positions 7 and 18
(not at position 1)."""

import pytest

from nasrepro.claims import ClaimResult, Measurement
from nasrepro.claims.verdicts import Verdict
from nasrepro.experiments import opsub


@pytest.mark.claim("OPSUB-3")
def test_opsub_3_c4_c5_within_baseline_std(claim):
    r = opsub.result_for_claim(claim)
    spec = claim.spec
    result = ClaimResult(claim.claim, config=claim.config(**r["config"]))
    std = opsub.c1_stats(r, "mid")[1]
    info = []
    for table, when in ((2, "mid"), (3, "end")):
        s_t = opsub.c1_stats(r, when)[1]
        p_std = spec.value(f"t{table}/c1_std").value
        for pp in (1, 7, 18):
            d = abs(opsub.ours(r, pp, 4, when) - opsub.ours(r, pp, 5, when))
            p_d = abs(spec.value(opsub.paper_cell(table, pp, 4)).value
                      - spec.value(opsub.paper_cell(table, pp, 5)).value)
            info.append([f"T{table}", pp, f"{p_d:.2f} vs std {p_std:.2f}",
                         f"{d:.2f} vs std {s_t:.2f}"])
            if table != 2 or pp == 1:
                continue
            m = opsub.measurement(r, f"T2 p{pp} abs(c4 - c5)", d, p_d,
                                  f"paper Table 2, abs(c4 - c5) at position {pp} (paper std "
                                  f"{p_std:.2f})", None, diff=True)
            if r["tier"] != "smoke":
                m.verdict = Verdict.REPRODUCED if d < std else Verdict.NOT_REPRODUCED
                m.detail = f"rule: abs(c4 - c5) < our baseline std {std:.3f} pp (3 seeds)"
            result.add(m)
    result.add(Measurement("T2 baseline std (ours, 3 seeds)", round(std, 4), paper=spec.value(
        "t2/c1_std").value, source="paper Table 2, c1 std", unit="pp", band=None,
        verdict=Verdict.NOT_RUN, detail="the threshold of the rule, shown; not judged"))
    result.table("abs(c4 - c5) against the baseline std, all positions and both tables "
                 "(information: the paper's own Table 3 does not satisfy the statement)",
                 ["table", "pos", "paper", "ours"], info)
    opsub.smoke_not_run(result, r)
    claim.submit(result)
