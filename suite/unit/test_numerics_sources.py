"""The OPSUB stage keys hash the code that decides a stage's numbers (NUMERICS_SOURCES): every
nasrepro module those sources import, directly or not, is either hashed too or named here as
deciding no number. (Found missing: train/schedules.py, the learning-rate schedule, and
train/perf.py, the autocast choice; an edit there would have served stale stages.)"""

import ast
from pathlib import Path

from nasrepro.experiments.opsub import NUMERICS_SOURCES
from nasrepro.paths import PACKAGE_DIR

# Modules reached from the numerics sources that decide no number, and why.
NOT_NUMERICS = {
    "errors.py": "exception types",
    "files.py": "atomic writes, locks",
    "paths.py": "folder locations",
    "progress.py": "log lines",
    "measure/timers.py": "wall-clock timing (recorded, never trained on)",
    "train/checkpoint.py": "stores and restores state; resume bit-identity is tested in "
                           "test_checkpoint.py",
}


def _imports(rel: str) -> set[str]:
    """nasrepro modules (paths relative to the package) that file `rel` imports anywhere."""
    out = set()
    for node in ast.walk(ast.parse((PACKAGE_DIR / rel).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nasrepro"):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "nasrepro" or len(parts) < 2:
                continue
            path = Path(*parts[1:])
            if (PACKAGE_DIR / path).with_suffix(".py").is_file():
                out.add(path.with_suffix(".py").as_posix())
    return out


def test_every_module_the_numerics_sources_use_is_hashed_or_exempt():
    seen, todo = set(), list(NUMERICS_SOURCES)
    while todo:
        rel = todo.pop()
        if rel not in seen:
            seen.add(rel)
            todo += sorted(_imports(rel))
    unhashed = seen - set(NUMERICS_SOURCES) - set(NOT_NUMERICS)
    assert not unhashed, (f"{sorted(unhashed)} decide OPSUB numbers but are not in "
                          "opsub.NUMERICS_SOURCES: add them (or to NOT_NUMERICS with a reason)")
    assert set(NOT_NUMERICS) <= seen, "an exemption no longer reached: remove it"
    assert "train/perf.py" in seen and "train/schedules.py" in seen
