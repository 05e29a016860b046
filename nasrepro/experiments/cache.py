"""On-disk cache of experiment results keyed by a hash of (name, config, code, data).

Claims that share an experiment (e.g. REWARD-4 and REWARD-5) run it once; `nasrepro
report` never recomputes. The key includes a fingerprint of the nasrepro sources, so a
change to the code reruns the experiment instead of serving a stale result, and the sha256
of every data file the experiment reads (`data`, from the data modules' `fingerprint()`
functions, which also verify the files), so a changed table recomputes and a corrupt one
stops with the data error whatever the cache holds.

A cache file that cannot be read is moved aside (`*.corrupt-<timestamp>`, with a warning)
and recomputed; a lock file per key makes concurrent runs on one reports folder compute a
result once (the second waits, then reads it).

`stored_only(fn, *args)` calls fn where every cached result it asks for is already stored,
and gives up at the first one that would be computed: nasrepro.parallel uses it to serve
finished units in the driver instead of spawning worker processes to read a cache file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from nasrepro.files import (
    atomic_write_bytes,
    brief,
    file_lock,
    is_unreadable_content,
    move_aside,
)
from nasrepro.paths import PACKAGE_DIR, cache_dir

T = TypeVar("T")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over every .py file of the nasrepro package (path and content)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE_DIR)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable short hash of a JSON-serialisable config."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def cache_path(name: str, config: Mapping[str, Any],
               data: Mapping[str, str] | None = None) -> Path:
    """Where `cached` keeps the result of (name, config, code, data checksums, machine
    class): CPU float results differ between code paths (ATEN_CPU_CAPABILITY, AVX2 vs
    AVX-512), so one reports folder never serves one class's result to another."""
    from nasrepro.measure.environment import machine_class

    key = {"name": name, "config": dict(config), "code": code_fingerprint(),
           "machine_class": machine_class("cpu")}
    if data:
        key["data"] = dict(data)
    return cache_dir() / name / f"{config_hash(key)}.pkl"


_MISSING = object()
# inside stored_only: the number of stored results read so far (None: not inside)
_STORED_ONLY: ContextVar[list[int] | None] = ContextVar("nasrepro_stored_only", default=None)
NOT_STORED = object()  # what stored_only returns when fn would have computed something


class _NotStored(BaseException):
    """Raised inside stored_only where cached_file would compute (a BaseException, so a
    caller's `except Exception` cannot turn it into a result)."""


def stored_only(fn: Callable[..., T], *args: Any) -> Any:
    """fn(*args) when it read at least one cached result and every one it reads is stored,
    else NOT_STORED (given up at the first result that would be computed, before computing
    it). fn's work outside `cached_file` does run here, so use it only for functions that
    are thin wrappers around cached results (units marked `cached` in nasrepro.parallel)."""
    hits: list[int] = [0]
    token = _STORED_ONLY.set(hits)
    try:
        out = fn(*args)
    except _NotStored:
        return NOT_STORED
    finally:
        _STORED_ONLY.reset(token)
    return out if hits[0] else NOT_STORED


def _load_pickle(path: Path) -> Any:
    """The pickled object at `path`, or _MISSING when absent or unreadable (moved aside)."""
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)  # our own cache file, written by cached_file
    except FileNotFoundError:
        return _MISSING
    except Exception as exc:
        if not is_unreadable_content(exc):
            raise
        move_aside(path, brief(exc))
        return _MISSING


def cached_file(path: Path, compute: Callable[[], T],
                log: Callable[[str], None] | None = None) -> T:
    """The result pickled at `path`, or compute() pickled there atomically.

    The reusable core of every result cache (the caller chooses the path, whose name must
    hash everything the result depends on, data checksums included): an unreadable file is
    moved aside with a warning and recomputed, and a lock file (`.locks/<name>.lock` beside
    it) makes concurrent processes compute it once (the others wait, then load it).
    """
    path = Path(path)
    peeking = _STORED_ONLY.get()
    if (hit := _load_pickle(path)) is not _MISSING:
        if peeking is not None:
            peeking[0] += 1
        return hit
    if peeking is not None:
        raise _NotStored(str(path))
    with file_lock(path.parent / ".locks" / f"{path.name}.lock",
                   what=f"cache {path.parent.name}/{path.name}", log=log):
        if (hit := _load_pickle(path)) is not _MISSING:  # computed while we waited
            return hit
        result = compute()
        atomic_write_bytes(path, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    return result


def cached(name: str, config: Mapping[str, Any], compute: Callable[[], T],
           data: Mapping[str, str] | None = None) -> T:
    """Return the cached result of `compute` for (name, config, code, data), computing it
    once. `data`: {file: sha256} of every data file `compute` reads (verified by the
    caller, e.g. nasrepro.data.nb201.fingerprint())."""
    return cached_file(cache_path(name, config, data), compute)


def source_fingerprint(root: Path, sources: tuple[str, ...]) -> str:
    """Hash of Python sources as code: their AST without docstrings (comments and layout
    never reach the AST), so only an edit that can change behaviour changes the hash."""
    import ast

    h = hashlib.sha256()
    for rel in sources:
        tree = ast.parse((Path(root) / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        h.update(rel.encode())
        h.update(ast.dump(tree, include_attributes=False).encode())
    return h.hexdigest()[:16]
