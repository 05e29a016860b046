"""LeNet as in Caffe's MNIST example (examples/mnist/lenet_train_test.prototxt), our reading of
the paper's LeNet (the paper names no framework; its solver settings match that example's).

    input  N x 1 x 28 x 28, uint8 pixels scaled by 1/256 (Caffe's `scale: 0.00390625`)
    conv1  20 @ 5x5, stride 1     -> N x 20 x 24 x 24
    pool1  max 2x2, stride 2      -> N x 20 x 12 x 12
    conv2  50 @ 5x5, stride 1     -> N x 50 x 8 x 8
    pool2  max 2x2, stride 2      -> N x 50 x 4 x 4
    ip1    fully connected 800->500, ReLU
    ip2    fully connected 500->10 (logits; SoftmaxWithLoss = mean cross-entropy)

No ReLU after the convolutions (Caffe's example has none). Weights use Caffe's "xavier"
filler: uniform(-a, a) with a = sqrt(3 / fan_in), fan_in = in_channels * kh * kw (the
filler's default variance_norm FAN_IN); biases use the "constant" filler 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SCALE = 0.00390625  # 1/256, Caffe's data-layer scale (not 1/255)


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """Max pool 2x2/2 computed in channels-last layout: the same values and gradients as
    F.max_pool2d on NCHW (both kernels keep the first maximum of a window in row-major order;
    checked exactly, ties included, in suite/unit/test_lenet.py), but PyTorch's NCHW CPU
    kernel is scalar: on the CPU this pool makes a full evaluation pass 1.63-1.74x and a
    training step 1.29-1.33x faster (AVX-512 rows of the per-case table, docs/lenet.md,
    "Speed"). The output stays channels-last; the
    following conv or reshape reads it by its logical N x C x H x W shape."""
    return F.max_pool2d(x.contiguous(memory_format=torch.channels_last), 2)


def caffe_xavier_(weight: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """In-place Caffe xavier fill: U(-sqrt(3/fan_in), +sqrt(3/fan_in))."""
    fan_in = weight[0].numel()
    a = math.sqrt(3.0 / fan_in)
    with torch.no_grad():
        weight.copy_(torch.rand(weight.shape, generator=generator) * (2 * a) - a)
    return weight


class LeNet(nn.Module):
    """Caffe's MNIST LeNet; `forward` takes uint8 or float images N x 28 x 28."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.ip1 = nn.Linear(800, 500)
        self.ip2 = nn.Linear(500, 10)
        gen = torch.Generator().manual_seed(seed)  # CPU generator: same init on every device
        for layer in (self.conv1, self.conv2, self.ip1, self.ip2):
            caffe_xavier_(layer.weight, gen)
            nn.init.zeros_(layer.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.reshape(-1, 1, 28, 28).float() * INPUT_SCALE  # N x 1 x 28 x 28
        x = max_pool_2x2(self.conv1(x))                          # N x 20 x 12 x 12
        x = max_pool_2x2(self.conv2(x))                          # N x 50 x 4 x 4
        x = F.relu(self.ip1(x.flatten(1)))                        # N x 800 (c,h,w) -> N x 500
        return self.ip2(x)                                        # N x 10


class CaffeSGD:
    """Caffe's SGD solver update, which differs from torch.optim.SGD when the lr changes:

        v <- momentum * v + lr * lr_mult * (grad + weight_decay * decay_mult * w);  w <- w - v

    (torch folds lr in after the momentum buffer). Caffe's LeNet example sets lr_mult 1 for
    weights and 2 for biases, and no decay_mult, so weight decay (5e-4) applies to both.
    """

    def __init__(self, model: nn.Module, momentum: float = 0.9, weight_decay: float = 5e-4,
                 bias_lr_mult: float = 2.0) -> None:
        self.params = [p for p in model.parameters()]
        self.lr_mult = [bias_lr_mult if name.endswith("bias") else 1.0
                        for name, _ in model.named_parameters()]
        self.momentum, self.weight_decay = momentum, weight_decay
        self.history = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr: float) -> None:
        for p, v, mult in zip(self.params, self.history, self.lr_mult, strict=True):
            g = p.grad.add(p, alpha=self.weight_decay)
            v.mul_(self.momentum).add_(g, alpha=lr * mult)
            p.sub_(v)
            p.grad = None

    def state_bytes(self) -> int:
        """Bytes held by the momentum history (part of the tensor-memory account)."""
        return sum(v.numel() * v.element_size() for v in self.history)


