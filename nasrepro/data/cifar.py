"""CIFAR-10 from the data root, in either layout, checksum-verified, as uint8 tensors.

Layouts under the data root (`nasrepro.paths.data_root()`, env NASREPRO_DATA):
- npy:    <root>/cifar10/{train,test}_{images,labels}.npy (uint8, images N x 32 x 32 x 3 HWC
          RGB, official split and order; data/SOURCES.md), verified by sha256.
- python: <root>/cifar-10-batches-py/{data_batch_1..5,test_batch} (the official pickles
          that online users download), verified by the official md5 (torchvision's).
          `download()` fetches and md5-checks the official tarball.
The npy layout wins when both are present. Missing or corrupt files raise DataError naming
the file, the expected checksum and how to get it; nothing is ever substituted.

Hashing the 154 MB train array takes ~0.3 s (page cache warm) to ~0.9 s (cold) on the
development machine, so loaders remember a verified file by (path, size, mtime, ctime,
inode) in a small JSON in the user cache; `verify()` (the `nasrepro data verify` command)
always re-hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nasrepro.errors import DataError
from nasrepro.files import atomic_write_json, file_digest, sha256_file, stat_key
from nasrepro.paths import data_root, data_root_note

NPY_DIR = "cifar10"
PY_DIR = "cifar-10-batches-py"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")
# Channel statistics of the training set (pixels / 255), data/SOURCES.md.
MEAN = (0.49139968, 0.48215841, 0.44653091)
STD = (0.24703223, 0.24348513, 0.26158784)

NPY_SHA256 = {
    "train_images.npy": "4a5241847d2fdc2d50a9ad6e386b47f26d121db6cb2e43b24e72190724314e48",
    "train_labels.npy": "fad921ba16b0efeebb54393d1351545d1fe1a357f6f81324c821e3e11b956c70",
    "test_images.npy": "b57763d00c64ed188c839aa488139ed34ece7a6ef2fcb6a770238c57a756a452",
    "test_labels.npy": "19004b019bd095265b4ce6637c9ff979c66abcbc8e658a665f791b487cdea5eb",
}
# Official md5 of the python-version files (the values torchvision's CIFAR10 checks).
PY_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TAR_MD5 = "c58f30108f718f92721af3b95e74349a"

def how_to_get() -> str:
    """What to do about missing CIFAR-10, naming the data root in use."""
    return (f"Get it with `nasrepro data download cifar` (the official tarball, md5-checked), "
            f"or place the .npy arrays named in nasrepro/data/cifar.py (NPY_SHA256) in "
            f"{NPY_DIR}/ under the data root; {data_root_note()}.")


@dataclass(frozen=True)
class Split:
    """One split as tensors: images uint8 (N, 3, 32, 32) NCHW RGB, labels int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: str | torch.device) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


def layout(root: Path | None = None) -> str:
    """'npy' or 'python' (which layout the data root holds); DataError if neither."""
    root = Path(root) if root is not None else data_root()
    if (root / NPY_DIR / "train_images.npy").exists():
        return "npy"
    if (root / PY_DIR).is_dir():
        return "python"
    raise DataError(f"CIFAR-10 not found: neither {NPY_DIR}/train_images.npy nor {PY_DIR}/ "
                    f"under {root}. {how_to_get()}")


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nasrepro" / "verified_checksums.json"


def _cache_key(path: Path) -> str:
    return stat_key(path)


def _load_cache() -> dict[str, str]:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _check_file(path: Path, kind: str, expected: str, trust_cache: bool) -> str:
    """Verify one file against its expected checksum (kind 'sha256' or 'md5'); return its
    sha256. With trust_cache, a file verified before with the same size, mtime, ctime and
    inode is not re-hashed."""
    if not path.is_file():
        raise DataError(f"{path}: missing (expected {kind} {expected}). {how_to_get()}")
    key = _cache_key(path)
    cache = _load_cache() if trust_cache else {}
    if key in cache and cache[key].startswith(f"{kind}:{expected}|"):
        return cache[key].split("|", 1)[1]
    if trust_cache:  # once per process per file version
        sha = file_digest(path)
        got = sha if kind == "sha256" else file_digest(path, "md5")
    else:  # `nasrepro data verify`: always re-read the bytes
        sha = sha256_file(path)
        got = sha if kind == "sha256" else _md5(path)
    if got != expected:
        raise DataError(f"{path}: corrupt ({kind} {got}, expected {expected}); delete it and "
                        f"restore the file. {how_to_get()}")
    cache = _load_cache()
    cache[key] = f"{kind}:{expected}|{sha}"
    try:
        atomic_write_json(_cache_file(), cache)
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return sha


