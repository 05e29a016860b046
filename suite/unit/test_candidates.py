"""Candidates 2..7 for any block shape: output shapes match the replaced block at positions
1, 7 and 18 of WRN-40-2; identity only where the shape is kept; parameter counts."""

import pytest
import torch

from nasrepro.errors import ConfigError
from nasrepro.models.candidates import CANDIDATE_IDS, applicable, build_candidate
from nasrepro.models.wrn import WideResNet, count_parameters

NET = WideResNet(40, 2)

# Parameter counts (conv weights + BN affine) at positions 1 / 7 / 18, worked by hand for
# candidates 1 and 4 and checked against the module for the rest (see docs/opsub.md).
EXPECTED = {
    1: (14432, 57536, 295424), 2: (None, None, 0), 3: (5920, 21056, 206848),
    4: (4672, 18560, 147712), 5: (11456, 45440, 328448), 6: (28416, 113152, 590592),
    7: (40832, 162560, 656640),
}


@pytest.mark.parametrize("pos", [1, 7, 18])
@pytest.mark.parametrize("cand", CANDIDATE_IDS)
def test_candidate_shape_matches_block(pos, cand):
    s = NET.block_spec(pos)
    x = torch.randn(2, s.in_ch, 32 // (2 ** (s.group - 1)), 32 // (2 ** (s.group - 1)))
    ref = NET.blocks[pos - 1].eval()(x)
    if not applicable(cand, s.in_ch, s.out_ch, s.stride):
        with pytest.raises(ConfigError, match="identity"):
            build_candidate(cand, s.in_ch, s.out_ch, s.stride)
        assert EXPECTED[cand][(1, 7, 18).index(pos)] is None
        return
    m = build_candidate(cand, s.in_ch, s.out_ch, s.stride).eval()
    assert m(x).shape == ref.shape
    assert count_parameters(m) == EXPECTED[cand][(1, 7, 18).index(pos)]


def test_hand_counts_for_original_and_plain_conv():
    # c1 at position 1: BN(16) + conv 16->32 3x3 + BN(32) + conv 32->32 3x3 + 1x1 16->32
    assert EXPECTED[1][0] == 2 * 16 + 16 * 32 * 9 + 2 * 32 + 32 * 32 * 9 + 16 * 32
    # c4 at position 7: conv 32->64 3x3 + BN(64)
    assert EXPECTED[4][1] == 32 * 64 * 9 + 2 * 64


def test_swapped_network_trains_one_step():
    torch.manual_seed(0)
    m = WideResNet(16, 1, stem=8)
    s = m.block_spec(3)
    m.replace_block(3, build_candidate(7, s.in_ch, s.out_ch, s.stride))
    out = m(torch.randn(4, 3, 32, 32))
    out.sum().backward()
    assert out.shape == (4, 10)
    assert all(p.grad is not None for p in m.blocks[2].parameters())


def test_unknown_candidate_and_bad_shape():
    with pytest.raises(ConfigError, match="unknown candidate"):
        build_candidate(8, 16, 16, 1)
    with pytest.raises(ConfigError, match="bad block shape"):
        build_candidate(4, 16, 16, 3)
