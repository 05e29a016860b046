"""Where things live: the repository, reference results, reports and the data root."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "NASREPRO_DATA"
REPORTS_ENV = "NASREPRO_REPORTS"

ROOT_ENV = "NASREPRO_ROOT"

PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path:
    """The nasrepro checkout: $NASREPRO_ROOT, else the nearest folder (from the working
    directory up, then beside the package) that holds reference_results/papers."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for base in (cwd, *cwd.parents, PACKAGE_DIR.parent):
        if (base / "reference_results" / "papers").is_dir():
            return base
    from nasrepro.errors import ConfigError

    raise ConfigError("cannot find the nasrepro checkout (a folder with reference_results/"
                      f"papers): run from inside the repository or set {ROOT_ENV}")


def data_root() -> Path:
    """The data root: $NASREPRO_DATA, else a per-user cache directory."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "nasrepro" / "data"


def data_root_note() -> str:
    """Which data root is in use and why, for 'data missing' errors: a new user's most
    likely mistake is an unset $NASREPRO_DATA (the default root is then empty)."""
    if os.environ.get(DATA_ENV):
        return f"data root {data_root()} (from ${DATA_ENV})"
    return (f"data root {data_root()}: the default, ${DATA_ENV} is not set; set it to the "
            "folder that holds mnist/ and cifar10/")


def reference_dir() -> Path:
    """reference_results/: the papers' numbers and our accepted baselines (committed)."""
    return repo_root() / "reference_results"


def reports_dir() -> Path:
    """reports/: generated records, figures and REPORT.md ($NASREPRO_REPORTS overrides)."""
    env = os.environ.get(REPORTS_ENV)
    return Path(env).expanduser().resolve() if env else repo_root() / "reports"


def results_dir(tier: str, reports: Path | None = None) -> Path:
    """Where result records of one tier are written (in `reports`, else this run's reports
    folder)."""
    return (Path(reports) if reports is not None else reports_dir()) / "results" / tier


def figures_dir() -> Path:
    """Where generated figures are written (referenced from REPORT.md by relative path)."""
    return reports_dir() / "figures"


def cache_dir() -> Path:
    """Experiment results cached by config hash (so claims sharing a run compute it once)."""
    return reports_dir() / "cache"
