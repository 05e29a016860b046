"""OPSUB's data: judged on held-out CIFAR-10 test images, never on the images it trains on."""

import pytest
import torch

from nasrepro.data import cifar
from nasrepro.experiments.opsub import OpsubRun


def _rows(images: torch.Tensor) -> set[bytes]:
    return {bytes(r) for r in images.reshape(len(images), -1).numpy()}


@pytest.mark.data("cifar10")
def test_smoke_tier_evaluates_on_the_test_split_disjoint_from_training():
    """The smoke run's test images are the official test split's balanced subset and none
    of them is a training image. The mutant `opsub-test-split-swapped` (test images read
    from the train split) was caught only through OPSUB-1's smoke band before: a
    machine-dependent catch; this is the property itself."""
    run = OpsubRun("smoke", "cpu", log=None)
    per_class = run.t["test_per_class"]
    expected = cifar.load("test", per_class=per_class)
    assert torch.equal(run.test.images, expected.images)
    assert torch.equal(run.test.labels, expected.labels)
    assert not _rows(run.test.images) & _rows(run.train.images)
    assert _rows(run.ft_train.images) <= _rows(run.train.images)
