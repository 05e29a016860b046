"""Cache and stage keys include the sha256 of the data read: a changed table recomputes, a
corrupt one is a DataError naming the file whatever the cache holds (real files)."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from nasrepro.data import cifar, mnist, nb201
from nasrepro.errors import DataError
from nasrepro.experiments import reward_search as rs
from nasrepro.files import file_digest, read_json, sha256_file
from nasrepro.paths import data_root


def _flip(path: Path, offset: int) -> None:
    """Flip one bit in place, keeping size and mtime (only ctime moves)."""
    st = path.stat()
    blob = bytearray(path.read_bytes())
    blob[offset] ^= 1
    path.write_bytes(bytes(blob))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_file_digest_memo_sees_a_flip_that_keeps_size_and_mtime(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"a" * 4096)
    before = file_digest(f)
    assert file_digest(f) == before == sha256_file(f)
    _flip(f, 100)
    assert file_digest(f) == sha256_file(f) != before


@pytest.fixture
def table_copy(tmp_path, monkeypatch):
    """The shipped NB201 table and its sidecar, copied and used in place of the shipped one;
    a fresh reports folder and an empty data root (no official table)."""
    folder = tmp_path / "tables"
    folder.mkdir()
    table = folder / nb201.SHIPPED_TABLE.name
    shutil.copy2(nb201.SHIPPED_TABLE, table)
    shutil.copy2(nb201.provenance_path(nb201.SHIPPED_TABLE), nb201.provenance_path(table))
    monkeypatch.setattr(nb201, "SHIPPED_TABLE", table)
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("NASREPRO_DATA", str(tmp_path / "data"))
    return table


def _search(seeds: int = 1):
    return rs.search_results("smoke", seeds=seeds, n_samples=40)


def _cache_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "reports" / "cache" / "reward_search").glob("*.pkl"))


def test_search_cache_refuses_a_corrupt_table_even_when_warm(table_copy, tmp_path):
    _search()
    assert len(_cache_files(tmp_path)) == 1
    _flip(table_copy, 100_000)
    with pytest.raises(DataError, match=rf"{table_copy.name} is corrupt or truncated: sha256"):
        _search()


def _sampled_acc_matches(res: dict, acc: np.ndarray) -> bool:
    return all(np.allclose(g["acc"], acc[g["row"].astype(np.int64)].astype(np.float32))
               for g in res["groups"].values())


def test_search_cache_recomputes_for_a_changed_table(table_copy, tmp_path):
    # the probe: a changed table with a warm cache passed REWARD-4/5 with the old records
    with np.load(table_copy, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    old_acc = arrays["acc_cifar100"].copy()
    _, first = _search()
    _search()
    assert len(_cache_files(tmp_path)) == 1  # same data: served from the cache
    assert _sampled_acc_matches(first, old_acc)
    # a consistent new table (rebuilt with its provenance): every accuracy + 1 pp
    arrays["acc_cifar100"] = old_acc + 1.0
    nb201.write_table(table_copy, arrays, read_json(nb201.provenance_path(table_copy)))
    _, changed = _search()
    assert len(_cache_files(tmp_path)) == 2  # a new key: recomputed, not the old record
    assert _sampled_acc_matches(changed, old_acc + 1.0)
    assert not _sampled_acc_matches(changed, old_acc)
    assert rs.data_fingerprint(("x",)) == {f"nb201/{table_copy.name}": file_digest(table_copy)}


def test_official_table_enters_the_key_when_used(table_copy, tmp_path):
    off = nb201.official_table_path()
    off.parent.mkdir(parents=True)
    shutil.copy2(table_copy, off)
    shutil.copy2(nb201.provenance_path(table_copy), nb201.provenance_path(off))
    fp = rs.data_fingerprint(("help_gpu", "nb201"))
    assert set(fp) == {f"nb201/{table_copy.name}", f"nb201/{off.name}"}
    _flip(off, 5000)
    with pytest.raises(DataError, match=off.name):
        rs.data_fingerprint(("nb201",))


@pytest.mark.data("cifar10")
def test_opsub_stage_key_follows_the_cifar_files(tmp_path, monkeypatch):
    from nasrepro.experiments import opsub

    real = opsub.stage_store("smoke", "cpu", root=tmp_path / "st").root
    # the same bytes under another data root: the same stage folder (keyed by content)
    source, copy = data_root() / "cifar10", tmp_path / "data" / "cifar10"
    copy.mkdir(parents=True)
    for name in cifar.NPY_SHA256:
        (copy / name).symlink_to(source / name)
    monkeypatch.setenv("NASREPRO_DATA", str(tmp_path / "data"))
    assert opsub.stage_store("smoke", "cpu", root=tmp_path / "st").root == real
    # a corrupt labels file: a DataError naming it, whatever the stage folder holds
    (copy / "test_labels.npy").unlink()
    shutil.copyfile(source / "test_labels.npy", copy / "test_labels.npy")
    _flip(copy / "test_labels.npy", 200)
    with pytest.raises(DataError, match=r"test_labels\.npy: corrupt \(sha256"):
        opsub.stage_store("smoke", "cpu", root=tmp_path / "st")


@pytest.mark.data("mnist")
def test_mnist_fingerprint_names_a_corrupt_file(tmp_path):
    good = mnist.fingerprint()
    assert set(good) == {f"mnist/{n}" for n in mnist.FILES}
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in mnist.FILES:
        (folder / name).symlink_to(mnist.mnist_dir() / name)
    assert mnist.fingerprint(tmp_path) == good
    name = "t10k-labels-idx1-ubyte.gz"
    (folder / name).unlink()
    shutil.copyfile(mnist.mnist_dir() / name, folder / name)
    _flip(folder / name, 300)
    with pytest.raises(DataError, match=rf"MNIST file corrupt: .*{name}"):
        mnist.fingerprint(tmp_path)


@pytest.mark.data("mnist")
def test_lenet_run_cache_refuses_corrupt_mnist_even_when_warm(tmp_path, monkeypatch):
    # a cached LeNet run must not be served past a corrupt data root (mutant
    # lenet-run-key-without-data: the run's key without the MNIST check survived every test)
    from nasrepro.experiments import lenet

    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for name in mnist.FILES:
        (folder / name).symlink_to(mnist.mnist_dir() / name)
    source = mnist.mnist_dir()
    monkeypatch.setenv("NASREPRO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / "reports"))
    args = ([("1", 0)], 2, 2, "cpu", 1)  # case 1, seed 0: 2 iterations, 1 test pass
    first = lenet.train_stack(*args)
    assert len(list((tmp_path / "reports" / "cache" / "lenet_run").glob("*.pkl"))) == 1
    again = lenet.train_stack(*args)  # warm: read back, the same numbers
    assert again[0]["test_acc"].tolist() == first[0]["test_acc"].tolist()
    name = "train-labels-idx1-ubyte.gz"
    (folder / name).unlink()
    shutil.copyfile(source / name, folder / name)
    _flip(folder / name, 300)
    with pytest.raises(DataError, match=name):
        lenet.train_stack(*args)
