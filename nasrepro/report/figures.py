"""Saving figures for the report: headless matplotlib, atomic PNG writes."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from nasrepro.files import atomic_write_with
from nasrepro.paths import figures_dir


def new_figure(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """plt.subplots with the suite's defaults (headless Agg backend)."""
    kwargs.setdefault("constrained_layout", True)
    return plt.subplots(*args, **kwargs)


def save_figure(fig: Any, name: str, dpi: int = 120) -> str:
    """Write `fig` as reports/figures/<name>.png atomically; return the path relative to
    reports/ (what records store and REPORT.md links)."""
    path = figures_dir() / f"{name}.png"
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    plt.close(fig)
    return f"figures/{name}.png"
