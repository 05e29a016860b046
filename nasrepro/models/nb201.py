"""The NAS-Bench-201 network (Dong & Yang, ICLR 2020) in plain PyTorch, and its costs.

Macro skeleton (C = 16, N = 5, 3 stages):
  stem 3x3 conv (3 -> C) + BN
  stage 1: N cells at C       | residual reduction block C -> 2C, stride 2
  stage 2: N cells at 2C      | residual reduction block 2C -> 4C, stride 2
  stage 3: N cells at 4C
  BN + ReLU, global average pool, linear classifier (100 classes for CIFAR-100)
Cell: 4 nodes; node j = sum over i < j of op_(j,i)(node i); output = node 3. Ops:
  none (zero), skip_connect (identity), nor_conv_1x1 / nor_conv_3x3 (ReLU-conv-BN),
  avg_pool_3x3 (stride 1, padding 1, count_include_pad=False).

count_costs() gives parameters (millions, all trainable tensors) and FLOPs (millions of
multiply-accumulates of conv and linear layers plus pooling window sizes, for one 32x32
image): nasrepro's own counting, following NB201's published convention as far as we
know it; it is not read from the benchmark (not available offline).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nasrepro.nas.search_space import EDGES, N_EDGES, OPS


class ReLUConvBN(nn.Sequential):
    """ReLU -> conv (no bias) -> BN, NB201's conv op and residual-block unit."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class Zero(nn.Module):
    """The 'none' op: no connection (contributes zeros)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, c: int) -> nn.Module:
    """One edge op at c channels, stride 1."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown op {name!r}; ops are {', '.join(OPS)}")


class Cell(nn.Module):
    """A NAS-Bench-201 cell with fixed ops (6 edges in search_space edge order)."""

    def __init__(self, ops: Sequence[int], c: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(OPS[o], c) for o in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in (1, 2, 3):
            nodes.append(sum(op(nodes[src]) for op, (t, src) in zip(self.ops, EDGES,
                                                                    strict=True)
                             if t == target))
        return nodes[3]


class ResidualReduction(nn.Module):
    """NB201's reduction block: 3x3 stride-2 ReLUConvBN -> 3x3 ReLUConvBN, plus an
    avg-pool + 1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2),
                                      nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The full network for one cell: [B, 3, 32, 32] -> [B, num_classes]."""

    def __init__(self, ops: Sequence[int], c: int = 16, n: int = 5,
                 num_classes: int = 100) -> None:
        super().__init__()
        if len(ops) != N_EDGES:
            raise ValueError(f"need {N_EDGES} op indices, got {len(ops)}")
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage:
                layers.append(ResidualReduction(width // 2, width))
            layers.extend(Cell(ops, width) for _ in range(n))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=False),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(4 * c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.cells(self.stem(x)))


def count_costs(model: nn.Module, image_size: int = 32) -> tuple[float, float]:
    """(params in millions, FLOPs in millions) of a model on one image.

    FLOPs: conv = out_h * out_w * k_h * k_w * c_in / groups * c_out (+ bias), linear =
    in * out (+ bias), pooling = window size * output elements; BN/ReLU not counted."""
    params = sum(p.numel() for p in model.parameters()) / 1e6
    flops = [0.0]

    def conv_hook(m: nn.Conv2d, _inp, out) -> None:
        kh, kw = m.kernel_size
        per_out = kh * kw * m.in_channels // m.groups + (1 if m.bias is not None else 0)
        flops[0] += out.shape[2] * out.shape[3] * m.out_channels * per_out

    def linear_hook(m: nn.Linear, _inp, out) -> None:
        flops[0] += m.in_features * m.out_features + (m.out_features if m.bias is not None
                                                      else 0)

    def pool_hook(m: nn.AvgPool2d, _inp, out) -> None:
        k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
        flops[0] += k * k * out[0].numel()

    hooks = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook))
        elif isinstance(mod, nn.AvgPool2d):
            hooks.append(mod.register_forward_hook(pool_hook))
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size))
    finally:
        for h in hooks:
            h.remove()
    return params, flops[0] / 1e6


def all_costs(ops: torch.Tensor, num_classes: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """(params [N], flops [N]) in millions for op tuples ops [N, 6].

    Costs are additive over edges (each edge's op has a fixed shape and cost, the rest of
    the network does not depend on the cell), so 1 + 6 x 4 networks are counted: the
    all-'none' network and each single-edge variant. Checked against direct counting in
    suite/unit/test_nb201.py."""
    base_p, base_f = count_costs(NB201Network([0] * N_EDGES, num_classes=num_classes))
    dp = torch.zeros(N_EDGES, len(OPS), dtype=torch.float64)
    df = torch.zeros_like(dp)
    for e in range(N_EDGES):
        for o in range(1, len(OPS)):
            cell = [0] * N_EDGES
            cell[e] = o
            p, f = count_costs(NB201Network(cell, num_classes=num_classes))
            dp[e, o], df[e, o] = p - base_p, f - base_f
    edge = torch.arange(N_EDGES)
    ops = ops.long()
    return base_p + dp[edge, ops].sum(-1), base_f + df[edge, ops].sum(-1)
