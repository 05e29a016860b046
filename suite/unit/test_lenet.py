"""LeNet (Caffe's MNIST example), Caffe's SGD update and the device-resident loop."""

import math

import numpy as np
import pytest
import torch

from nasrepro.models.lenet import INPUT_SCALE, CaffeSGD, LeNet
from nasrepro.train.lenet_loop import Case, LeNetTrainer, run_case


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

@pytest.fixture(scope="module")
def data():
    from nasrepro.data.mnist import load_mnist
    from nasrepro.errors import DataError

    try:
        return load_mnist()
    except DataError as exc:
        pytest.skip(str(exc))

def test_sequential_batches_wrap_like_caffe(data):
    t = LeNetTrainer(data, Case(128, 256, 0.01), 0)
    x, y = t.batch(468)  # 468*128 = 59904: last 96 images, then the first 32
    assert torch.equal(x[:96], data.train_images[59904:])
    assert torch.equal(x[96:], data.train_images[:32])
    assert torch.equal(y[:96], data.train_labels[59904:].long())

def test_cpu_run_is_deterministic(data):
    a = run_case(data, Case(32, 1000, 0.01), seed=3, iters=20, eval_every=10)
    b = run_case(data, Case(32, 1000, 0.01), seed=3, iters=20, eval_every=10)
    assert np.array_equal(a["batch_acc"], b["batch_acc"])
    assert np.array_equal(a["test_acc"], b["test_acc"])
    assert a["train_acc"].shape == (2,) and a["block_seconds"].shape == (2,)
    assert a["test_acc"][-1] > 0.2  # 20 steps of lr 0.01 already learn something
