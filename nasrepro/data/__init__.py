"""Datasets from their official formats into uint8 tensors, with checksums.

Each dataset module exposes `verify(root=None) -> dict[str, str]` (file -> sha256, raising
DataError naming the file, the expected checksum and how to get it) for `nasrepro data verify`.
"""

from collections.abc import Iterable
from pathlib import Path

DATASETS = ("cifar10", "cifar10-npy", "mnist")


def missing(name: str, root: Path | None = None) -> str | None:
    """Why dataset `name` cannot be read from the data root (a one-line message saying how
    to get it), or None when its files are there. Presence only: reading still verifies
    checksums. 'cifar10' is either layout, 'cifar10-npy' the .npy arrays alone."""
    from nasrepro.data import cifar, mnist
    from nasrepro.errors import DataError
    from nasrepro.paths import data_root

    root = Path(root) if root is not None else data_root()
    if name == "cifar10":
        try:
            cifar.layout(root)
        except DataError as exc:
            return str(exc)
        return None
    if name == "cifar10-npy":
        return _absent(name, root / cifar.NPY_DIR, cifar.NPY_SHA256, cifar.how_to_get())
    if name == "mnist":
        return _absent(name, mnist.mnist_dir(root), mnist.FILES, mnist.how_to_get())
    raise ValueError(f"unknown dataset {name!r}; one of {', '.join(DATASETS)}")


def _absent(name: str, folder: Path, files: Iterable[str], how: str) -> str | None:
    gone = [f for f in files if not (folder / f).is_file()]
    if not gone:
        return None
    return f"{name}: {', '.join(gone)} not under {folder}. {how[:1].upper()}{how[1:]}"
