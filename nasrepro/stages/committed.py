"""Committed stage results: small JSON per stage (no weights) under
reference_results/opsub_stages/<tier>/, so a checkout without a GPU rebuilds the full-tier
OPSUB records from results computed elsewhere. Each file carries the stage's portable id
(its key without the machine class: the same code, recipe and data on any GPU) and where it
was computed. The claims use them only when every stage of the tier is there with this
checkout's ids; the determinism re-run of OPSUB-5 needs weights and is then not done."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from nasrepro.errors import DataError
from nasrepro.files import atomic_write_json
from nasrepro.train.loop import TrainHistory


def committed_dir(tier: str) -> Path:
    """reference_results/opsub_stages/<tier>/ of this checkout."""
    from nasrepro.paths import reference_dir

    return reference_dir() / "opsub_stages" / tier


def to_json(result: dict[str, Any]) -> dict[str, Any]:
    """A stage result without weights ('state'), histories as tagged dicts."""
    out: dict[str, Any] = {}
    for k, v in result.items():
        if k == "state":
            continue
        out[k] = ({"__hist__": dataclasses.asdict(v)} if isinstance(v, TrainHistory) else v)
    return out


def from_json(obj: dict[str, Any]) -> dict[str, Any]:
    """Inverse of to_json (test-accuracy epochs back to int keys)."""
    out = {}
    for k, v in obj.items():
        if isinstance(v, dict) and "__hist__" in v:
            h = dict(v["__hist__"])
            h["test_acc"] = {int(e): a for e, a in h["test_acc"].items()}
            v = TrainHistory(**h)
        out[k] = v
    return out


def _file(folder: Path, name: str) -> Path:
    return folder / f"{name.replace('/', '__')}.json"


def write_committed(tier: str, device: str, seeds: int | None = None,
                    folder: Path | None = None) -> list[str]:
    """Write every finished stage of (tier, device) in this reports folder as JSON into
    `folder` (default: committed_dir(tier)); returns the stage names written."""
    from nasrepro.experiments.opsub import stage_graph, stage_keys, stage_store
    from nasrepro.measure.environment import machine_class

    folder = folder or committed_dir(tier)
    store = stage_store(tier, device, seeds)
    portable = stage_keys(tier, device, seeds, portable=True)
    written = []
    for st in stage_graph(tier, device, seeds):
        if store.done(st.id):
            atomic_write_json(_file(folder, st.name), {
                "stage": st.name, "id": portable[st.name], "device": device,
                "machine_class": machine_class(device),
                "result": to_json(store.load_result(st.id))})
            written.append(st.name)
    if not written:
        raise DataError(f"no finished {tier} stage under {store.root} to write")
    return written


def committed_result(tier: str, seeds: int | None = None,
                     folder: Path | None = None) -> tuple[dict[str, Any] | None, str]:
    """(the assembled OPSUB result, '') from committed JSON when every stage of the tier is
    there with this checkout's portable id; else (None, why) - '' when there are none."""
    from nasrepro.experiments.opsub import assemble, stage_graph, stage_keys
    from nasrepro.stages.host_weights import PROVENANCE

    folder = folder or committed_dir(tier)
    # the bf16 host's provenance shares the folder; it is not a stage result
    files = (sorted(f for f in folder.glob("*.json") if f.name != PROVENANCE)
             if folder.is_dir() else [])
    if not files:
        return None, ""
    docs = {}
    for f in files:
        try:
            d = json.loads(f.read_text())
            docs[d["stage"]] = d
        except (ValueError, KeyError) as exc:
            raise DataError(f"committed stage result {f} is not readable ({exc}); fix or "
                            "remove it") from None
    devices = {d["device"] for d in docs.values()}
    if len(devices) != 1:
        return None, f"committed results in {folder} mix devices {sorted(devices)}"
    device = devices.pop()
    portable = stage_keys(tier, device, seeds, portable=True)
    graph = stage_graph(tier, device, seeds, portable=True)  # no GPU needed to check them
    missing = [st.name for st in graph if st.name not in docs]
    stale = [st.name for st in graph
             if st.name in docs and docs[st.name]["id"] != portable[st.name]]
    if missing or stale:
        return None, (f"committed results in {folder}: {len(missing)} of {len(graph)} stages "
                      f"missing, {len(stale)} with another key (code/recipe/data changed)")
    res = {st.name: from_json(docs[st.name]["result"]) for st in graph}
    out = assemble(tier, device, seeds, res, None, wall=0.0, cpu=0.0)
    out["committed"] = {"folder": str(folder), "machine_class": sorted(
        {d["machine_class"] for d in docs.values()})}
    return out, ""
