"""OPSUB-4: from 25 to 50 epochs the gap to baseline shrinks at positions 1 and 7."""

import pytest

from nasrepro.claims import ClaimResult
from nasrepro.experiments import opsub


@pytest.mark.claim("OPSUB-4")
def test_opsub_4_gap_shrinks(claim):
    r = opsub.result_for_claim(claim)
    spec = claim.spec
    result = ClaimResult(claim.claim, config=claim.config(**r["config"]))
    b_mid, b_end = opsub.c1_stats(r, "mid")[0], opsub.c1_stats(r, "end")[0]
    p_mid, p_end = spec.value("t2/c1").value, spec.value("t3/c1").value
    for pp in (1, 7):
        for c in opsub.cells_at(pp):
            shrink = ((b_mid - opsub.ours(r, pp, c, "mid"))
                      - (b_end - opsub.ours(r, pp, c, "end")))
            gap25 = p_mid - spec.value(opsub.paper_cell(2, pp, c)).value
            gap50 = p_end - spec.value(opsub.paper_cell(3, pp, c)).value
            result.add(opsub.measurement(
                r, f"p{pp} c{c} gap shrink", shrink, gap25 - gap50,
                f"paper Tables 2-3: gap {gap25:.2f} -> {gap50:.2f} pp", spec.tolerance("shrinks"),
                diff=True, threshold=0.0))
    result.notes.append(f"gap = mean(c1) - candidate; read at fine-tune epochs "
                        f"{r['epochs']['mid']} and {r['epochs']['end']} of one run per cell.")
    opsub.smoke_not_run(result, r)
    claim.submit(result)
