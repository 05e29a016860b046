"""Resumable stages: each stage of a long run writes its result atomically and is skipped
when that result exists; inside a stage, per-epoch progress is checkpointed atomically, so a
run killed mid-epoch loses at most the epoch in flight.

Layout under a store's root (one folder per run configuration):
  <stage>.result.pt     the stage's final result (written once, last)
  <stage>.progress.pt   the latest end-of-epoch state of an unfinished stage (deleted when
                        the result is written)
Stage names may contain '/', stored as '__'. Files are our own torch.save pickles, loaded
with weights_only=False (trusted: written by this code, never downloaded).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nasrepro.files import atomic_write_with


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


class StageStore:
    """Results and in-flight progress of the stages of one run."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def result_path(self, stage: str) -> Path:
        return self.root / f"{_safe(stage)}.result.pt"

    def progress_path(self, stage: str) -> Path:
        return self.root / f"{_safe(stage)}.progress.pt"

    def done(self, stage: str) -> bool:
        return self.result_path(stage).is_file()

    def load_result(self, stage: str) -> Any:
        return torch_load(self.result_path(stage))

    def save_result(self, stage: str, result: Any) -> None:
        atomic_torch_save(result, self.result_path(stage))
        self.progress_path(stage).unlink(missing_ok=True)

    def load_progress(self, stage: str) -> Any | None:
        path = self.progress_path(stage)
        return torch_load(path) if path.is_file() else None

    def save_progress(self, stage: str, state: Any) -> None:
        atomic_torch_save(state, self.progress_path(stage))

    def completed(self) -> list[str]:
        """Names of the stages whose result exists."""
        return sorted(p.name[: -len(".result.pt")].replace("__", "/")
                      for p in self.root.glob("*.result.pt"))

    def run(self, stage: str, compute: Callable[[StageProgress], Any],
            log: Callable[[str], None] | None = None) -> Any:
        """The stage's stored result, or compute(progress) stored atomically."""
        if self.done(stage):
            if log:
                log(f"[{stage}] done earlier: skipped (result {self.result_path(stage)})")
            return self.load_result(stage)
        result = compute(StageProgress(self, stage))
        self.save_result(stage, result)
        return result


class StageProgress:
    """Per-epoch checkpoint handle of one stage (what a training loop needs to resume)."""

    def __init__(self, store: StageStore | None, stage: str) -> None:
        self.store, self.stage = store, stage

    def load(self) -> Any | None:
        return self.store.load_progress(self.stage) if self.store else None

    def save(self, state: Any) -> None:
        if self.store:
            self.store.save_progress(self.stage, state)


NO_PROGRESS = StageProgress(None, "unstored")
