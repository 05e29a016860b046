"""Memory measurements: process RSS (what the LeNet paper measured) and tensor memory.

- Process RSS (psutil): the whole process, framework and data included, sampled during
  training; comparable to "memory use" of a Caffe process.
- Tensor memory, the batch-dependent part: on CUDA the allocator's peak allocated bytes
  (torch.cuda.max_memory_allocated, reset before the measured work). On CPU there is no
  allocator peak counter, so we measure the equivalent directly: bytes of every tensor that
  must be alive at the peak of a training step (end of forward, start of backward):
  parameters + gradients + optimiser state + the input batch + every tensor autograd saved
  for backward (captured with torch.autograd.graph.saved_tensors_hooks, unique storages).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import psutil
import torch

MIB = float(1 << 20)


def rss_bytes() -> int:
    """Resident set size of this process (bytes)."""
    return psutil.Process().memory_info().rss


class RssSampler:
    """Collects RSS samples when `sample()` is called (cheap: one /proc read)."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self.samples: list[int] = []

    def sample(self) -> None:
        self.samples.append(self._proc.memory_info().rss)

    def summary(self) -> dict[str, float]:
        a = np.asarray(self.samples, dtype=np.float64) / MIB
        return {"mean_mib": float(a.mean()), "max_mib": float(a.max()), "n": int(a.size)}


def _note(seen: dict[int, int], t: torch.Tensor) -> None:
    """Count a tensor once per storage, by the largest view of it we saw (a mini-batch
    that is a slice of the resident dataset counts as its own bytes, not the dataset's)."""
    key = t.untyped_storage().data_ptr()
    seen[key] = max(seen.get(key, 0), t.nbytes)


@contextmanager
def saved_tensors_recorder():
    """Context that records the tensors autograd saves for backward inside it; yields a
    dict {storage pointer: bytes}."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        _note(seen, t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield seen


def cuda_peak_reset(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def cuda_peak_bytes(device: str) -> int:
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))
