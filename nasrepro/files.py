"""Atomic file writes, memoized checksums, moving unreadable files aside, and file locks.

An interrupted run never leaves a half-written file; a file that cannot be read is renamed
to `<name>.corrupt-<timestamp>` (named in a warning) instead of failing every rerun; and
concurrent runs on one reports folder serialise on a lock file per cache key or stage.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _umask_mode() -> int:
    """The mode a plain open() would give a new file (0o666 minus the umask): mkstemp's
    private 0o600 would make records, figures and shipped tables unreadable to others."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes to a temp file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically write UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomically write JSON (sorted keys, indented, NaN refused so files stay valid JSON)."""
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False, default=_json_default)
    atomic_write_text(path, text + "\n")


def atomic_write_with(path: Path, writer: Callable[[Path], None]) -> None:
    """Let `writer` write a temp path (e.g. torch.save, savefig), then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj: Any) -> Any:
    """Serialise numpy/torch scalars and arrays that slip into records."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: Path) -> Any:
    """Read a JSON file, naming the file in the error if it is corrupt."""
    from nasrepro.errors import DataError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); delete or restore the file") from exc


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    return _digest(Path(path), "sha256", chunk)


def _digest(path: Path, algo: str, chunk: int = 1 << 20) -> str:
    h = hashlib.new(algo, usedforsecurity=False)  # md5 only checks official files
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def stat_key(path: Path) -> str:
    """Identity of a file's current bytes without reading them: resolved path, size, mtime,
    ctime and inode (ctime changes on any write, even one that restores the mtime)."""
    st = Path(path).stat()
    return f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"


_DIGESTS: dict[tuple[str, str], str] = {}
_DIGESTS_LOCK = threading.Lock()


def file_digest(path: Path, algo: str = "sha256") -> str:
    """Hex digest of a file, computed once per process per (path, size, mtime, ctime,
    inode): data files enter every cache key, so hashing them must stay cheap."""
    key = (algo, stat_key(path))
    with _DIGESTS_LOCK:
        if key in _DIGESTS:
            return _DIGESTS[key]
    digest = _digest(Path(path), algo)
    with _DIGESTS_LOCK:
        _DIGESTS[key] = digest
    return digest


def move_aside(path: Path, reason: str, then: str = "recomputing") -> Path:
    """Rename an unreadable file to `<name>.corrupt-<UTC timestamp>` and warn, naming both
    paths, the reason and what happens next; return the new path."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another run moved it first
        return target
    from nasrepro.errors import CorruptFileWarning

    warnings.warn(f"{path} could not be read ({reason}); moved aside to {target.name}; "
                  f"{then}", CorruptFileWarning, stacklevel=2)
    return target


def brief(exc: BaseException, limit: int = 160) -> str:
    """'Type: first sentence of the message', at most `limit` characters (for one-line
    warnings; torch's zip errors run to several sentences)."""
    text = (str(exc).strip().splitlines() or [""])[0]
    text = text.split(". ", 1)[0]
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_unreadable_content(exc: BaseException) -> bool:
    """True when loading a file failed because of its bytes (truncated, garbage), not
    because the file is absent or not ours to read (those are reported, not moved aside)."""
    return isinstance(exc, Exception) and not isinstance(
        exc, (FileNotFoundError, PermissionError, IsADirectoryError, MemoryError))


_LOCAL_LOCKS: dict[str, threading.RLock] = {}
_LOCAL_DEPTH: dict[str, int] = {}
_LOCAL_GUARD = threading.Lock()


@contextlib.contextmanager
def file_lock(path: Path, what: str = "", wait_note_s: float = 30.0,
              log: Callable[[str], None] | None = None,
              on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if absent; fcntl.flock where available).

    Another process holding it makes this wait, with a line every `wait_note_s` seconds so a
    waiting run is never silent; threads of one process serialise too, and re-entry from
    the holding thread does not deadlock. Released when the block ends or the process dies.
    `on_wait` runs at every poll while another process holds it; it may raise to give up.
    """
    path = Path(path)
    name = str(path.resolve())
    with _LOCAL_GUARD:
        rlock = _LOCAL_LOCKS.setdefault(name, threading.RLock())
    with rlock:
        depth = _LOCAL_DEPTH.get(name, 0)
        _LOCAL_DEPTH[name] = depth + 1
        try:
            if depth:
                yield
                return
            with _os_lock(path, what or path.name, wait_note_s, log or _stderr, on_wait):
                yield
        finally:
            _LOCAL_DEPTH[name] -= 1


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _os_lock(path: Path, what: str, wait_note_s: float, log: Callable[[str], None],
             on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one run per reports folder
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        started = last = time.monotonic()
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if not waiting or now - last >= wait_note_s:
                    log(f"[{what}] another run is computing it (lock {path}); waiting "
                        f"({now - started:.0f} s so far)")
                    waiting, last = True, now
                if on_wait is not None:
                    on_wait()
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
