"""nasrepro.data.missing: what the `data` test marker skips on, and the line it says."""

import pytest

from nasrepro import data
from nasrepro.data import cifar, mnist
from nasrepro.errors import DataError


def test_an_empty_root_names_each_dataset_and_how_to_get_it(tmp_path):
    for name in data.DATASETS:
        why = data.missing(name, tmp_path)
        assert why is not None and str(tmp_path) in why and "nasrepro data download" in why


def test_the_python_layout_is_cifar10_but_not_its_arrays(tmp_path):
    """A user who ran `nasrepro data download cifar` has the python layout: tests that read
    CIFAR-10 through cifar.load run (they skipped on a check for the .npy arrays before);
    tests of the arrays themselves skip, naming the files."""
    (tmp_path / cifar.PY_DIR).mkdir()
    assert data.missing("cifar10", tmp_path) is None
    why = data.missing("cifar10-npy", tmp_path)
    assert why is not None and all(f in why for f in cifar.NPY_SHA256)


def test_missing_mnist_files_are_named(tmp_path):
    folder = mnist.mnist_dir(tmp_path)
    folder.mkdir()
    names = sorted(mnist.FILES)
    for n in names[:-1]:
        (folder / n).write_bytes(b"")
    why = data.missing("mnist", tmp_path)
    assert why is not None and names[-1] in why and names[0] not in why
    (folder / names[-1]).write_bytes(b"")
    assert data.missing("mnist", tmp_path) is None   # presence only: reading verifies,
    with pytest.raises(DataError, match="corrupt"):  # so a damaged root fails the test
        mnist.load_mnist(root=tmp_path)               # that reads it (suite/conftest.py)


def test_an_unknown_dataset_name_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="cifar10"):
        data.missing("cifar100", tmp_path)


def test_a_data_root_with_any_dataset_has_every_one():
    """Where a data root is set up (CI, the device) it is whole: a half-copied root would
    otherwise turn into skips. Without any dataset (a user without data) this skips.
    (It carried the data marker, which skipped it in exactly the case it is for.)"""
    absent = [n for n in data.DATASETS if data.missing(n)]
    if len(absent) == len(data.DATASETS):
        pytest.skip("no dataset under the data root: nothing to check")
    assert absent == [], [data.missing(n) for n in absent]
