"""nasrepro.data.mnist: checksums, IDX parsing, clear errors for missing/corrupt files."""

import gzip
import shutil
import struct

import numpy as np
import pytest

from nasrepro.data import mnist
from nasrepro.errors import DataError
from nasrepro.paths import data_root

REAL = data_root() / mnist.SUBDIR


@pytest.mark.data("mnist")
def test_verify_real_files():
    assert mnist.verify() == {n: s.sha256 for n, s in mnist.FILES.items()}


@pytest.mark.data("mnist")
def test_load_shapes_labels_and_known_pixels():
    d = mnist.load_mnist()
    assert d.train_images.shape == (60000, 28, 28) and d.train_images.dtype.is_floating_point \
        is False
    assert d.test_images.shape == (10000, 28, 28)
    assert d.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # official order
    assert d.test_labels[:5].tolist() == [7, 2, 1, 0, 4]
    counts = np.bincount(d.train_labels.numpy(), minlength=10)
    assert counts.sum() == 60000 and counts[1] == 6742  # the well-known class-1 count


def _copy_real(tmp_path):
    dst = tmp_path / mnist.SUBDIR
    dst.mkdir()
    for n in mnist.FILES:
        shutil.copy(REAL / n, dst / n)
    return dst


@pytest.mark.data("mnist")
def test_one_flipped_byte_is_a_clear_error(tmp_path):
    dst = _copy_real(tmp_path)
    name = "t10k-labels-idx1-ubyte.gz"
    blob = bytearray((dst / name).read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (dst / name).write_bytes(bytes(blob))
    with pytest.raises(DataError) as exc:
        mnist.load_mnist(root=tmp_path)
    msg = str(exc.value)
    assert name in msg and mnist.FILES[name].sha256 in msg and "download" in msg


def test_missing_file_names_file_checksum_and_fix(tmp_path):
    with pytest.raises(DataError) as exc:
        mnist.verify(root=tmp_path)
    msg = str(exc.value)
    first = next(iter(mnist.FILES))
    assert "missing" in msg and first in msg and mnist.FILES[first].sha256 in msg
    assert "NASREPRO_DATA" in msg and "`nasrepro data download mnist`" in msg


def test_download_rejects_bad_bytes(tmp_path, monkeypatch):
    class FakeResp:  # a mirror answering with wrong bytes must not be written
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self):
            return b"not mnist"

    monkeypatch.setattr(mnist.urllib.request, "urlopen", lambda url, timeout: FakeResp())
    with pytest.raises(DataError, match="sha256"):
        mnist.download(root=tmp_path, mirrors=("http://mirror.invalid/",))
    assert not any((tmp_path / mnist.SUBDIR).glob("*.gz"))


def test_parse_idx_roundtrip_and_bad_header():
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 2, 3, 4) + arr.tobytes()
    assert (mnist.parse_idx(gzip.decompress(gzip.compress(raw))) == arr).all()
    with pytest.raises(DataError, match="magic"):
        mnist.parse_idx(struct.pack(">HBB", 0, 9, 1) + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DataError, match="header says"):
        mnist.parse_idx(raw[:-1])


@pytest.mark.data("mnist")
def test_cli_verify(capsys):
    from nasrepro.cli import main

    assert main(["data", "verify", "mnist"]) == 0
    out = capsys.readouterr().out
    assert out.count("mnist: ok") == 4
