"""OPSUB-2: at positions 1 and 7 no candidate beats the baseline, and candidates differ
markedly from each other (spread of several points)."""

import pytest

from nasrepro.claims import ClaimResult
from nasrepro.experiments import opsub


@pytest.mark.claim("OPSUB-2")
def test_opsub_2_early_positions_below_baseline_and_spread(claim):
    r = opsub.result_for_claim(claim)
    spec = claim.spec
    result = ClaimResult(claim.claim, config=claim.config(**r["config"]))
    for table, when in ((2, "mid"), (3, "end")):
        base = opsub.c1_stats(r, when)[0]
        p_base = spec.value(f"t{table}/c1").value
        for pp in (1, 7):
            accs, p_accs = [], []
            for c in opsub.cells_at(pp):
                a = opsub.ours(r, pp, c, when)
                p_a = spec.value(opsub.paper_cell(table, pp, c)).value
                accs.append(a)
                p_accs.append(p_a)
                result.add(opsub.measurement(
                    r, f"T{table} p{pp} c{c} - c1", a - base, p_a - p_base,
                    f"paper Table {table}: c{c} - c1 at position {pp}",
                    spec.tolerance("not_above"), diff=True, threshold=0.0))
            result.add(opsub.measurement(
                r, f"T{table} p{pp} spread c3..c7", max(accs) - min(accs),
                max(p_accs) - min(p_accs),
                f"paper Table {table}: max - min over c3..c7 at position {pp}; claim "
                "threshold 1 pp", spec.tolerance("spread"), diff=True, threshold=1.0))
    opsub.smoke_not_run(result, r)
    claim.submit(result)
