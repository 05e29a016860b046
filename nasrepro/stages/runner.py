"""Run a stage graph: ready stages in dependency order, up to `jobs` at once, stopping
cleanly before a deadline (finished stages stored, stages in flight checkpointed at their
last epoch), then say what is done and what is left."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nasrepro.experiments.opsub import TIERS, Stage, stage_graph, stage_store
from nasrepro.progress import Ticker, fmt_seconds
from nasrepro.stages import budget, eta
from nasrepro.stages.host_weights import seed_baseline
from nasrepro.stages.task import StageTask
from nasrepro.train.checkpoint import StageStore


def run_graph(graph: list[Stage], store: StageStore, tier: str, device: str, executor: Any,
              jobs: int, deadline: float | None, seeds: int | None = None,
              log: Callable[[str], None] = print) -> eta.Status:
    """Run every stage not yet stored; a stage starts only when its inputs are stored and,
    under a deadline, when one epoch of its kind (measured) still fits. Returns the status."""
    by_name = {s.name: s for s in graph}
    done = stored_inputs_readable(graph, store)
    # one line per finished stage (at most every 10 s) with the ETA of the whole run, beside
    # the stages' own epoch lines
    ticker = Ticker(f"OPSUB stages, {jobs} job(s)", len(graph) - len(done), "stages",
                    every_s=10)
    finished = 0
    per_epoch = eta.status(graph, store, tier).per_epoch if deadline else {}
    running: dict[Any, Stage] = {}
    stopping = interrupted = False
    try:
        while True:
            for st in graph:
                if stopping or len(running) >= jobs:
                    break
                if (st.name in done or st in running.values()
                        or not all(d in done for d in st.deps)):
                    continue
                if deadline is not None and budget.now() + (
                        per_epoch.get(st.kind, 0.0) if st.epochs else 0.0) > deadline:
                    stopping = True
                    log(f"budget: not starting {st.name} (one epoch would not fit)")
                    break
                task = StageTask(tier, device, str(store.root), st,
                                 tuple((d, by_name[d].id) for d in st.deps), deadline, seeds,
                                 dict(TIERS[tier]))
                running[executor.submit(task)] = st
            if not running:
                break
            for handle, out in executor.wait(list(running)):
                st = running.pop(handle)
                if out["epoch_times"]:
                    per_epoch[st.kind] = out["epoch_times"][-1]
                if out["status"] == "done":
                    done.add(st.name)
                    finished += 1
                    ticker.update(finished, f"{st.name} took {out['seconds']:.1f} s",
                                  eta=eta.eta_seconds(graph, done, per_epoch, tier, jobs))
                else:
                    stopping = True
                    log(_stop_line(st, out))
    except KeyboardInterrupt:
        interrupted = True  # stop now: finished stages and checkpoints are kept
        raise
    finally:
        executor.close(terminate=interrupted)
    return eta.status(graph, store, tier)


def _stop_line(st: Stage, out: dict[str, Any]) -> str:
    """What a stage stopped for the budget left behind, in one line."""
    if out["epoch"] is None:
        return f"budget: {st.name} not computed here (another run holds it)"
    if not out.get("kept", True):
        return (f"budget: {st.name} stopped after part {out['epoch']} of {st.epochs} "
                "(its timings are taken in one run: nothing kept, it starts again)")
    return f"budget: {st.name} stopped after epoch {out['epoch']} (checkpoint stored)"


def stored_inputs_readable(graph: list[Stage], store: StageStore) -> set[str]:
    """Names of the stored stages, after reading each stored input of a stage still to run:
    one that cannot be read is moved aside (a warning) and computed again, instead of
    failing every stage that consumes it."""
    by_name = {s.name: s for s in graph}
    done = {s.name for s in graph if store.done(s.id)}
    checked: set[str] = set()
    while todo := {d for s in graph if s.name not in done for d in s.deps
                   if d in done} - checked:
        for name in todo:
            checked.add(name)
            if store.result_or_none(by_name[name].id) is None:
                done.discard(name)  # its own inputs are checked in the next round
    return done


def run_opsub_stages(tier: str, device: str, seeds: int | None, executor: Any, jobs: int,
                     budget_s: float | None, started: float | None = None,
                     log: Callable[[str], None] = print) -> eta.Status:
    """The OPSUB stage graph of a tier through an executor, under an optional budget
    counted from `started` (time.time(); default now). Prints the status at the end."""
    t0 = started if started is not None else budget.now()
    deadline = t0 + budget_s if budget_s else None
    graph = stage_graph(tier, device, seeds)
    store = stage_store(tier, device, seeds)
    if seed_baseline(store, tier, next(s.id for s in graph if s.name == "baseline")):
        log("baseline: the committed bf16 host (reference_results/opsub_stages) is the host")
    log(f"OPSUB stages ({tier}, {device}, {jobs} job(s)"
        + (f", budget {fmt_seconds(budget_s)}" if budget_s else "") + f"): {store.root}")
    st = run_graph(graph, store, tier, device, executor, jobs, deadline, seeds, log)
    log(f"stage run took {budget.now() - t0:.1f} s"
        + (f" of the {budget_s:.0f} s budget" if budget_s else ""))
    for line in st.lines(jobs):
        log(line)
    return st
