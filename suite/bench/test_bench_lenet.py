"""Speed gates (pytest-benchmark): LeNet training steps per batch size (LENET-1's quantity)
and the full test-set evaluation. `nasrepro bench` compares medians with this machine's
stored baseline; CLI runs of the suite pass --benchmark-disable, so these run once there."""

import pytest

from nasrepro.train.lenet_loop import Case, LeNetTrainer

STEPS = 20


@pytest.mark.parametrize("batch", [32, 64, 128])
def test_bench_lenet_train_steps(benchmark, mnist_data, batch):
    """20 Caffe-SGD iterations of LeNet at one batch size (training only)."""
    trainer = LeNetTrainer(mnist_data, Case(batch, 2 * batch, 0.01), seed=0)
    trainer.train(5)  # warm-up: allocator and kernel selection
    benchmark.extra_info.update(batch=batch, steps=STEPS)
    benchmark.pedantic(trainer.train, args=(STEPS,), rounds=7, iterations=1)
    assert trainer.iteration >= 5 + STEPS and (trainer.iteration - 5) % STEPS == 0
    assert trainer.batch_accuracy()[-STEPS:].mean() > 0.5  # it is really training


def test_bench_lenet_test_pass(benchmark, mnist_data):
    """One evaluation on all 10,000 test images (batch 128)."""
    trainer = LeNetTrainer(mnist_data, Case(64, 128, 0.01), seed=0)
    acc = benchmark.pedantic(trainer.evaluate, rounds=3, iterations=1)
    assert 0.0 <= acc <= 1.0
