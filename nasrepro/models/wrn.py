"""Wide ResNet (Zagoruyko & Komodakis 2016) for CIFAR, with its blocks addressable by position.

WRN-d-k: a 3x3 stem conv (3 -> 16), three groups of n = (d - 4) / 6 pre-activation basic
blocks with widths 16k, 32k, 64k (strides 1, 2, 2), then BN-ReLU, global average pool and a
linear classifier. WRN-40-2 has n = 6 (18 blocks, widths 32/64/128) and 2,243,546
parameters for 10 classes, the "2.2M" of the WRN paper's table and the exact count other
implementations of the same layer layout report.

The blocks live in one flat `nn.ModuleList` (`model.blocks`), so position p (1-based, in
forward order) is `model.blocks[p - 1]`; `block_spec(p)` gives its (in, out, stride) and
`replace_block(p, module)` swaps a candidate in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class PreActBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3, plus a shortcut
    (identity when the shape is kept, else a 1x1 conv of the activated input, as in the
    reference implementation)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.equal = in_ch == out_ch and stride == 1
        self.shortcut = None if self.equal else nn.Conv2d(in_ch, out_ch, 1, stride, 0,
                                                          bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = torch.relu(self.bn1(x))                      # (B, in, H, W)
        y = self.conv1(o)                                # (B, out, H/s, W/s)
        y = self.conv2(torch.relu(self.bn2(y)))          # (B, out, H/s, W/s)
        return y + (x if self.shortcut is None else self.shortcut(o))


@dataclass(frozen=True)
class BlockSpec:
    """Shape contract of one block position: channels in/out, stride, and its group."""

    position: int
    in_ch: int
    out_ch: int
    stride: int
    group: int


def wrn_block_specs(depth: int = 40, widen: int = 2, stem: int = 16) -> list[BlockSpec]:
    """(in, out, stride) of every block of WRN-depth-widen, in forward order."""
    if (depth - 4) % 6 != 0 or depth < 10:
        raise ValueError(f"WRN depth must be 6n + 4 with n >= 1, got {depth}")
    if widen < 1:
        raise ValueError(f"WRN widen factor must be >= 1, got {widen}")
    n = (depth - 4) // 6
    widths = [16 * widen, 32 * widen, 64 * widen]
    specs, in_ch, pos = [], stem, 1
    for g, (w, s) in enumerate(zip(widths, (1, 2, 2), strict=True), start=1):
        for i in range(n):
            specs.append(BlockSpec(pos, in_ch, w, s if i == 0 else 1, g))
            in_ch, pos = w, pos + 1
    return specs


class WideResNet(nn.Module):
    """WRN-depth-widen for 32x32 inputs; `blocks[p - 1]` is position p.

    `stem` is the stem conv's width: 16 in every published WRN. Only the smoke tier changes
    it (WRN-16-1 with an 8-wide stem keeps position 1 a channel-changing block, as in
    WRN-40-2, at a quarter of WRN-16-2's cost).
    """

    def __init__(self, depth: int = 40, widen: int = 2, num_classes: int = 10,
                 stem: int = 16) -> None:
        super().__init__()
        self.depth, self.widen = depth, widen
        self.specs = wrn_block_specs(depth, widen, stem)
        self.stem = nn.Conv2d(3, stem, 3, 1, 1, bias=False)
        self.blocks = nn.ModuleList(PreActBlock(s.in_ch, s.out_ch, s.stride)
                                    for s in self.specs)
        final = self.specs[-1].out_ch
        self.bn = nn.BatchNorm2d(final)
        self.fc = nn.Linear(final, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He (fan_out) init for convs, BN at (1, 0), zero classifier bias (reference init)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    @property
    def num_positions(self) -> int:
        return len(self.blocks)

    def block_spec(self, position: int) -> BlockSpec:
        """Shape contract of block `position` (1-based)."""
        if not 1 <= position <= len(self.specs):
            raise ValueError(f"position must be in 1..{len(self.specs)}, got {position}")
        return self.specs[position - 1]

    def replace_block(self, position: int, module: nn.Module) -> None:
        """Put `module` in place of the block at `position` (1-based)."""
        self.block_spec(position)
        self.blocks[position - 1] = module

    def forward_until(self, x: torch.Tensor, position: int) -> torch.Tensor:
        """The input of block `position`: stem and blocks 1..position-1."""
        self.block_spec(position)
        x = self.stem(x)                                 # (B, stem, 32, 32)
        for blk in self.blocks[: position - 1]:
            x = blk(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)                                 # (B, stem, 32, 32)
        for blk in self.blocks:                          # -> (B, 64k, 8, 8)
            x = blk(x)
        x = torch.relu(self.bn(x))
        x = x.mean(dim=(2, 3))                           # (B, 64k)
        return self.fc(x)                                # (B, classes)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (BN running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def map_position(position: int, source_depth: int, target_depth: int) -> int:
    """Map a WRN-40 position to the block with the same role in a shallower WRN.

    Roles: first block of a group keeps being the first block of that group, the last block
    keeps being the last; other blocks keep their index within the group, clipped.
    """
    n_src, n_dst = (source_depth - 4) // 6, (target_depth - 4) // 6
    if not 1 <= position <= 3 * n_src:
        raise ValueError(f"position must be in 1..{3 * n_src}, got {position}")
    group, idx = divmod(position - 1, n_src)
    if idx == n_src - 1:
        idx = n_dst - 1
    return group * n_dst + min(idx, n_dst - 1) + 1
