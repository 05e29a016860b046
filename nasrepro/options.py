"""Validation of the suite-wide run options, shared by `pytest` (conftest.py) and `nasrepro
run`: a bad option is one ConfigError line before anything runs or is written."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

from nasrepro.errors import ConfigError

SKIP_MISSING_DEVICE = "--skip-missing-device"


def check_seeds(seeds: int | None) -> None:
    """--seeds must be a positive count (None: each claim's tier default)."""
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds {seeds}: need at least 1 seed (or leave --seeds out for "
                          "each claim's tier default)")


def claim_matches(claim_id: str, wanted: str) -> bool:
    """Whether a --claim value selects a claim: the exact ID, or a paper prefix
    (REWARD or REWARD- selects REWARD-4; REWARD-1 does not select REWARD-10)."""
    w = wanted.upper()
    return claim_id == w or claim_id.startswith(w.rstrip("-") + "-")


def check_claims(wanted: Sequence[str], known: Sequence[str] | None = None) -> None:
    """Every --claim value must select at least one known claim ID; otherwise name it and
    the closest IDs or papers (difflib)."""
    if not wanted:
        return
    if known is None:
        from nasrepro.claims.references import all_claims

        known = list(all_claims())
    papers = sorted({cid.rsplit("-", 1)[0] for cid in known})
    for w in wanted:
        if any(claim_matches(cid, w) for cid in known):
            continue
        close = difflib.get_close_matches(w.upper(), [*papers, *known], n=5, cutoff=0.5)
        hint = (f"did you mean {', '.join(close)}?" if close
                else f"papers: {', '.join(papers)}")
        raise ConfigError(f"--claim {w} matches no claim; {hint} (`nasrepro list` shows "
                          "every claim ID)")


def cuda_available() -> bool:
    """torch.cuda.is_available(), imported late (torch is slow to import)."""
    import torch

    return torch.cuda.is_available()


def check_device(requested: str, skip_missing: bool = False) -> None:
    """--device cuda needs a visible CUDA device unless the user asked to skip the claims
    (--skip-missing-device: each claim test is skipped with the reason)."""
    if requested == "cuda" and not skip_missing and not cuda_available():
        raise ConfigError("--device cuda: no CUDA device is visible (torch.cuda.is_available() "
                          "is False); use --device cpu or auto, or add "
                          f"{SKIP_MISSING_DEVICE} to skip the claims with the reason")


def check_reports_dir() -> None:
    """The reports folder ($NASREPRO_REPORTS, else reports/) must be a folder this user can
    write, or one that can be made there: otherwise every claim ran to the end and then lost
    its record to a traceback."""
    from nasrepro.paths import REPORTS_ENV, reports_dir

    root = reports_dir()
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    why = ("is not a folder" if not probe.is_dir()
           else "is not writable" if not os.access(probe, os.W_OK | os.X_OK) else "")
    if why:
        where = f"{probe} {why}" if probe == root else f"{probe} (on its path) {why}"
        raise ConfigError(f"reports folder {root}: {where}; set ${REPORTS_ENV} to a folder you "
                          "can write")


def check_run_options(seeds: int | None, claims: Sequence[str], device: str,
                      skip_missing_device: bool = False) -> None:
    """All checks of the suite-wide options, cheapest first."""
    check_seeds(seeds)
    check_claims(claims)
    check_reports_dir()
    check_device(device, skip_missing_device)


def whole_default_run(claims: Sequence[str], keyword: str, args: Sequence[str], here: Path,
                      root: Path, testpaths: Sequence[str]) -> bool:
    """Whether a pytest session runs the whole default suite, the subject of the per-folder
    time budgets: no --claim or -k selection, and every path given (relative to `here`) is a
    testpath or the repository root. A selection is timed but not judged against them."""
    if claims or keyword:
        return False
    wanted = {(root / p).resolve() for p in testpaths} | {root.resolve()}
    given = {(here / a.split("::")[0]).resolve() for a in args}
    return bool(given) and given <= wanted
