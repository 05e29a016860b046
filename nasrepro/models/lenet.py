"""LeNet as in Caffe's MNIST example (examples/mnist/lenet_train_test.prototxt).

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
        x = F.max_pool2d(self.conv1(x), 2)                       # N x 20 x 12 x 12
        x = F.max_pool2d(self.conv2(x), 2)                       # N x 50 x 4 x 4
        x = F.relu(self.ip1(x.flatten(1)))                        # N x 500
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
