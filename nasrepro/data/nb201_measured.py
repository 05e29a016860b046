"""Latency columns measured on a user's machine (`nasrepro nb201 measure-latency`), as tables.

A measured column lives in its own table file `nb201_lat_<name>.npz` (the standard table
format of nasrepro/data/nb201.py: index and ops of the measured rows, `lat__<name>` float32
ms, and acc_cifar100 all NaN: the file carries no accuracies (they are the shipped table's;
copying them would add 76 KB to a full column's 111 KB); provenance sidecar with the
machine, the versions, the date and the timing settings). Use it through add_measured,
which puts the column into the shipped table. It is not written into the shipped table: that
file is rebuilt byte-identically from the shared data (`build-table`), and a machine's own
numbers are not part of the benchmark. Files are found in two folders: the package's
tables folder (a column committed with the package, within MEASURED_BUDGET_BYTES) and
$NASREPRO_DATA/nb201/measured/ (the default output). The REWARD searches read such a
column by its name like any HELP device (reward_search.table_for).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasrepro.data import nb201
from nasrepro.errors import DataError

PREFIX = "nb201_lat_"
# Budget of a measured-column file committed beside the shipped table: 10 % of the shipped
# table's 1.63 MB, i.e. about three HELP float32 columns (one compresses to ~55 KB). Our
# choice: the package should not grow by more than that for one machine's numbers.
MEASURED_BUDGET_BYTES = 163_000


def measured_dir() -> Path:
    """Default folder of measured tables: $NASREPRO_DATA/nb201/measured."""
    from nasrepro.paths import data_root

    return data_root() / "nb201" / "measured"


def measured_table_path(name: str, folder: Path | None = None) -> Path:
    """The file of column `name`: <folder>/nb201_lat_<name>.npz (default: measured_dir())."""
    return Path(folder if folder is not None else measured_dir()) / f"{PREFIX}{name}.npz"


def measured_tables() -> dict[str, Path]:
    """{column name: table file} of every measured table found (package folder first, so a
    user's own file of the same name overrides the committed one)."""
    out: dict[str, Path] = {}
    for folder in (nb201.TABLES_DIR, measured_dir()):
        for path in sorted(Path(folder).glob(f"{PREFIX}*.npz")):
            out[path.stem[len(PREFIX):]] = path
    return out


def committed_tables() -> dict[str, Path]:
    """The measured tables committed with the package (nasrepro/data/tables/) that no user
    file of the same name overrides: the same for every user of a checkout."""
    return {n: p for n, p in measured_tables().items() if p.parent == nb201.TABLES_DIR}


def write_measured_table(name: str, median_ms: np.ndarray, provenance: dict[str, Any],
                         out: Path | None = None) -> tuple[Path, str]:
    """Write the measured rows (finite entries of median_ms [15625], by NB201 index) as a
    table with column `lat__<name>`; returns (path, sha256)."""
    if not name.replace("_", "").isalnum():
        raise DataError(f"latency column name {name!r}: use letters, digits and '_'")
    median_ms = np.asarray(median_ms, dtype=np.float64)
    rows = np.flatnonzero(np.isfinite(median_ms))
    if not len(rows):
        raise DataError(f"no measured latency for {name!r} yet: run `nasrepro nb201 "
                        "measure-latency` first")
    base = nb201.load_table()
    arrays = {"index": base.index.numpy()[rows].astype(np.int32),
              "ops": base.ops.numpy()[rows].astype(np.uint8),
              "acc_cifar100": np.full(len(rows), np.nan),
              nb201.LAT_PREFIX + name: median_ms[rows].astype(np.float32)}
    path = Path(out) if out is not None else measured_table_path(name)
    digest = nb201.write_table(path, arrays, {
        "format": "nasrepro NB201 table v1 (npz, see nasrepro/data/nb201.py); measured column",
        "rows": len(rows), "row_order": "ascending NB201 index (column `index`)",
        "units": {nb201.LAT_PREFIX + name: "milliseconds per forward pass (median of the "
                                           "timed repeats), float32",
                  "acc_cifar100": "NaN: not carried; accuracies are the shipped "
                                  "table's (nb201_measured.add_measured merges the column)"},
        "shipped_table_sha256": nb201.fingerprint()[f"nb201/{nb201.SHIPPED_TABLE.name}"],
        **provenance})
    return path, digest


def load_measured(name: str) -> nb201.NB201Table:
    """The measured table holding column `name` (checksum verified); DataError naming the
    available columns and the command that makes one when there is none."""
    found = measured_tables()
    if name not in found:
        raise DataError(f"no measured latency column {name!r} (found: "
                        f"{', '.join(found) or 'none'}); make it with `nasrepro nb201 "
                        "measure-latency`")
    return nb201.load_table(found[name])


def add_measured(table: nb201.NB201Table, name: str) -> None:
    """Add measured column `name` to a full table's latency sources (in place); a column
    that does not cover all 15625 cells cannot serve a search (DataError with the count)."""
    measured = load_measured(name)
    if len(measured) != len(table):
        raise DataError(f"{measured.path}: column {name!r} covers {len(measured)} of "
                        f"{len(table)} cells; finish the measurement (rerun `nasrepro nb201 "
                        "measure-latency`, it resumes) before searching with it")
    if not torch.equal(measured.index.to(table.index.device), table.index):
        raise DataError(f"{measured.path}: rows are not NB201 indices 0..{len(table) - 1}")
    table.latency[name] = measured.latency_ms(name).to(table.acc.device)


def add_all_measured(table: nb201.NB201Table) -> list[str]:
    """Add every measured column that covers all cells to `table` (in place; e.g. for a map
    over all latency sources, which then has a row per measured machine); returns their
    names. Partial columns (a measurement still in progress) are left out."""
    added = []
    for name, path in measured_tables().items():
        if name in table.latency:
            continue
        if len(nb201.load_table(path)) == len(table):
            add_measured(table, name)
            added.append(name)
    return added
