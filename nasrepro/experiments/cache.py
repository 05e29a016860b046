"""On-disk cache of experiment results keyed by a hash of (name, config, code).

Claims that share an experiment (e.g. REWARD-4 and REWARD-5) run it once; `nasrepro
report` never recomputes. The key includes a fingerprint of the nasrepro sources, so a
change to the code reruns the experiment instead of serving a stale result.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from nasrepro.files import atomic_write_bytes
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


def cached(name: str, config: Mapping[str, Any], compute: Callable[[], T]) -> T:
    """Return the cached result of `compute` for (name, config, code), computing it once.

    Results are pickled (our own files, written atomically); a corrupt cache file is
    discarded and recomputed.
    """
    key = config_hash({"name": name, "config": dict(config), "code": code_fingerprint()})
    path = cache_dir() / name / f"{key}.pkl"
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # any unreadable cache file is recomputed, never trusted
            path.unlink(missing_ok=True)
    result = compute()
    atomic_write_bytes(path, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    return result
