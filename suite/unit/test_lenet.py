"""LeNet (Caffe's MNIST example), Caffe's SGD update and the device-resident loop."""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nasrepro.models.lenet import INPUT_SCALE, CaffeSGD, LeNet, StackedLeNet, max_pool_2x2
from nasrepro.train.lenet_loop import Case, LeNetTrainer, StackedTrainer, run_case
from nasrepro.train.lenet_memory import cpu_allocator_window


def test_shapes_and_parameter_count():
    m = LeNet(0)
    assert m(torch.zeros(3, 28, 28, dtype=torch.uint8)).shape == (3, 10)
    # Caffe's LeNet: 20*25+20 + 50*20*25+50 + 800*500+500 + 500*10+10 = 431,080
    assert sum(p.numel() for p in m.parameters()) == 431080
    assert INPUT_SCALE == 1 / 256

def test_caffe_xavier_and_zero_bias():
    m = LeNet(1)
    for layer in (m.conv1, m.conv2, m.ip1, m.ip2):
        a = math.sqrt(3.0 / layer.weight[0].numel())
        w = layer.weight.detach()
        assert w.abs().max() <= a and w.abs().max() > 0.9 * a
        assert abs(w.var().item() - a * a / 3) < 0.2 * a * a / 3  # U(-a, a) variance a^2/3
        assert (layer.bias == 0).all()
    assert torch.equal(LeNet(1).conv1.weight, m.conv1.weight)
    assert not torch.equal(LeNet(2).conv1.weight, m.conv1.weight)

def test_caffe_sgd_update_rule():
    m = LeNet(0)
    opt = CaffeSGD(m, momentum=0.9, weight_decay=5e-4, bias_lr_mult=2.0)
    w0, b0 = m.ip2.weight.detach().clone(), m.ip2.bias.detach().clone()
    grads = []
    for lr in (0.1, 0.05):
        g = {n: torch.randn_like(p) for n, p in m.named_parameters()}
        grads.append(g)
        for n, p in m.named_parameters():
            p.grad = g[n].clone()
        opt.step(lr)
    # closed form of two Caffe steps: v1 = lr1*(g1+wd*w0); w1 = w0 - v1;
    # v2 = 0.9*v1 + lr2*(g2+wd*w1); w2 = w1 - v2 (bias: lr*2, decay also applies)
    for name, start, mult in (("ip2.weight", w0, 1.0), ("ip2.bias", b0, 2.0)):
        v1 = 0.1 * mult * (grads[0][name] + 5e-4 * start)
        w1 = start - v1
        v2 = 0.9 * v1 + 0.05 * mult * (grads[1][name] + 5e-4 * w1)
        torch.testing.assert_close(dict(m.named_parameters())[name].detach(), w1 - v2)

def test_channels_last_pool_is_exactly_max_pool():
    """Values and gradients equal F.max_pool2d's bit for bit, ties included (conv outputs
    over MNIST's blank background are all equal to the bias: ties are everywhere)."""
    x = torch.randn(4, 6, 24, 24)
    x[:, :, :10] = 0.25  # flat region: every window is a 4-way tie
    x[0, 0, 11, 11] = float("nan")  # a diverged net (case 8) produces NaNs
    g = torch.randn(4, 6, 12, 12)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = max_pool_2x2(a), F.max_pool2d(b, 2)
    torch.testing.assert_close(ya, yb, rtol=0, atol=0, equal_nan=True)  # exact, NaN = NaN
    ya.backward(g)
    yb.backward(g)
    assert torch.equal(a.grad, b.grad)


def test_stacked_forward_matches_members():
    """StackedLeNet member k computes LeNet(seeds[k]) (float noise only: grouped conv)."""
    seeds = [0, 5, 5, 9]
    s = StackedLeNet(seeds)
    x = torch.randint(0, 256, (16, 28, 28), dtype=torch.uint8)
    out = s(x)
    assert out.shape == (4, 16, 10)
    for k, seed in enumerate(seeds):
        torch.testing.assert_close(out[k], LeNet(seed)(x), rtol=0, atol=1e-5)
        for (_, p), (_, q) in zip(s.member(k).named_parameters(),
                                  LeNet(seed).named_parameters(), strict=True):
            assert torch.equal(p, q)


def test_allocator_window_sees_a_leak():
    """The LENET-3 probe measures allocations: a step that keeps its output is caught."""
    kept = []

    def leaky() -> None:
        for _ in range(3):
            kept.append(torch.ones(1000, 250))  # 1 MB each, kept

    def clean() -> None:
        for _ in range(3):
            torch.ones(1000, 250).sum()

    leak, ok = cpu_allocator_window(leaky), cpu_allocator_window(clean)
    assert leak["retained_bytes"] == 3 * 1_000_000 and leak["peak_bytes"] >= 3 * 1_000_000
    assert ok["retained_bytes"] == 0 and 1_000_000 <= ok["peak_bytes"] < 2_000_000


@pytest.fixture(scope="module")
def data_2k_test(mnist_data):
    """Real MNIST with the first 2,000 of its 10,000 test images (all 60,000 training
    images), for a test whose property does not depend on the test-set size (evaluating is
    most of its time)."""
    from nasrepro.data.mnist import MNIST

    d = mnist_data
    return MNIST(d.train_images, d.train_labels, d.test_images[:2000], d.test_labels[:2000])


