"""What a stage run has done and what is left, with an ETA from the per-epoch times measured
in this store (finished results and in-flight checkpoints)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from nasrepro.experiments.opsub import TIERS, Stage
from nasrepro.progress import fmt_seconds
from nasrepro.train.checkpoint import StageStore


def _epoch_times(obj: Any) -> list[float]:
    """Per-epoch seconds stored in a stage result or checkpoint (none for speed/identity)."""
    if not isinstance(obj, dict):
        return []
    if "hist" in obj and hasattr(obj["hist"], "epoch_time"):
        return list(obj["hist"].epoch_time)
    return list(obj.get("epoch_time") or obj.get("time") or [])


@dataclass
class StageState:
    """Where one stage stands: done, or the epochs its checkpoint holds (0 = not started)."""

    stage: Stage
    done: bool
    epoch: int = 0


@dataclass
class Status:
    """Done and left stages of a graph in one store, with measured seconds per epoch."""

    states: list[StageState]
    per_epoch: dict[str, float] = field(default_factory=dict)
    estimated: set[str] = field(default_factory=set)

    @property
    def left(self) -> list[StageState]:
        return [s for s in self.states if not s.done]

    def seconds_left(self) -> float | None:
        """Sequential seconds of the left epochs (None when a needed kind is unmeasured)."""
        total = 0.0
        for s in self.left:
            rest = max(0, s.stage.epochs - s.epoch)
            if rest and s.stage.kind not in self.per_epoch:
                return None
            total += rest * self.per_epoch.get(s.stage.kind, 0.0)
        return total

    def epochs_left_text(self) -> str:
        """Epochs the left stages still train, per kind (e.g. 'baseline 200, finetune 950'):
        the size of the work before any of it is timed on this machine."""
        per_kind: dict[str, int] = {}
        for s in self.left:
            per_kind[s.stage.kind] = per_kind.get(s.stage.kind, 0) + max(0, s.stage.epochs
                                                                        - s.epoch)
        return ", ".join(f"{k} {v}" for k, v in per_kind.items())

    def lines(self, jobs: int = 1) -> list[str]:
        """Human summary: done / in flight / left, and the ETA at `jobs` concurrent stages."""
        n, left = len(self.states), self.left
        out = [f"stages: {n - len(left)} of {n} done, {len(left)} left"]
        for s in left:
            if s.epoch:
                out.append(f"  in flight (checkpointed): {s.stage.name} after epoch "
                           f"{s.epoch}/{s.stage.epochs}")
        kinds: dict[str, int] = {}
        for s in left:
            kinds[s.stage.kind] = kinds.get(s.stage.kind, 0) + 1
        if left:
            out.append("  left: " + ", ".join(f"{v} {k}" for k, v in kinds.items()))
        here = {s.stage.kind for s in self.states}  # no 'speed' where the tier has none
        if shown := {k: v for k, v in self.per_epoch.items() if k in here}:
            out.append("  s/epoch: " + ", ".join(
                f"{k} {v:.2f}" + (" (scaled from baseline)" if k in self.estimated else "")
                for k, v in shown.items()))
        secs = self.seconds_left()
        if left:
            if secs is None:
                out.append("  ETA: unknown until an epoch of each kind is measured here; "
                           "epochs left: " + self.epochs_left_text())
            else:
                par = max(1, min(jobs, len(left)))
                out.append(f"  ETA: {fmt_seconds(secs)} sequential"
                           + (f", ~{fmt_seconds(secs / par)} with {par} jobs" if par > 1 else "")
                           + "; rerun the same command to resume")
        return out


def status(graph: list[Stage], store: StageStore, tier: str) -> Status:
    """Read the store: which stages are done, how far the others got, seconds per epoch
    (median per kind; a kind not measured yet is scaled from the baseline's by images)."""
    times: dict[str, list[float]] = {}
    states = []
    for st in graph:
        # an unreadable result is moved aside (warning): the stage is left, not an error
        if (obj := store.result_or_none(st.id)) is not None:
            done, epoch = True, st.epochs
        else:
            obj = store.load_progress(st.id)
            done, epoch = False, int(obj["epoch"]) if isinstance(obj, dict) else 0
        times.setdefault(st.kind, []).extend(_epoch_times(obj))
        states.append(StageState(st, done, epoch))
    per, estimated = with_estimates(
        {k: statistics.median(v) for k, v in times.items() if v}, tier)
    return Status(states, per, estimated)


def with_estimates(per_epoch: dict[str, float], tier: str) -> tuple[dict[str, float], set[str]]:
    """Seconds per epoch by kind, the kinds not measured yet scaled from the baseline's by
    their images per epoch; and the names of the scaled kinds."""
    per, estimated = dict(per_epoch), set()
    if "baseline" in per:
        t = TIERS[tier]
        ratio = (t["finetune_per_class"] / t["train_per_class"]
                 if t["finetune_per_class"] else 1.0)
        for kind in ("distill", "finetune"):
            if kind not in per:
                per[kind] = per["baseline"] * ratio
                estimated.add(kind)
        per.setdefault("speed", per["baseline"])
    return per, estimated


def eta_seconds(graph: list[Stage], done: set[str], per_epoch: dict[str, float], tier: str,
                jobs: int) -> float | None:
    """Seconds left for the stages not in `done` at `jobs` at once, from per-epoch times
    (None while a needed kind has no estimate); a running stage counts whole."""
    per, _ = with_estimates(per_epoch, tier)
    left = Status([StageState(s, s.name in done) for s in graph], per)
    secs = left.seconds_left()
    return None if secs is None else secs / max(1, min(jobs, len(left.left)))
