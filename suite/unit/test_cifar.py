"""CIFAR-10 loading from the real data root: checksums, layouts, subsets, error messages,
and the batched augmentation."""

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasrepro.data import cifar
from nasrepro.data.augment import augment, cutout, normalize, random_crop, random_flip
from nasrepro.errors import DataError
from nasrepro.paths import data_root

NPY = data_root() / cifar.NPY_DIR


@pytest.mark.data("cifar10-npy")
def test_verify_real_data_returns_sha256_per_file():
    got = cifar.verify(trust_cache=True)
    assert got == {f"cifar10/{k}": v for k, v in cifar.NPY_SHA256.items()}


@pytest.mark.data("cifar10-npy")
def test_subset_is_balanced_and_equals_the_arrays():
    s = cifar.load("train", per_class=7)
    assert s.images.shape == (70, 3, 32, 32) and s.images.dtype == torch.uint8
    assert torch.bincount(s.labels, minlength=10).tolist() == [7] * 10
    labels = np.load(NPY / "train_labels.npy")
    idx = cifar.balanced_indices(labels, 7)
    arr = np.load(NPY / "train_images.npy", mmap_mode="r")
    assert np.array_equal(s.images[5].permute(1, 2, 0).numpy(), arr[idx[5]])
    assert s.labels.tolist() == labels[idx].tolist()



@pytest.mark.data("cifar10-npy")
def test_a_whole_split_loads_without_a_warning_and_equals_the_array():
    """A whole split (the full tier's) came from the read-only memory map and made torch
    warn 'The given NumPy array is not writable' in every stage process. In a fresh
    interpreter: torch warns once per process, so an earlier test could hide it here."""
    code = ("import numpy as np, warnings; warnings.simplefilter('error');"
            "from nasrepro.data import cifar; s = cifar.load('test');"
            f"a = np.load({str(NPY / 'test_images.npy')!r}, mmap_mode='r');"
            "assert s.images.shape == (10000, 3, 32, 32);"
            "assert np.array_equal(s.images.permute(0, 2, 3, 1).numpy(), a)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "error"}, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]

def _fake_root(tmp_path: Path) -> Path:
    """A data root holding the real files: small ones copied (so we may damage them),
    the big image arrays symlinked."""
    root = tmp_path / "data"
    (root / cifar.NPY_DIR).mkdir(parents=True)
    for name in cifar.NPY_SHA256:
        src, dst = NPY / name, root / cifar.NPY_DIR / name
        if "labels" in name:
            shutil.copy(src, dst)
        else:
            dst.symlink_to(src)
    return root


@pytest.mark.data("cifar10-npy")
def test_missing_file_names_file_checksum_and_fix(tmp_path):
    root = _fake_root(tmp_path)
    (root / cifar.NPY_DIR / "test_labels.npy").unlink()
    with pytest.raises(DataError) as e:
        cifar.verify(root)
    msg = str(e.value)
    assert "test_labels.npy: missing" in msg
    assert cifar.NPY_SHA256["test_labels.npy"] in msg and "NASREPRO_DATA" in msg


@pytest.mark.data("cifar10-npy")
def test_corrupt_file_detected_even_with_cache(tmp_path):
    root = _fake_root(tmp_path)
    f = root / cifar.NPY_DIR / "train_labels.npy"
    cifar.verify(root, trust_cache=True)        # remembered as good
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    os.utime(f, ns=(1, 1))                      # a different mtime: the cache must not apply
    with pytest.raises(DataError, match="train_labels.npy: corrupt .*expected "
                       + cifar.NPY_SHA256["train_labels.npy"]):
        cifar.verify(root, trust_cache=True)


def test_no_data_at_all_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"CIFAR-10 not found.*nasrepro data download cifar"):
        cifar.load("test", root=tmp_path)


def test_missing_data_with_the_variable_unset_says_so(tmp_path, monkeypatch):
    """A new user's likeliest mistake: $NASREPRO_DATA unset, the default root empty."""
    monkeypatch.delenv("NASREPRO_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(DataError, match=r"the default, \$NASREPRO_DATA is not set"):
        cifar.load("test")
    monkeypatch.setenv("NASREPRO_DATA", str(tmp_path / "data"))
    with pytest.raises(DataError, match=r"data root .*/data \(from \$NASREPRO_DATA\)"):
        cifar.load("test")


@pytest.mark.data("cifar10-npy")
def test_python_layout_reader_and_md5_check(tmp_path):
    """Write the real test images in the official pickle format; the reader returns the same
    arrays, and verify() rejects them because they are not the official bytes (md5)."""
    folder = tmp_path / cifar.PY_DIR
    folder.mkdir()
    imgs = np.load(NPY / "test_images.npy")
    labels = np.load(NPY / "test_labels.npy")
    blob = {b"data": imgs.transpose(0, 3, 1, 2).reshape(len(imgs), -1),
            b"labels": labels.tolist(), b"batch_label": b"testing batch 1 of 1"}
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump(blob, fh)
    got_imgs, got_labels = cifar.read_python_batch(folder / "test_batch")
    assert np.array_equal(got_imgs, imgs) and np.array_equal(got_labels, labels)
    assert cifar.layout(tmp_path) == "python"
    with pytest.raises(DataError, match=r"data_batch_1: missing .*" + cifar.PY_MD5["data_batch_1"]):
        cifar.verify(tmp_path)


# ---- augmentation -----------------------------------------------------------------------

def _batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), pad=st.integers(0, 6))
def test_crop_is_a_window_of_the_padded_image(seed, pad):
    x = normalize(_batch(4, seed))
    out = random_crop(x, pad, torch.Generator().manual_seed(seed))
    padded = torch.nn.functional.pad(x, (pad,) * 4)
    for b in range(4):
        windows = [padded[b, :, dy:dy + 32, dx:dx + 32] for dy in range(2 * pad + 1)
                   for dx in range(2 * pad + 1)]
        assert any(torch.equal(out[b], w) for w in windows)