def test_sequential_batches_wrap_like_caffe(mnist_data):
    t = LeNetTrainer(mnist_data, Case(128, 256, 0.01), 0)
    x, y = t.batch(468)  # 468*128 = 59904: last 96 images, then the first 32
    assert torch.equal(x[:96], mnist_data.train_images[59904:])
    assert torch.equal(x[96:], mnist_data.train_images[:32])
    assert torch.equal(y[:96], mnist_data.train_labels[59904:].long())


def test_cpu_run_is_deterministic(data_2k_test):
    a = run_case(data_2k_test, Case(32, 1000, 0.01), seed=3, iters=20, eval_every=10)
    b = run_case(data_2k_test, Case(32, 1000, 0.01), seed=3, iters=20, eval_every=10)
    assert np.array_equal(a["batch_acc"], b["batch_acc"])
    assert np.array_equal(a["test_acc"], b["test_acc"])
    assert a["train_acc"].shape == (2,) and a["block_seconds"].shape == (2,)
    assert a["test_acc"][-1] > 0.2  # 20 steps of lr 0.01 already learn something


# Stacked vs one-at-a-time on real MNIST: 40 iterations, test every 20, of cases that share
# batch 64 and differ in lr (0.01, the diverging 0.1, 0.001) and seed. Tolerances: parameters
# within 1e-4 absolute after 40 steps (the grouped convolution sums in another order: float
# noise of ~1e-7 per op, grown by 40 steps of SGD); per-iteration mini-batch accuracies and
# test accuracies may differ by at most a couple of images (an image on the decision boundary
# can flip); measured: 0 differences (docs/lenet.md has the 1000-iteration figures).
STACK = [(Case(64, 128, 0.01), 0), (Case(64, 128, 0.1), 0), (Case(64, 128, 0.001), 1)]


def test_stacked_training_equals_one_at_a_time(mnist_data, one_thread):
    stack = StackedTrainer(mnist_data, [c for c, _ in STACK], [s for _, s in STACK])
    singles = [LeNetTrainer(mnist_data, c, s) for c, s in STACK]

    def singles_round() -> list[float]:
        for t in singles:
            t.train(20)
        return [t.evaluate() for t in singles]

    tests_stack, tests_single = [], []
    # the one-at-a-time side of each round in a second thread, beside the stacked side: no
    # state is shared (each trainer has its own model, optimizer and batch counter; the data
    # are only read), every op runs on one intra-op thread either way, so each side computes
    # exactly what it computes alone; the two sides just use both cores
    with ThreadPoolExecutor(max_workers=1) as pool:
        for _ in range(2):
            single_round = pool.submit(singles_round)
            stack.train(20)
            tests_stack.append(stack.evaluate())
            tests_single.append(single_round.result())
    acc_stack = stack.batch_accuracy()                              # 3 x 40
    acc_single = np.stack([t.batch_accuracy() for t in singles])   # 3 x 40
    assert acc_stack.shape == acc_single.shape == (3, 40)
    assert np.abs(acc_stack - acc_single).max() <= 2 / 64
    assert np.abs(np.asarray(tests_stack) - np.asarray(tests_single)).max() <= 2e-4
    for k, t in enumerate(singles):
        if k == 1:  # lr 0.1 diverges: both must have diverged the same way (non-finite)
            assert all(not torch.isfinite(p).all() for p in t.model.parameters()) == \
                all(not torch.isfinite(p).all() for p in stack.model.member(k).parameters())
            continue
        for p, q in zip(stack.model.member(k).parameters(), t.model.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-4)
    assert tests_single[-1][0] > 0.8 and tests_single[-1][1] < 0.2  # learns / diverges


def test_training_a_stack_restores_the_thread_count(data_2k_test, tmp_path, monkeypatch):
    """train_stack pins one thread while it trains and restores the count after, trained or
    read from the cache (it used to leave the pin behind; a pytest session runs every paper
    in one process, and nasrepro.parallel reads stored units in the driver)."""
    from nasrepro.experiments import lenet as exp

    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for _ in range(2):  # trained, then read from the cache
            (run,) = exp.train_stack([("2", 0)], 10, 10, "cpu", threads=1, data=data_2k_test)
            assert torch.get_num_threads() == 2
        assert run["test_acc"].shape == (1,)
    finally:
        torch.set_num_threads(before)


def test_study_eta_counts_stacks_in_flight_half_done():
    """The LeNet study's progress ETA: throughput so far with in-flight stacks half done;
    zero once every stack is done (the naive count said 10 min for 2 min of work)."""
    import time

    from nasrepro.experiments.lenet import StudyEta

    eta = StudyEta([128, 128, 128, 64, 64], workers=2)
    eta.started = time.perf_counter() - 60.0
    # stack 0 done, stacks 1 and 2 in flight (half credit): 256 of 512 done in 60 s
    assert eta.finished(0) == pytest.approx(60.0, rel=1e-3)
    for i in (1, 2, 3):
        assert eta.finished(i) > 0
    assert eta.finished(4) == 0
