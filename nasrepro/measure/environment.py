"""Environment fingerprint stored in every record: what produced a number, and where."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import sys
from typing import Any

from nasrepro.paths import repo_root


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (falls back to platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_sha() -> str:
    """HEAD's sha of the repository (with '+dirty' when the tree has changes), or 'unknown'."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo_root(),
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_name(device: str) -> str:
    """Human name of a torch device: the GPU model for cuda, the CPU model for cpu."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return cpu_model()


def machine_id() -> str:
    """A short stable id of this hardware (CPU model, core count, GPU): keys speed baselines."""
    parts = [platform.system(), platform.machine(), cpu_model(), str(os.cpu_count())]
    try:
        import torch

        if torch.cuda.is_available():
            parts.append(torch.cuda.get_device_name(0))
    except ImportError:
        pass
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]
    return f"{platform.system().lower()}-{os.cpu_count()}cpu-{digest}"


def fingerprint(device: str = "cpu") -> dict[str, Any]:
    """Everything needed to say which code, software and hardware produced a result."""
    import numpy
    import torch

    return {
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "device": device,
        "device_name": device_name(device),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "machine_id": machine_id(),
        "cuda": torch.version.cuda,
        "argv": " ".join(sys.argv[:1]),
    }
