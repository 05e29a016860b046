"""OPSUB-1: at position 18 every candidate except identity scores at or above the baseline
(25 and 50 epochs); identity scores slightly below."""

import pytest

from nasrepro.claims import ClaimResult
from nasrepro.experiments import opsub


@pytest.mark.claim("OPSUB-1")
def test_opsub_1_position_18_at_or_above_baseline(claim):
    r = opsub.result_for_claim(claim)
    spec = claim.spec
    result = ClaimResult(claim.claim, config=claim.config(**r["config"]))
    for table, when in ((2, "mid"), (3, "end")):
        base = opsub.c1_stats(r, when)[0]
        p_base = spec.value(f"t{table}/c1").value
        for c in opsub.CANDIDATES:
            d = opsub.ours(r, 18, c, when) - base
            p_d = spec.value(opsub.paper_cell(table, 18, c)).value - p_base
            src = f"paper Table {table}: c{c} - c1 at position 18"
            # paper = the paper's own difference; the claim's threshold (0) is judged
            if c == 2:
                result.add(opsub.measurement(r, f"T{table} p18 c2 - c1 (<= 0)", d, p_d, src,
                                             spec.tolerance("identity_below"), diff=True,
                                             threshold=0.0))
                result.add(opsub.measurement(r, f"T{table} p18 c2 - c1 (>= -1)", d, p_d, src,
                                             spec.tolerance("identity_slightly"), diff=True,
                                             threshold=0.0))
            else:
                result.add(opsub.measurement(r, f"T{table} p18 c{c} - c1", d, p_d, src,
                                             spec.tolerance("at_or_above"), diff=True,
                                             threshold=0.0))
    result.notes.append("Differences are candidate minus the mean of our 3 baseline "
                        "(candidate 1) fine-tunes; candidates are single runs like the paper's.")
    opsub.smoke_not_run(result, r)
    claim.submit(result)
