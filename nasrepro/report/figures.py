"""Saving figures for the report: headless matplotlib, atomic PNG writes."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from nasrepro.claims.session import TIERS
from nasrepro.errors import ConfigError
from nasrepro.files import atomic_write_with
from nasrepro.paths import figures_dir


def new_figure(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """plt.subplots with the suite's defaults (headless Agg backend)."""
    kwargs.setdefault("constrained_layout", True)
    return plt.subplots(*args, **kwargs)


def figure_name(name: str, tier: str) -> str:
    """The file stem of a figure of one tier: '<name>_<tier>', so a smoke run never
    overwrites the figure of a full run (or the reverse)."""
    if tier not in TIERS:
        raise ConfigError(f"figure {name!r}: unknown tier {tier!r}; use one of {TIERS}")
    return f"{name}_{tier}"


def save_figure(fig: Any, name: str, tier: str, dpi: int = 120) -> str:
    """Write `fig` as reports/figures/<name>_<tier>.png atomically; return the path relative
    to reports/ (what records store and REPORT.md links)."""
    path = figures_dir() / f"{figure_name(name, tier)}.png"
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    plt.close(fig)
    return f"figures/{path.name}"