class StackedLeNet(nn.Module):
    """K independent LeNets that read the same images in one pass (K = len(seeds)).

    Member k is LeNet(seeds[k]): its parameters are copied from that model, so the init is
    the one-at-a-time init. Every parameter carries a leading K axis; the forward pass is
    three ordinary ops on the stack:

        input  N x 28 x 28 (shared)   -> N x 1 x 28 x 28, scaled by 1/256
        conv1  K*20 filters @ 5x5      -> N x K*20 x 24 x 24   (one conv: the input is shared)
        pool1                          -> N x K*20 x 12 x 12
        conv2  groups=K, K*50 @ 20x5x5 -> N x K*50 x 8 x 8     (group k sees only model k's maps)
        pool2                          -> N x K*50 x 4 x 4 -> K x N x 800 (Caffe's c,h,w order)
        ip1    batched matmul          -> K x N x 500, ReLU
        ip2    batched matmul          -> K x N x 10 (logits of every member)
    """

    def __init__(self, seeds: list[int]) -> None:
        super().__init__()
        nets = [LeNet(s) for s in seeds]
        self.k = len(nets)
        for layer in ("conv1", "conv2", "ip1", "ip2"):
            for kind in ("weight", "bias"):
                stacked = torch.stack([getattr(getattr(n, layer), kind).detach() for n in nets])
                setattr(self, f"{layer}_{kind}", nn.Parameter(stacked.clone()))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        k = self.k
        x = images.reshape(-1, 1, 28, 28).float() * INPUT_SCALE              # N x 1 x 28 x 28
        n = x.shape[0]
        x = F.conv2d(x, self.conv1_weight.reshape(k * 20, 1, 5, 5),
                     self.conv1_bias.reshape(k * 20))                           # N x K*20 x 24 x 24
        x = max_pool_2x2(x)                                                     # N x K*20 x 12 x 12
        x = F.conv2d(x, self.conv2_weight.reshape(k * 50, 20, 5, 5),
                     self.conv2_bias.reshape(k * 50), groups=k)                 # N x K*50 x 8 x 8
        x = max_pool_2x2(x)                                                     # N x K*50 x 4 x 4
        x = x.reshape(n, k, 800).transpose(0, 1)                                # K x N x 800
        x = F.relu(torch.baddbmm(self.ip1_bias.unsqueeze(1), x,
                                 self.ip1_weight.transpose(1, 2)))              # K x N x 500
        return torch.baddbmm(self.ip2_bias.unsqueeze(1), x,
                             self.ip2_weight.transpose(1, 2))                   # K x N x 10

    def member(self, i: int) -> LeNet:
        """Member `i` as a plain LeNet (a copy), e.g. to compare with a one-at-a-time run."""
        net = LeNet(0)
        with torch.no_grad():
            for layer in ("conv1", "conv2", "ip1", "ip2"):
                for kind in ("weight", "bias"):
                    getattr(getattr(net, layer), kind).copy_(getattr(self, f"{layer}_{kind}")[i])
        return net


class StackedCaffeSGD(CaffeSGD):
    """CaffeSGD for a StackedLeNet: the same update per member, each with its own lr.

    `step(lr)` takes one lr per member (a K-vector): member k's slice of every parameter
    gets v <- m v + lr_k * lr_mult * (g + wd w); w <- w - v, exactly CaffeSGD's rule.
    """

    @torch.no_grad()
    def step(self, lr: torch.Tensor) -> None:  # type: ignore[override]
        for p, v, mult in zip(self.params, self.history, self.lr_mult, strict=True):
            lr_k = (lr * mult).to(p.dtype).reshape(-1, *([1] * (p.dim() - 1)))  # K x 1 x ...
            g = p.grad.add(p, alpha=self.weight_decay)
            v.mul_(self.momentum).addcmul_(g, lr_k)
            p.sub_(v)
            p.grad = None
