"""MNIST from the official IDX gz files into uint8 tensors, checksum-verified.

Files live in `<data root>/mnist/` (data root: $NASREPRO_DATA, see nasrepro.paths). Every
file is checked against the sha256 and md5 recorded in shared/data/SOURCES.md before it is
parsed, so a flipped byte is an error naming the file, not a silently different result.
Online users can fetch missing files with `download()` / `load_mnist(download=True)`: the
official mirrors are tried in order and a download is kept only when its checksum matches.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import struct
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nasrepro.errors import DataError
from nasrepro.files import atomic_write_bytes, file_digest
from nasrepro.paths import data_root, data_root_note


@dataclass(frozen=True)
class FileSpec:
    """Expected size and checksums of one official MNIST file."""

    size: int
    md5: str
    sha256: str


FILES: dict[str, FileSpec] = {
    "train-images-idx3-ubyte.gz": FileSpec(
        9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte.gz": FileSpec(
        28881, "d53e105ee54ea40749a09fcbcd1e9432",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": FileSpec(
        1648877, "9fb629c4189551a2d022fa330f9573f3",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": FileSpec(
        4542, "ec29112dd5afa0611ce80d1b7f02629c",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}

# Official mirrors, tried in order (yann.lecun.com often refuses automated downloads; the
# first two are the mirrors torchvision uses). Every byte is checked before it is kept.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

SUBDIR = "mnist"


def mnist_dir(root: str | Path | None = None) -> Path:
    """The folder that holds the four .gz files."""
    return (Path(root) if root is not None else data_root()) / SUBDIR


def how_to_get() -> str:
    """What to do about a missing MNIST file, naming the data root in use."""
    return (f"get it with `nasrepro data download mnist` (official mirrors, checksummed) or "
            f"place the official file there; {data_root_note()}")


def verify_file(name: str, root: str | Path | None = None) -> Path:
    """Check one file's size, sha256 and md5; return its path or raise DataError.
    Digests are computed once per process per file version (files.file_digest)."""
    spec = FILES[name]
    folder = mnist_dir(root)
    path = folder / name
    if not path.is_file():
        raise DataError(f"MNIST file missing: {path} (sha256 {spec.sha256}); "
                        + how_to_get())
    size = path.stat().st_size
    sha, md5 = file_digest(path, "sha256"), file_digest(path, "md5")
    if size != spec.size or sha != spec.sha256 or md5 != spec.md5:
        raise DataError(
            f"MNIST file corrupt: {path} has {size} bytes, sha256 {sha}; expected "
            f"{spec.size} bytes, sha256 {spec.sha256} (md5 {spec.md5}). Delete it and "
            + how_to_get())
    return path


def verify(root: str | Path | None = None) -> dict[str, str]:
    """Verify all four files; {file name: sha256} or DataError for the first bad one."""
    return {name: (verify_file(name, root), FILES[name].sha256)[1] for name in FILES}


def fingerprint(root: str | Path | None = None) -> dict[str, str]:
    """{'mnist/<file>': sha256} of the four verified files, for the cache keys of runs
    that read them (DataError naming the file when one is missing or corrupt)."""
    return {f"{SUBDIR}/{name}": sha for name, sha in verify(root).items()}


def download(root: str | Path | None = None, mirrors: tuple[str, ...] = MIRRORS,
             timeout: float = 60.0) -> dict[str, str]:
    """Fetch missing or corrupt files from the official mirrors (checksum-verified, atomic
    writes); return verify()'s result. Raises DataError when no mirror gives good bytes."""
    folder = mnist_dir(root)
    for name, spec in FILES.items():
        try:
            verify_file(name, root)
            continue
        except DataError:
            pass
        errors = []
        for base in mirrors:
            url = base + name
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    blob = resp.read()
            except OSError as exc:
                errors.append(f"{url}: {exc}")
                continue
            sha = hashlib.sha256(blob).hexdigest()
            if sha != spec.sha256:
                errors.append(f"{url}: sha256 {sha} != expected {spec.sha256}")
                continue
            atomic_write_bytes(folder / name, blob)
            print(f"downloaded {url} -> {folder / name}", flush=True)
            break
        else:
            raise DataError(f"could not download {name} (expected sha256 {spec.sha256}): "
                            + "; ".join(errors))
    return verify(root)


def parse_idx(raw: bytes, name: str = "<idx>") -> np.ndarray:
    """Parse an uncompressed IDX file (big-endian header: 0, 0, type 0x08 = ubyte, ndim,
    then ndim uint32 sizes) into a uint8 array."""
    if len(raw) < 4:
        raise DataError(f"{name}: not an IDX file (only {len(raw)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise DataError(f"{name}: IDX magic {raw[:4].hex()} is not unsigned-byte IDX")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise DataError(f"{name}: IDX header says {dims} = {int(np.prod(dims))} bytes, "
                        f"file has {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


@dataclass(frozen=True)
class MNIST:
    """The four MNIST arrays as uint8 tensors (images N x 28 x 28, labels N), official order."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor

    def to(self, device: str | torch.device) -> MNIST:
        """All four tensors moved to `device` (the training loop indexes them there)."""
        return MNIST(*(t.to(device) for t in (self.train_images, self.train_labels,
                                              self.test_images, self.test_labels)))


@functools.lru_cache(maxsize=4)
def _load_cpu(folder: str) -> MNIST:
    arrays = []
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        path = verify_file(name, Path(folder).parent)
        arrays.append(torch.from_numpy(parse_idx(gzip.decompress(path.read_bytes()), name).copy()))
    data = MNIST(*arrays)
    if data.train_images.shape != (60000, 28, 28) or data.test_images.shape != (10000, 28, 28):
        raise DataError(f"MNIST in {folder}: unexpected shapes {data.train_images.shape}, "
                        f"{data.test_images.shape}")
    return data


def load_mnist(root: str | Path | None = None, device: str | torch.device = "cpu",
               download_missing: bool = False) -> MNIST:
    """Verified MNIST as uint8 tensors on `device` (parsed once per process and root)."""
    if download_missing:
        download(root)
    return _load_cpu(str(mnist_dir(root).resolve())).to(device)
