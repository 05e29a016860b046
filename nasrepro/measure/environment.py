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


def _cpuinfo(field: str) -> str:
    """The first value of `field` in /proc/cpuinfo ('' where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (falls back to platform.processor())."""
    return _cpuinfo("model name") or platform.processor() or "unknown"


def git_sha() -> str:
    """HEAD's sha of the repository (with '+dirty' when tracked files other than accepted
    baselines have changes: accepting does not make the code dirty), or 'unknown'."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
             ":(exclude)reference_results/baselines"], cwd=repo_root(),
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


def cpu_capability() -> str:
    """The SIMD code path ATen's CPU kernels take here ('avx512', 'avx2', 'default'), as torch
    reports it: it honours ATEN_CPU_CAPABILITY, so an override is a different class."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability()).lower()


@functools.lru_cache(maxsize=1)
def cpu_vendor() -> str:
    """'intel', 'amd', or the CPU vendor / architecture in short: with the same ATen
    capability, MKL takes vendor-specific kernels, and CPU training numerics follow them
    (OPSUB smoke cells moved up to 10.5 pp between an AMD EPYC and an Intel Xeon, both
    AVX-512; docs/gate.md)."""
    vendor = _cpuinfo("vendor_id")
    known = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}
    return known.get(vendor) or _slug(vendor or platform.machine() or "unknown").lower()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in text).strip("_")


LEVELS: tuple[str, ...] = ("default", "avx2", "avx512")  # ATen's capability names, low to high


@functools.lru_cache(maxsize=1)
def cpu_isa_level() -> str:
    """The highest of LEVELS this CPU supports, by torch's own test for AVX-512 (F, BW, DQ,
    VL and FMA) and AVX2 (AVX2 and FMA); '' where /proc/cpuinfo has no flags (not Linux)."""
    flags = set(_cpuinfo("flags").split())
    if not flags:
        return ""
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl", "fma"} <= flags:
        return "avx512"
    return "avx2" if {"avx2", "fma"} <= flags else "default"


def _capped(level: str, cap: str) -> str:
    """`level` lowered to what an ISA cap allows (MKL_ENABLE_INSTRUCTIONS / MKL_CBWR /
    ONEDNN_MAX_CPU_ISA values such as 'AVX512_CORE', 'AVX2', 'SSE4_2'; '' or 'ALL': no cap)."""
    cap = cap.split(",")[0].strip().upper()  # MKL_CBWR may read 'AVX2,STRICT'
    if cap in ("", "ALL", "AUTO"):
        return level
    allowed = ("avx512" if cap.startswith(("AVX512", "AVX10")) else
               "avx2" if cap.startswith("AVX2") else "default")
    return min(level, allowed, key=LEVELS.index)


def library_levels() -> dict[str, str]:
    """The level each CPU math library runs at here: MKL (GEMMs) and oneDNN (convolutions)
    take the CPU's highest unless their own environment caps them, independently of
    ATEN_CPU_CAPABILITY, and CPU training numerics follow all three (measured: docs/gate.md)."""
    cpu, env = cpu_isa_level() or cpu_capability(), os.environ  # unknown CPU: ATen's
    mkl = _capped(_capped(cpu, env.get("MKL_ENABLE_INSTRUCTIONS", "")), env.get("MKL_CBWR", ""))
    onednn = _capped(cpu, env.get("ONEDNN_MAX_CPU_ISA") or env.get("DNNL_MAX_CPU_ISA", ""))
    return {"mkl": mkl, "onednn": onednn}


def machine_class(device: str = "cpu") -> str:
    """The class of machine whose hardware-dependent results are interchangeable: what changes
    CPU float numerics and speed (CPU vendor: MKL's kernels; ATen capability; core count) or
    the GPU model, plus the torch version. E.g. 'cpu-amd-avx2-2c-torch2.13.0_cpu'. Baselines
    of hardware-dependent claims are keyed by it (the CPU model string 'AMD EPYC' does not
    tell AVX2 from AVX-512 machines). A CPU math library running at another level than ATen
    (only where the environment caps one of them, e.g. ATEN_CPU_CAPABILITY=avx2 alone on an
    AVX-512 machine) is a class of its own: '...-avx2+mkl.avx512+onednn.avx512-2c-...'."""
    import torch

    version = _slug(torch.__version__)
    if device.startswith("cuda"):
        return f"cuda-{_slug(device_name(device))}-torch{version}"
    aten = cpu_capability()
    path = aten + ("".join(f"+{lib}.{level}" for lib, level in library_levels().items()
                           if level != aten) if aten in LEVELS else "")  # x86 only
    return f"cpu-{cpu_vendor()}-{path}-{os.cpu_count()}c-torch{version}"


def code_path_env() -> dict[str, str]:
    """Environment variables that steer the CPU code path (set = a variant of the class)."""
    names = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
             "MKL_ENABLE_INSTRUCTIONS", "MKL_DEBUG_CPU_TYPE")
    return {n: os.environ[n] for n in names if os.environ.get(n)}


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
        "cpu_vendor": cpu_vendor(),
        "cpu_capability": cpu_capability(),
        "library_levels": library_levels(),
        "machine_class": machine_class(device),
        "code_path_env": code_path_env(),
        "cuda": torch.version.cuda,
        "argv": " ".join(sys.argv[:1]),
    }
