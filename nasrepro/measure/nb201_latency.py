"""Forward latency of every NAS-Bench-201 network measured on this machine, resumable.

`measure(spec, indices)` builds each cell's CIFAR-100 network (nasrepro/models/nb201.py,
plain PyTorch), times `spec.repeats` forward passes after `spec.warmup` (eval mode,
inference_mode, torch threads pinned, device synchronised; median and IQR in ms), and
writes the results in chunks of `spec.chunk` NB201 indices, each chunk file written
atomically, into a work folder keyed by everything that changes the numbers (timing
settings, device, machine id and class, torch version, the network's source). A rerun
skips what its chunks hold, so Ctrl-C or a killed run loses at most the chunk in flight.
`column(work)` collects them; nasrepro/measure/nb201_latency_table.py writes the table.

Defaults and why: batch 1 on the CPU (HELP's CPU tables are batch 1), batch 256 on a GPU
(NB201's own latency column); 1 torch thread (HELP does not state its thread count: one
thread is the setting that is stable on a shared machine and comparable across machines;
--threads changes it and the key); 3 warm-up passes, median of 10 timed passes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasrepro.errors import ConfigError, DataError
from nasrepro.files import atomic_write_json, file_lock, read_json
from nasrepro.measure.timers import median_time
from nasrepro.progress import Ticker, emit, fmt_seconds

N_ARCHS = 15625
WORK_NAME = "nb201_latency"
# Per network in a chunk: median (the column), IQR and min of the timed passes, in ms. The
# min is kept as a diagnostic: on a loaded machine interference only adds time.
FIELDS = ("median_ms", "iqr_ms", "min_ms")


@dataclass(frozen=True)
class LatencySpec:
    """How one latency column is measured (every field is part of the work folder's key)."""

    device: str = "cpu"
    batch: int = 1
    threads: int = 1
    warmup: int = 3
    repeats: int = 10
    chunk: int = 250

    def __post_init__(self) -> None:
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"device {self.device!r}: use cpu or cuda[:N]")
        for name in ("batch", "threads", "repeats", "chunk"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ConfigError(f"warmup must be >= 0, got {self.warmup}")

    @property
    def default_name(self) -> str:
        """Column name: 'this_machine_<cpu|cuda>_<batch>' (the HELP suffix convention)."""
        return f"this_machine_{self.device.split(':')[0]}_{self.batch}"


def default_spec(device: str = "cpu", **overrides: Any) -> LatencySpec:
    """The spec for a device: batch 1 on the CPU (HELP's CPU tables), 256 on a GPU (NB201)."""
    batch = 256 if device.startswith("cuda") else 1
    fields = {"device": device, "batch": batch, **{k: v for k, v in overrides.items()
                                                     if v is not None}}
    return LatencySpec(**fields)


def _network_source_sha() -> str:
    """Fingerprint of the sources that define the measured network (model + op encoding)."""
    from nasrepro.experiments.cache import source_fingerprint
    from nasrepro.paths import PACKAGE_DIR

    return source_fingerprint(PACKAGE_DIR, ("models/nb201.py", "nas/search_space.py"))


def work_key(spec: LatencySpec) -> dict[str, Any]:
    """Everything the measured numbers depend on: timing settings, the hardware (machine id:
    CPU model, cores, GPU; machine class: code path, torch version) and the network code."""
    from nasrepro.measure.environment import device_name, machine_class, machine_id

    return {"spec": asdict(spec), "machine_id": machine_id(),
            "machine_class": machine_class(spec.device),
            "device_name": device_name(spec.device), "torch": torch.__version__,
            "network_sha": _network_source_sha(), "input": "randn(batch, 3, 32, 32), seed 0",
            "mode": "eval + inference_mode"}


def work_dir(spec: LatencySpec, root: Path | None = None) -> Path:
    """The chunk folder of a spec on this machine: <reports>/cache/nb201_latency/<hash>."""
    from nasrepro.experiments.cache import config_hash
    from nasrepro.paths import cache_dir

    base = Path(root) if root is not None else cache_dir() / WORK_NAME
    return base / config_hash(work_key(spec))


def chunk_path(work: Path, k: int) -> Path:
    """File of chunk k (NB201 indices k*chunk .. (k+1)*chunk - 1)."""
    return Path(work) / f"chunk_{k:05d}.json"


@contextmanager
def _pinned(spec: LatencySpec) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def time_network(ops: Sequence[int], spec: LatencySpec, x: torch.Tensor
                 ) -> tuple[float, float, float]:
    """(median, IQR, min) in ms of one NB201 network's forward pass on x (warm-up excluded), with
    torch's threads pinned to spec.threads (two spinning threads on a busy 2-core machine
    measured 380-990 ms for a 1 ms network)."""
    from nasrepro.models.nb201 import NB201Network

    model = NB201Network([int(o) for o in ops]).to(spec.device).eval()
    with _pinned(spec), torch.inference_mode():
        t = median_time(lambda: model(x), repeats=spec.repeats, warmup=spec.warmup,
                        device=spec.device)
    return 1e3 * t["median"], 1e3 * t["iqr"], 1e3 * t["min"]


def read_chunk(work: Path, k: int) -> dict[str, Any] | None:
    """Chunk k's record, or None when it is absent (a corrupt one is a DataError)."""
    path = chunk_path(work, k)
    if not path.is_file():
        return None
    rec = read_json(path)
    if not (isinstance(rec, dict) and all(len(rec.get(f, ())) == len(rec.get("indices", ()))
                                          for f in FIELDS)):
        raise DataError(f"{path}: not a latency chunk record; delete it to re-measure it")
    return rec


def parse_indices(text: str) -> list[int]:
    """'0-99,200,300-310' -> sorted unique NB201 indices (inclusive ranges)."""
    out: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise ConfigError(f"--indices {text!r}: {part!r} is not N or N-M") from None
        if not 0 <= a <= b < N_ARCHS:
            raise ConfigError(f"--indices {text!r}: {part!r} is outside 0-{N_ARCHS - 1}")
        out.update(range(a, b + 1))
    return sorted(out)


def sample_indices(n: int, seed: int = 0) -> list[int]:
    """n NB201 indices drawn uniformly without replacement (sorted; fixed seed)."""
    if not 1 <= n <= N_ARCHS:
        raise ConfigError(f"--sample {n}: must be in 1..{N_ARCHS}")
    return sorted(np.random.default_rng(seed).choice(N_ARCHS, n, replace=False).tolist())


def measure(spec: LatencySpec, indices: Sequence[int] | None = None, ops: torch.Tensor | None
            = None, work: Path | None = None, max_chunks: int | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Measure the networks of `indices` (default: all 15625) not yet in the work folder.

    ops: [15625, 6] op ids by NB201 index (default: the shipped table's). max_chunks: stop
    after writing that many chunks (a planned pause; rerun to continue). Returns {work,
    measured (networks timed now), reused (found in chunks), remaining, seconds}."""
    if ops is None:
        from nasrepro.data.nb201 import load_table

        ops = load_table().ops
    wanted = sorted(set(range(N_ARCHS) if indices is None else (int(i) for i in indices)))
    work = Path(work) if work is not None else work_dir(spec)
    work.mkdir(parents=True, exist_ok=True)
    meta = work / "meta.json"
    if not meta.is_file():
        from nasrepro.measure.environment import fingerprint

        atomic_write_json(meta, {"key": work_key(spec), "fingerprint": fingerprint(spec.device),
                                 "started_at": _now()})
    by_chunk: dict[int, list[int]] = {}
    for i in wanted:
        by_chunk.setdefault(i // spec.chunk, []).append(i)
    with file_lock(work / ".lock", what="nb201 latency"):
        todo: dict[int, list[int]] = {}
        reused = 0
        for k, idx in by_chunk.items():
            done = set((read_chunk(work, k) or {}).get("indices", []))
            missing = [i for i in idx if i not in done]
            reused += len(idx) - len(missing)
            if missing:
                todo[k] = missing
        total = sum(map(len, todo.values()))
        if progress:
            emit(f"[nb201 latency] {work}: {reused} of {len(wanted)} networks already "
                 f"measured, {total} to go ({spec.device}, batch {spec.batch}, "
                 f"{spec.threads} thread(s))")
        ticker = Ticker("nb201 latency", total, "networks")
        started, measured, chunks = time.perf_counter(), 0, 0
        g = torch.Generator().manual_seed(0)
        x = torch.randn(spec.batch, 3, 32, 32, generator=g).to(spec.device)
        for k, missing in sorted(todo.items()):
            if max_chunks is not None and chunks >= max_chunks:
                break
            t0 = time.perf_counter()
            res = [time_network(ops[i].tolist(), spec, x) for i in _ticking(
                missing, ticker, measured if progress else None)]
            measured += len(missing)
            old = read_chunk(work, k) or {"indices": [], "seconds": 0.0,
                                          **{f: [] for f in FIELDS}}
            merged = sorted(zip(old["indices"] + missing,
                                *(old[f] + [r[j] for r in res] for j, f in enumerate(FIELDS)),
                                strict=True))
            atomic_write_json(chunk_path(work, k), {
                "chunk": k, "indices": [m[0] for m in merged],
                **{f: [m[j + 1] for m in merged] for j, f in enumerate(FIELDS)},
                "seconds": old["seconds"] + time.perf_counter() - t0,
                "load_avg_1m": _load(), "finished_at": _now()})
            chunks += 1
    seconds = time.perf_counter() - started
    if progress:
        rate = f"{seconds / measured:.3f} s per network" if measured else "nothing timed"
        emit(f"[nb201 latency] timed {measured} networks in {fmt_seconds(seconds)} ({rate}); "
             f"{total - measured} left")
    return {"work": work, "measured": measured, "reused": reused,
            "remaining": total - measured, "seconds": seconds}


def _ticking(items: list[int], ticker: Ticker, offset: int | None) -> Iterator[int]:
    for n, i in enumerate(items):
        yield i
        if offset is not None:
            ticker.update(offset + n + 1)


def _load() -> float | None:
    """The 1-minute load average (None where the OS has none): other work on the machine
    inflates and scatters latencies, so every chunk records it."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def column(work: Path) -> dict[str, np.ndarray]:
    """All chunks of a work folder: {'median_ms', 'iqr_ms', 'min_ms': [15625] float64 (NaN
    where not measured), 'seconds': total measuring time of the chunks, 'load_avg_1m': the
    median of the chunks' load averages (NaN where none was recorded)}."""
    out = {f: np.full(N_ARCHS, np.nan) for f in FIELDS}
    seconds = 0.0
    loads = []
    for path in sorted(Path(work).glob("chunk_*.json")):
        rec = read_chunk(work, int(path.stem.split("_")[1]))
        assert rec is not None
        idx = np.asarray(rec["indices"], dtype=np.int64)
        for f in FIELDS:
            out[f][idx] = rec[f]
        seconds += float(rec["seconds"])
        if rec.get("load_avg_1m") is not None:
            loads.append(float(rec["load_avg_1m"]))
    return {**out, "seconds": np.float64(seconds),
            "load_avg_1m": np.float64(np.median(loads) if loads else np.nan)}
