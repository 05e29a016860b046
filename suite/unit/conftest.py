"""Fixtures shared by several unit-test modules (expensive setup computed once a session)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_opsub_tier() -> dict[str, Any]:
    """A tiny OPSUB smoke budget for the stage mechanics (resume, budgets, workers, bundles),
    not for a result: real CIFAR-10 on the CPU, 60 training images (baseline: 3 steps of 20
    an epoch), fine-tune and distil on the first 30 of them (3 steps of 10 an epoch; 2 of
    15), 50 test images, every stage of the smoke tier's graph."""
    from nasrepro.experiments import opsub
    from nasrepro.train.distill import DistillConfig
    from nasrepro.train.loop import TrainConfig

    return {**opsub.TIERS["smoke"], "train_per_class": 6, "test_per_class": 5,
            "finetune_per_class": 3,
            "baseline": TrainConfig(epochs=2, batch_size=20, lr=0.05, eval_at=(2,)),
            "distill": DistillConfig(epochs=1, batch_size=15),
            "finetune": TrainConfig(epochs=2, batch_size=10, lr=0.01, eval_at=(1, 2))}


@pytest.fixture(scope="session")
def tiny_opsub_clean_run(tiny_opsub_tier, tmp_path_factory) -> tuple[dict[str, Any], Any]:
    """The uninterrupted sequential run of `tiny_opsub_tier` in this process, once a session
    (the reference of test_stage_runner.py and test_checkpoint_pipeline.py): (result, reports
    root); its stages are stored under <root>/clean. opsub.TIERS is restored afterwards."""
    from nasrepro.experiments import opsub

    root = tmp_path_factory.mktemp("tiny-opsub-reports")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(opsub.TIERS, "smoke", tiny_opsub_tier)
        mp.setenv("NASREPRO_REPORTS", str(root / "clean"))
        result = opsub.run_opsub("smoke", "cpu", log=None)
    return result, root


@pytest.fixture
def one_thread():
    """torch on one intra-op thread for the test (bit-reproducible CPU numerics), restored
    afterwards so later tests in the session do not silently run single-threaded."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
