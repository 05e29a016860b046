"""Candidate operations 1..7 of the OPSUB paper (Table 1), for any block shape (in, out, stride).

The host network is pre-activation: a block's input and output are un-activated residual
sums. Every candidate therefore starts from the raw block input and ends linear (a conv+BN or
a sum), like the block it replaces. Inner pieces are conv -> BN -> ReLU. "expand xE" is the
hidden width relative to the block's OUTPUT channels (CLAIMS.md interpretation); the inverted
residual uses MobileNetV2's own rule, hidden = 6 x INPUT channels ("as in MobileNetV2").

  1 original   the WRN pre-activation basic block (nasrepro.models.wrn.PreActBlock)
  2 identity   x (only where in == out and stride == 1)
  3 invres     MobileNetV2 inverted residual: 1x1 (in->6in) BN ReLU6, 3x3 depthwise (stride)
               BN ReLU6, 1x1 (6in->out) BN; + x when in == out and stride == 1
  4 conv       3x3 conv (in->out, stride) BN                      (no expansion, no skip)
  5 conv_x2    3x3 conv (in->2out, stride) BN ReLU, 1x1 conv (2out->out) BN  (no skip)
  6 basic_x2   ResNet basic block: 3x3 (in->2out, stride) BN ReLU, 3x3 (2out->out) BN;
               + shortcut (identity, or 1x1 conv(stride) + BN when the shape changes)
  7 bottle_x2  bottleneck: 1x1 (in->2out) BN ReLU, 3x3 (2out->2out, stride) BN ReLU,
               1x1 (2out->out) BN; + shortcut as in 6

Known departures from the paper (written next to OPSUB-1, -3 and -5 in
reference_results/papers/a_opsub.json and in docs/opsub.md; the definitions are our reading
of LANA's ops, since Table 1 gives descriptions, not layers):
- The paper says that at position 18 candidates 3-7 use MORE parameters than candidate 1
  and credits their gain to that. Ours at position 18 (128->128, stride 1): c1 295,424,
  c3 206,848, c4 147,712, c5 328,448, c6 590,592, c7 656,640, so c3 and c4 have FEWER.
  (c3 here is 34,432 t + 256 parameters: it would need t >= 9 to exceed c1; a single 3x3
  conv never does.)
- The paper describes c4 and c5 with the same words except "Expand: none" / "Expand: 2x"
  (and calls them the more similar pair); ours also differ in structure: c4 is one linear
  3x3 conv + BN, c5 adds a ReLU and a 1x1 projection after a 2x-wide 3x3 conv. OPSUB-3
  (|c4 - c5|) therefore also measures that structural difference.
Changing any of this is a decision for the team, best made before the first GPU lease: code
here is in opsub.NUMERICS_SOURCES, so a code change (not a docstring or comment) re-keys every
OPSUB stage and changes every OPSUB baseline (docs/opsub.md, "Before the first GPU lease").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nasrepro.errors import ConfigError
from nasrepro.models.wrn import PreActBlock

CANDIDATE_IDS = (1, 2, 3, 4, 5, 6, 7)

DESCRIPTIONS = {
    1: "original WRN block: BN-ReLU-conv3x3(s)-BN-ReLU-conv3x3 + shortcut (1x1 conv if shape "
       "changes)",
    2: "identity (in == out, stride 1 only)",
    3: "MobileNetV2 inverted residual, t=6 on input channels: 1x1 BN ReLU6, dw3x3(s) BN ReLU6, "
       "1x1 BN (+x if shape kept)",
    4: "conv block, no expansion: conv3x3(s) BN",
    5: "conv block, expand x2: conv3x3(in->2out, s) BN ReLU, conv1x1(2out->out) BN",
    6: "ResNet basic block, expand x2: conv3x3(in->2out, s) BN ReLU, conv3x3(2out->out) BN "
       "+ shortcut",
    7: "bottleneck, expand x2: conv1x1(in->2out) BN ReLU, conv3x3(2out->2out, s) BN ReLU, "
       "conv1x1(2out->out) BN + shortcut",
}


def conv_bn(in_ch: int, out_ch: int, k: int, stride: int = 1, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """conv(k x k, 'same' padding, no bias) -> BN (-> activation)."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, k, stride, k // 2, groups=groups,
                                         bias=False), nn.BatchNorm2d(out_ch)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """body(x) + shortcut(x); shortcut = identity, or 1x1 conv(stride) + BN on shape change."""

    def __init__(self, body: nn.Module, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.body = body
        keep = in_ch == out_ch and stride == 1
        self.shortcut = nn.Identity() if keep else conv_bn(in_ch, out_ch, 1, stride, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block (Sandler et al. 2018), expansion on the input channels."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int = 6) -> None:
        super().__init__()
        hidden = in_ch * expansion
        self.body = nn.Sequential(
            conv_bn(in_ch, hidden, 1, act=nn.ReLU6),
            conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            conv_bn(hidden, out_ch, 1, act=None))
        self.use_skip = in_ch == out_ch and stride == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.use_skip else y


def _identity(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    if in_ch != out_ch or stride != 1:
        raise ConfigError(f"candidate 2 (identity) needs in == out channels and stride 1; this "
                          f"position has in={in_ch}, out={out_ch}, stride={stride}")
    return nn.Identity()


def _conv(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    return conv_bn(in_ch, out_ch, 3, stride, act=None)


def _conv_x2(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    return nn.Sequential(conv_bn(in_ch, 2 * out_ch, 3, stride),
                         conv_bn(2 * out_ch, out_ch, 1, act=None))


def _basic_x2(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    body = nn.Sequential(conv_bn(in_ch, 2 * out_ch, 3, stride),
                         conv_bn(2 * out_ch, out_ch, 3, act=None))
    return Residual(body, in_ch, out_ch, stride)


def _bottleneck_x2(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    hid = 2 * out_ch
    body = nn.Sequential(conv_bn(in_ch, hid, 1), conv_bn(hid, hid, 3, stride),
                         conv_bn(hid, out_ch, 1, act=None))
    return Residual(body, in_ch, out_ch, stride)


_BUILDERS: dict[int, Callable[[int, int, int], nn.Module]] = {
    1: PreActBlock,
    2: _identity,
    3: InvertedResidual,
    4: _conv,
    5: _conv_x2,
    6: _basic_x2,
    7: _bottleneck_x2,
}


def applicable(candidate: int, in_ch: int, out_ch: int, stride: int) -> bool:
    """Whether a candidate can take this block shape (only identity is restricted)."""
    if candidate not in _BUILDERS:
        raise ConfigError(f"unknown candidate {candidate}; use one of {CANDIDATE_IDS}")
    return candidate != 2 or (in_ch == out_ch and stride == 1)


def build_candidate(candidate: int, in_ch: int, out_ch: int, stride: int) -> nn.Module:
    """Candidate `candidate` (1..7) for a block mapping (B, in, H, W) -> (B, out, H/s, W/s)."""
    if candidate not in _BUILDERS:
        raise ConfigError(f"unknown candidate {candidate}; use one of {CANDIDATE_IDS}")
    if stride not in (1, 2) or in_ch < 1 or out_ch < 1:
        raise ConfigError(f"bad block shape in={in_ch}, out={out_ch}, stride={stride}")
    return _BUILDERS[candidate](in_ch, out_ch, stride)
