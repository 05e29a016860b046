"""Time budgets: parse '9m' / '60s' / '1.5h', and a stage store whose per-epoch checkpoint
handle stops a stage cleanly (checkpoint written first) when the next epoch would not fit."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nasrepro.errors import ConfigError
from nasrepro.train.checkpoint import StageProgress, StageStore

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def now() -> float:
    """The budget clock: wall time (time.time()), comparable across processes and nodes."""
    return time.time()


def parse_duration(text: str) -> float:
    """Seconds of a duration written as a number with unit s, m or h ('9m', '60s', '1.5h')."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh])\s*", text or "")
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"--budget {text!r}: write a positive number with a unit s, m or h "
                          "(e.g. 60s, 9m, 1.5h)")
    return float(m.group(1)) * _UNITS[m.group(2)]


class OutOfBudget(Exception):
    """A stage stopped for the budget: at an epoch boundary with its checkpoint stored
    (kept), or after a part of a stage that keeps nothing (not kept: it starts again)."""

    def __init__(self, stage: str, epoch: int | None, epoch_s: float, kept: bool = True) -> None:
        self.stage, self.epoch, self.epoch_s, self.kept = stage, epoch, epoch_s, kept
        super().__init__(f"{stage}: stopped after "
                         + (f"epoch {epoch} (budget)" if kept else f"part {epoch} (budget, "
                            "nothing kept)"))


class BudgetedProgress(StageProgress):
    """Checkpoint handle that, after each stored end-of-epoch state, stops the stage
    (OutOfBudget) when another epoch as long as the last one would pass the deadline
    (wall clock, time.time(): comparable across processes and Ray nodes)."""

    def __init__(self, store: StageStore, stage: str, deadline: float | None,
                 clock: Callable[[], float] | None = None, epochs: int | None = None) -> None:
        super().__init__(store, stage)
        self.deadline, self.clock, self.epochs = deadline, clock or now, epochs
        self.last = self.clock()
        self.epoch_times: list[float] = []

    def _lap(self) -> tuple[float, float]:
        """(now, seconds since the last epoch or part), recorded as an epoch time."""
        now = self.clock()
        took, self.last = now - self.last, now
        self.epoch_times.append(took)
        return now, took

    def _past_deadline(self, now: float, took: float) -> bool:
        """Whether another epoch (or part) as long as the last one would pass the deadline."""
        return self.deadline is not None and now + took > self.deadline

    def mark(self) -> None:
        """After a part of a stage that keeps nothing (the speed stage's timings, taken in
        one run): stop (OutOfBudget, not kept) when another part as long would pass the
        deadline, so a budget is overrun by at most one part, not the whole stage."""
        now, took = self._lap()
        if self._past_deadline(now, took):
            raise OutOfBudget(self.stage, len(self.epoch_times), took, kept=False)

    def save(self, state: Any) -> None:
        super().save(state)
        now, took = self._lap()
        epoch = state.get("epoch") if isinstance(state, dict) else None
        if self.epochs is not None and epoch == self.epochs:
            return  # the last epoch: the stage's result is stored next, never cut here
        if self._past_deadline(now, took):
            raise OutOfBudget(self.stage, epoch, took)


class BudgetedStore(StageStore):
    """A StageStore whose stages stop at an epoch boundary when the deadline nears."""

    def __init__(self, root: Path, deadline: float | None,
                 epochs: dict[str, int] | None = None) -> None:
        super().__init__(root)
        self.deadline, self.epochs = deadline, epochs or {}
        self.last_progress: BudgetedProgress | None = None

    def while_waiting(self, stage: str) -> None:
        """Stop (OutOfBudget, no epoch) once the deadline passes while another run holds
        the stage's lock: waiting for it could outlast the budget by a whole stage."""
        if self.deadline is not None and now() > self.deadline:
            raise OutOfBudget(stage, None, 0.0)

    def progress_for(self, stage: str) -> StageProgress:
        self.last_progress = BudgetedProgress(self, stage, self.deadline,
                                              epochs=self.epochs.get(stage))
        return self.last_progress
