"""WRN-40-2: published parameter count, block positions, and forward contracts."""

import pytest
import torch

from nasrepro.models.wrn import WideResNet, count_parameters, map_position, wrn_block_specs

# Zagoruyko & Komodakis (2016) list WRN-40-2 at 2.2M parameters; independent PyTorch
# implementations report exactly 2,243,546 for 10 classes (e.g. RobustBench's WRN-40-2 AugMix
# model card, the wrn_40_2 of knowledge-distillation code bases, WRN reimplementation READMEs
# tabulating "40-2 | 2,243,546 | 2.2M").
WRN_40_2_PARAMS = 2_243_546


def test_wrn_40_2_parameter_count_matches_published():
    assert count_parameters(WideResNet(40, 2)) == WRN_40_2_PARAMS


def test_positions_1_7_18_have_the_paper_shapes():
    specs = {s.position: (s.in_ch, s.out_ch, s.stride) for s in wrn_block_specs(40, 2)}
    assert len(specs) == 18
    assert specs[1] == (16, 32, 1) and specs[7] == (32, 64, 2) and specs[18] == (128, 128, 1)


def test_forward_until_composes_with_blocks():
    torch.manual_seed(0)
    m = WideResNet(16, 1).eval()
    x = torch.randn(2, 3, 32, 32)
    assert m(x).shape == (2, 10)
    h = m.forward_until(x, 3)
    assert h.shape == (2, 16, 32, 32)
    h = m.blocks[2](h)
    assert h.shape == (2, 32, 16, 16)


def test_position_roles_map_to_smaller_networks():
    assert [map_position(p, 40, 16) for p in (1, 7, 18)] == [1, 3, 6]
    assert [map_position(p, 40, 40) for p in range(1, 19)] == list(range(1, 19))
    with pytest.raises(ValueError):
        map_position(19, 40, 16)


def test_bad_depth_and_position_are_clear_errors():
    with pytest.raises(ValueError, match="6n"):
        WideResNet(41, 2)
    with pytest.raises(ValueError, match=r"1\.\.18"):
        WideResNet(40, 2).block_spec(0)


def test_projection_shortcut_takes_the_activated_input():
    """A channel-changing block adds conv1x1(relu(bn1(x))) (the pre-activation, as in the
    reference implementation), not conv1x1(x). The mutant `wrn-shortcut-input` was caught
    only through OPSUB-1's smoke band before; this checks the block's arithmetic directly."""
    torch.manual_seed(0)
    m = WideResNet(16, 1)
    block = m.blocks[2].eval()                      # position 3: 16 -> 32, stride 2
    assert block.shortcut is not None
    x = torch.randn(2, 16, 8, 8)                    # has negatives: relu(bn1(x)) != x
    o = torch.relu(block.bn1(x))
    residual = block.conv2(torch.relu(block.bn2(block.conv1(o))))
    expected = residual + block.shortcut(o)
    with torch.no_grad():
        out = block(x)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert not torch.allclose(out, residual + block.shortcut(x), atol=1e-3)


def test_identity_shortcut_adds_the_raw_input():
    """A shape-keeping block adds x itself (no projection)."""
    torch.manual_seed(0)
    block = WideResNet(16, 1).blocks[1].eval()      # position 2: 16 -> 16, stride 1
    assert block.shortcut is None
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        residual = block.conv2(torch.relu(block.bn2(block.conv1(torch.relu(block.bn1(x))))))
        torch.testing.assert_close(block(x), residual + x, rtol=0, atol=1e-6)
