"""Resumable stages: each stage of a long run writes its result atomically and is skipped
when that result exists; inside a stage, per-epoch progress is checkpointed atomically, so a
run killed mid-epoch loses at most the epoch in flight.

Layout under a store's root (one folder per run configuration):
  <stage>.result.pt     the stage's final result (written once, last)
  <stage>.progress.pt   the latest end-of-epoch state of an unfinished stage (deleted when
                        the result is written)
  .locks/<stage>.lock   held while a run computes the stage: a second run on the same
                        folder waits for it, then loads the result (computed once); a
                        budgeted run stops waiting at its deadline
Stage names may contain '/', stored as '__'. Files are our own torch.save pickles, loaded
with weights_only=False (trusted: written by this code, never downloaded). A result or
progress file that cannot be read (truncated, garbage) is renamed to
`<file>.corrupt-<timestamp>` with a warning naming it; the stage is recomputed (a corrupt
progress file restarts the stage from its first epoch).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nasrepro.files import (
    atomic_write_with,
    brief,
    file_lock,
    is_unreadable_content,
    move_aside,
)


def _safe(stage: str) -> str:
    if not stage or any(c in stage for c in "\\:*?\"<>| ") or ".." in stage:
        raise ValueError(f"bad stage name {stage!r}")
    return stage.replace("/", "__")


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename into place."""
    atomic_write_with(Path(path), lambda tmp: torch.save(obj, tmp))


def torch_load(path: Path) -> Any:
    """Load one of our own checkpoint files (CPU tensors)."""
    return torch.load(path, map_location="cpu", weights_only=False)  # our own files


_MISSING = object()


def _load_or_move_aside(path: Path, then: str = "recomputing the stage") -> Any:
    """torch_load(path), or _MISSING when the file is absent or unreadable (moved aside)."""
    try:
        return torch_load(path)
    except FileNotFoundError:
        return _MISSING
    except Exception as exc:
        if not is_unreadable_content(exc):
            raise
        move_aside(path, brief(exc), then)
        return _MISSING


class StageStore:
    """Results and in-flight progress of the stages of one run."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def result_path(self, stage: str) -> Path:
        return self.root / f"{_safe(stage)}.result.pt"

    def progress_path(self, stage: str) -> Path:
        return self.root / f"{_safe(stage)}.progress.pt"

    def lock_path(self, stage: str) -> Path:
        return self.root / ".locks" / f"{_safe(stage)}.lock"

    def done(self, stage: str) -> bool:
        return self.result_path(stage).is_file()

    def load_result(self, stage: str) -> Any:
        """The stored result; DataError naming the file when it is absent or unreadable
        (an unreadable one is moved aside first, so `run` recomputes it next time)."""
        out = _load_or_move_aside(self.result_path(stage))
        if out is _MISSING:
            from nasrepro.errors import DataError

            raise DataError(f"stage {stage}: no readable result at {self.result_path(stage)}; "
                            "rerun the experiment to compute it")
        return out

    def result_or_none(self, stage: str) -> Any | None:
        """The stored result, or None when there is none or it cannot be read (moved aside
        with a warning: the stage counts as not done and is computed again)."""
        out = _load_or_move_aside(self.result_path(stage))
        return None if out is _MISSING else out

    def save_result(self, stage: str, result: Any) -> None:
        atomic_torch_save(result, self.result_path(stage))
        self.progress_path(stage).unlink(missing_ok=True)

    def load_progress(self, stage: str) -> Any | None:
        """The last end-of-epoch state, or None (absent; or unreadable: moved aside with a
        warning, and the stage restarts from its first epoch)."""
        out = _load_or_move_aside(self.progress_path(stage),
                                  f"restarting stage {stage} from its first epoch")
        return None if out is _MISSING else out

    def save_progress(self, stage: str, state: Any) -> None:
        atomic_torch_save(state, self.progress_path(stage))

    def progress_for(self, stage: str) -> StageProgress:
        """The checkpoint handle `run` gives a stage's computation (a budgeted store returns
        one that stops the stage at an epoch boundary, see nasrepro.stages.budget)."""
        return StageProgress(self, stage)

    def completed(self) -> list[str]:
        """Names of the stages whose result exists."""
        return sorted(p.name[: -len(".result.pt")].replace("__", "/")
                      for p in self.root.glob("*.result.pt"))

    def run(self, stage: str, compute: Callable[[StageProgress], Any],
            log: Callable[[str], None] | None = None) -> Any:
        """The stage's stored result, or compute(progress) stored atomically. Under the
        stage's lock, so concurrent runs on one folder compute it once."""
        if (out := self._stored(stage, log)) is not _MISSING:
            return out
        with file_lock(self.lock_path(stage), what=stage, log=log,
                       on_wait=lambda: self.while_waiting(stage)):
            if (out := self._stored(stage, log)) is not _MISSING:  # done while we waited
                return out
            result = compute(self.progress_for(stage))
            self.save_result(stage, result)
        return result

    def while_waiting(self, stage: str) -> None:
        """Runs while another run holds the stage's lock (a budgeted store stops here)."""

    def _stored(self, stage: str, log: Callable[[str], None] | None) -> Any:
        path = self.result_path(stage)
        out = _load_or_move_aside(path)
        if out is not _MISSING and log:
            log(f"[{stage}] done earlier: skipped (result {path})")
        return out


class StageProgress:
    """Per-epoch checkpoint handle of one stage (what a training loop needs to resume)."""

    def __init__(self, store: StageStore | None, stage: str) -> None:
        self.store, self.stage = store, stage

    def load(self) -> Any | None:
        return self.store.load_progress(self.stage) if self.store else None

    def save(self, state: Any) -> None:
        if self.store:
            self.store.save_progress(self.stage, state)

    def mark(self) -> None:
        """A point inside a stage with nothing to resume from (one part of a timing taken
        in one run): a budgeted handle may stop the stage here; this one does nothing."""


NO_PROGRESS = StageProgress(None, "unstored")