def verify(root: Path | None = None, trust_cache: bool = False) -> dict[str, str]:
    """Check every CIFAR-10 file of the data root; return {file name: sha256}.

    npy layout: sha256 against data/SOURCES.md; python layout: official md5. Raises
    DataError naming the file, the expected checksum and how to get it.
    """
    root = Path(root) if root is not None else data_root()
    if layout(root) == "npy":
        return {f"{NPY_DIR}/{name}": _check_file(root / NPY_DIR / name, "sha256", sha,
                                                 trust_cache)
                for name, sha in NPY_SHA256.items()}
    return {f"{PY_DIR}/{name}": _check_file(root / PY_DIR / name, "md5", md5, trust_cache)
            for name, md5 in PY_MD5.items()}


def fingerprint(root: Path | None = None) -> dict[str, str]:
    """{'<layout folder>/<file>': sha256} of the verified CIFAR-10 files of the data root,
    for the stage keys of runs that read them (DataError naming a missing/corrupt file)."""
    return verify(root, trust_cache=True)


def read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One official pickle -> (uint8 N x 32 x 32 x 3 HWC, uint8 N) like the npy layout."""
    with open(path, "rb") as fh:
        d = pickle.load(fh, encoding="bytes")
    data = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(data), np.asarray(d[b"labels"], dtype=np.uint8)


def balanced_indices(labels: np.ndarray, per_class: int) -> np.ndarray:
    """The first `per_class` indices of each class in official order (a fixed subset)."""
    idx = [np.flatnonzero(labels == c)[:per_class] for c in range(len(CLASSES))]
    if any(len(i) < per_class for i in idx):
        raise DataError(f"a class has fewer than {per_class} images in this split")
    return np.sort(np.concatenate(idx))


def load(split: str = "train", root: Path | None = None, per_class: int | None = None,
         verify_files: bool = True) -> Split:
    """Load a split ('train' or 'test') as a Split of CPU tensors.

    per_class: a fixed, class-balanced subset (first images of each class in official
    order), read through a memory map so the 154 MB train array is never loaded whole.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root) if root is not None else data_root()
    if verify_files:
        verify(root, trust_cache=True)
    if layout(root) == "npy":
        labels = np.load(root / NPY_DIR / f"{split}_labels.npy")
        images = np.load(root / NPY_DIR / f"{split}_images.npy", mmap_mode="r")
    else:
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        parts = [read_python_batch(root / PY_DIR / n) for n in names]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
    if per_class is not None:
        idx = balanced_indices(labels, per_class)
        images, labels = images[idx], labels[idx]
    # a whole split of the npy layout is still the read-only memory map: copy it (writable)
    # rather than hand torch a read-only array, which warns once per process (full tier)
    images = np.require(images, requirements=["C_CONTIGUOUS", "WRITEABLE"])
    imgs = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    return Split(imgs, torch.from_numpy(labels.astype(np.int64)))


def download(root: Path | None = None) -> dict[str, str]:
    """Fetch the official python-version tarball, check its md5, unpack it under the root;
    return verify()'s {file: sha256}. Nothing is fetched when either layout already
    verifies (the same contract as nasrepro.data.mnist.download, used by `nasrepro data`)."""
    root = Path(root) if root is not None else data_root()
    try:
        return verify(root)
    except DataError:
        pass
    root.mkdir(parents=True, exist_ok=True)
    tar = root / "cifar-10-python.tar.gz"
    if not tar.is_file() or _md5(tar) != TAR_MD5:
        tmp = tar.with_suffix(".part")
        urllib.request.urlretrieve(URL, tmp)
        got = _md5(tmp)
        if got != TAR_MD5:
            tmp.unlink(missing_ok=True)
            raise DataError(f"{URL}: downloaded file has md5 {got}, expected {TAR_MD5}")
        os.replace(tmp, tar)
    with tarfile.open(tar, "r:gz") as tf:
        try:
            tf.extractall(root, filter="data")  # refuses links/paths outside root
        except TypeError:  # Python without extraction filters (< 3.10.12 / 3.11.4)
            tf.extractall(root)  # md5-verified official tarball
    return verify(root)
