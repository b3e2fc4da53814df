"""The transformer network: any size in, same size out; the photo itself before training."""

from __future__ import annotations

import pytest
import torch

from fast_style.transformer import TransformerNet


@pytest.mark.parametrize("size", [(37, 53), (64, 64), (5, 3), (1, 1), (66, 98)])
def test_output_shape_matches_odd_input_sizes(size: tuple[int, int]) -> None:
    net = TransformerNet((8, 16, 32), num_res_blocks=1)
    torch.nn.init.normal_(net.net[-1][1].weight, std=0.1)  # make it a non-identity network
    x = torch.rand(2, 3, *size)
    y = net(x)
    assert y.shape == x.shape
    assert 0 <= y.min() and y.max() <= 1
    if min(size) > 1:  # a 1x1 image is constant, which instance normalisation maps to zero
        assert not torch.allclose(x, y, atol=1e-2)


def test_untrained_network_returns_its_input() -> None:
    x = torch.rand(1, 3, 40, 44)
    assert torch.allclose(TransformerNet((8, 16, 32), 2)(x), x, atol=1 / 500)


def test_default_is_johnsons_architecture() -> None:
    net = TransformerNet()
    residual_blocks = [m for m in net.modules() if m.__class__.__name__ == "ResidualBlock"]
    assert len(residual_blocks) == 5
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].kernel_size == (9, 9) and convs[-1].kernel_size == (9, 9)
    assert [c.stride for c in convs[1:3]] == [(2, 2), (2, 2)]
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in net.modules())
