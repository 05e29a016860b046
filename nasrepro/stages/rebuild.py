"""Which OPSUB records are missing or older than the stage results they are assembled from
(after `nasrepro stages import`, or committed stage results in a fresh clone), so that
`nasrepro report` rebuilds them from those results before rendering: no stage trains."""

from __future__ import annotations

from pathlib import Path


def opsub_claims() -> list[str]:
    """The OPSUB claim IDs, from the papers' claim table."""
    from nasrepro.claims.references import all_claims

    return sorted(c for c in all_claims() if c.startswith("OPSUB-"))


def stage_result_files(tier: str, device: str) -> tuple[list[Path], str]:
    """(the files the OPSUB claims of `tier` would read here, where they are) - committed
    JSON when complete for this checkout, else this reports folder's stage store on
    `device` - or ([], '') when no complete set exists (nothing to rebuild from)."""
    from nasrepro.experiments.opsub import (
        TIERS,
        stage_graph,
        stage_store,
        stage_stores_dir,
        stages_left,
    )
    from nasrepro.stages.committed import committed_dir, committed_result
    from nasrepro.train.checkpoint import StageStore

    if committed_result(tier)[0] is not None:  # the claims prefer committed results
        folder = committed_dir(tier)
        return sorted(folder.glob("*.json")), f"committed results in {folder}"
    if TIERS[tier]["needs_cuda"] and device != "cuda":
        return [], ""
    stores = stage_stores_dir(tier)
    if not (stores.is_dir() and any(StageStore(d).completed() for d in stores.iterdir())):
        return [], ""  # no stage stored: nothing to rebuild, and no CIFAR-10 needed to key one
    store = stage_store(tier, device)
    graph = stage_graph(tier, device)
    if stages_left(graph, store):
        return [], ""
    return [store.result_path(st.id) for st in graph], f"the stage store {store.root}"


def stale_records(tier: str, device: str) -> tuple[list[str], str]:
    """(the OPSUB claims of `tier` whose record is missing or older than the newest stage
    result they would read, where those results are); ([], '') when none is stale."""
    from nasrepro.claims.records import record_path

    files, where = stage_result_files(tier, device)
    if not files:
        return [], ""
    newest = max(f.stat().st_mtime for f in files)
    stale = [c for c in opsub_claims()
             if not (p := record_path(tier, c)).is_file() or p.stat().st_mtime < newest]
    return stale, where if stale else ""
