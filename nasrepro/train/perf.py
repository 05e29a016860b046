"""Device-dependent execution choices of the training loops, in one place.

The loops take a `Perf`; by default `Perf.for_device(device)` (bf16 autocast and pinned host
memory on CUDA, plain fp32 on the CPU), so what a tier computes is unchanged. A test can
pass `GPU_PATHS` on the CPU to execute the CUDA-only lines (bf16 autocast through the
whole step) before a GPU ever sees them. What still differs on a real GPU, and only runs
there, is listed in docs/gpu.md (device synchronisation, CUDA generators, pinned memory).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Perf:
    """How a step executes: autocast dtype (None = fp32) and DataLoader pinned memory.

    channels_last and torch.compile are part of the recipe (TrainConfig) and apply on any
    device; these two are the choices that used to be taken from the device type alone.
    """

    autocast_dtype: torch.dtype | None = None
    pin_memory: bool = False

    @classmethod
    def for_device(cls, device: str | torch.device) -> Perf:
        """The default of a device: bf16 autocast + pinned memory on CUDA, fp32 elsewhere."""
        cuda = torch.device(device).type == "cuda"
        return cls(torch.bfloat16 if cuda else None, pin_memory=cuda)

    def autocast(self, device: str | torch.device) -> AbstractContextManager:
        """Autocast context of this choice on `device` (disabled = a no-op context)."""
        dev = torch.device(device)
        return torch.autocast(dev.type, dtype=self.autocast_dtype or torch.bfloat16,
                              enabled=self.autocast_dtype is not None)

    def as_dict(self) -> dict[str, object]:
        return {"autocast_dtype": str(self.autocast_dtype).replace("torch.", "")
                if self.autocast_dtype else "float32", "pin_memory": self.pin_memory}


# The CUDA choices, for forcing the GPU code paths on the CPU in tests.
GPU_PATHS = Perf(torch.bfloat16, pin_memory=True)


def deterministic_kernels() -> None:
    """Make cuDNN choose deterministic kernels and never autotune (no effect off CUDA, where
    the kernels already are): a stage run twice, or resumed from its last epoch, then gives
    the same numbers bit for bit on a GPU too, which OPSUB-5's determinism gate and the
    budgeted runs' resume check ask. cuDNN's default choice includes kernels that sum with
    atomics (PyTorch's reproducibility notes); their speed cost is measured on the GPU in
    the epoch benchmark, which runs with this setting."""
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def resolve(perf: Perf | None, device: str | torch.device) -> Perf:
    """`perf`, or the device's default when None."""
    return perf if perf is not None else Perf.for_device(device)