def _offsets(out: torch.Tensor, padded: torch.Tensor, pad: int) -> list[tuple[int, int]]:
    """The (dy, dx) of the window of `padded` that each cropped image equals (random images:
    at most one matches; None where none does)."""
    return [next(((dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                  if torch.equal(out[b], padded[b, :, dy:dy + 32, dx:dx + 32])), None)
            for b in range(len(out))]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_crop_shifts_by_random_offsets(seed):
    """The crop draws its window per image: a crop that always cut the centre window (or one
    offset for the whole batch) would still be 'a window of the padded image'."""
    x = normalize(_batch(64, seed))
    out = random_crop(x, 4, torch.Generator().manual_seed(seed))
    offsets = _offsets(out, torch.nn.functional.pad(x, (4,) * 4), 4)
    assert None not in offsets
    assert len(set(offsets)) > 10   # 64 draws of 81 offsets: ~44 distinct expected
    assert len({dy for dy, _ in offsets}) > 1 and len({dx for _, dx in offsets}) > 1


def test_augment_crops_when_padding_is_asked():
    """augment(padding=4) shifts the images (black border), so it differs from the plain
    normalised batch: a crop dropped from `augment` would return that batch unchanged."""
    x = _batch(64)
    plain = normalize(x)
    out = augment(x, torch.Generator().manual_seed(5), padding=4, flip=False)
    black = normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8)).view(1, 3, 1, 1)
    padded = black.expand(64, 3, 40, 40).clone()
    padded[..., 4:36, 4:36] = plain
    offsets = _offsets(out, padded, 4)
    assert None not in offsets and len(set(offsets)) > 10
    moved = sum(not torch.equal(out[i], plain[i]) for i in range(64))
    assert moved > 48   # only the centre window (1 of 81) leaves an image in place


def test_flip_and_cutout_shapes_and_content():
    x = normalize(_batch(64))
    g = torch.Generator().manual_seed(1)
    f = random_flip(x, g)
    flipped = [torch.equal(f[i], x[i].flip(2)) for i in range(64)]
    kept = [torch.equal(f[i], x[i]) for i in range(64)]
    assert all(a or b for a, b in zip(flipped, kept, strict=True)) and 10 < sum(flipped) < 54
    c = cutout(x, 16, g)
    zeroed = ((c == 0) & (x != 0)).all(1).sum((1, 2))
    assert (zeroed <= 256).all() and (zeroed > 0).all()


def test_augment_is_seeded_and_pads_black():
    x = torch.zeros(16, 3, 32, 32, dtype=torch.uint8)
    a = augment(x, torch.Generator().manual_seed(3), cutout_size=8)
    b = augment(x, torch.Generator().manual_seed(3), cutout_size=8)
    assert torch.equal(a, b)
    # black images stay black wherever they were shifted (padding is black, not zero)
    plain = augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(plain, normalize(x))


@pytest.mark.data("cifar10-npy")
def test_download_is_a_no_op_returning_checksums_when_data_verifies(monkeypatch):
    # regression: download() returned a Path (the data CLI expects {file: sha256}) and would
    # have fetched the tarball even with verified .npy data present
    import urllib.request

    def no_network(*a, **k):
        raise AssertionError("download() tried the network although the data verifies")

    monkeypatch.setattr(urllib.request, "urlretrieve", no_network)
    out = cifar.download()
    assert isinstance(out, dict) and any(k.endswith("train_images.npy") for k in out)


def test_augment_applies_flip_and_cutout_when_asked():
    x = _batch(64)
    plain = normalize(x)
    flipped = augment(x, torch.Generator().manual_seed(3), padding=0, flip=True)
    mirrored = sum(torch.equal(flipped[i], plain[i].flip(2)) for i in range(64))
    assert 10 < mirrored < 54  # about half the images mirrored
    cut = augment(x, torch.Generator().manual_seed(3), padding=0, flip=False, cutout_size=8)
    zeroed = ((cut == 0) & (plain != 0)).all(1).sum((1, 2))
    assert (zeroed >= 16).all() and (zeroed <= 64).all()  # one 8x8 square, maybe clipped
