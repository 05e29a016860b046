"""One stage as a self-contained task: what a worker process (local pool or Ray task) runs.
It loads its inputs from the stage store, computes the stage (resuming from its checkpoint)
and stores the result; everything it returns is small plain data."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nasrepro.errors import ConfigError
from nasrepro.experiments import opsub
from nasrepro.stages.budget import BudgetedStore, OutOfBudget


@dataclass(frozen=True)
class StageTask:
    """What a worker needs: the tier/device, the store folder, the stage and its inputs'
    ids (by name), the absolute deadline (time.time(); None = no budget), the seed count
    and the tier's recipe as the driver keyed it (a worker process computes with exactly
    that recipe and refuses the task when its own key of the stage differs: other code,
    data or machine class on that node)."""

    tier: str
    device: str
    store_root: str
    stage: opsub.Stage
    dep_ids: tuple[tuple[str, str], ...]
    deadline: float | None
    seeds: int | None = None
    recipe: dict[str, Any] | None = None


@functools.lru_cache(maxsize=2)
def _opsub_run(tier: str, device: str) -> opsub.OpsubRun:
    """The data of a tier, loaded once per worker process (log lines go to stderr)."""
    return opsub.OpsubRun(tier, device)


def run_stage_task(task: StageTask) -> dict[str, Any]:
    """Compute one stage into the store; {'stage', 'status': 'done' | 'stopped', 'seconds',
    'epoch_times', 'epoch', 'kept'} ('stopped' = budget reached; kept: its checkpoint is
    stored, or False for a stage that keeps nothing and starts again)."""
    threads = opsub.TIERS[task.tier]["threads"]
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    t0 = time.time()
    if task.recipe is not None:
        opsub.TIERS[task.tier] = task.recipe
    here = opsub.stage_keys(task.tier, task.device, task.seeds).get(task.stage.name)
    if here != task.stage.id:
        raise ConfigError(f"stage {task.stage.name}: this worker keys it {here}, the driver "
                          f"{task.stage.id} - code, data or machine class differ on this node")
    store = BudgetedStore(Path(task.store_root), task.deadline,
                          {task.stage.id: task.stage.epochs})
    run = _opsub_run(task.tier, task.device)
    run.base = None  # a fresh host per task: loaded from the store below
    ids = dict(task.dep_ids)
    out: dict[str, Any] = {"stage": task.stage.name, "epoch": None, "kept": True}
    try:
        store.run(task.stage.id, opsub.stage_compute(
            run, task.stage, lambda name: store.load_result(ids[name])), run.log)
        out["status"] = "done"
    except OutOfBudget as stop:
        out.update(status="stopped", epoch=stop.epoch, kept=stop.kept)
    finally:
        torch.set_num_threads(before)
    prog = store.last_progress
    out.update(seconds=time.time() - t0, epoch_times=prog.epoch_times if prog else [])
    return out
