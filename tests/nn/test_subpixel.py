"""The sub-pixel forms of the upsampling and output convolutions compute what the layers they replace
compute (fast_style/nn/subpixel.py)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from fast_style.inference.prepare import for_inference
from fast_style.nn.subpixel import PhaseConv, UpsampleConv, to_subpixel
from fast_style.nn.transformer import ConvLayer, ConvNormReLU, TransformerNet

CPU = torch.device("cpu")


def randomised(module: nn.Module, seed: int = 0) -> nn.Module:
    """``module`` with every parameter drawn at random (the output conv starts at zero otherwise)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    return module


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (8, 6)])
def test_upsample_conv_equals_upsampling_then_padded_conv(size: tuple[int, int]) -> None:
    stage = randomised(ConvNormReLU(6, 4, 3, 1, upsample=True))
    upsample_then_conv = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), stage.conv)
    x = torch.randn(2, 6, *size)
    out = UpsampleConv(stage.conv[1])(x)
    assert out.shape == (2, 4, 2 * size[0], 2 * size[1])
    torch.testing.assert_close(out, upsample_then_conv(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [(8, 8), (10, 14)])
def test_phase_conv_equals_the_padded_output_conv(size: tuple[int, int]) -> None:
    layer = randomised(ConvLayer(5, 3, 9))
    x = torch.randn(2, 5, *size)
    torch.testing.assert_close(PhaseConv(layer[1])(x), layer(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="even height and width"):
        PhaseConv(layer[1])(x[..., :-1])


def test_to_subpixel_keeps_the_network_function_at_any_size() -> None:
    net = randomised(TransformerNet(channels=(4, 6, 8), num_res_blocks=1)).eval()
    fast = copy.deepcopy(net)
    to_subpixel(fast)
    assert not any(getattr(m, "upsample", False) for m in fast.modules())
    assert isinstance(fast.out, PhaseConv) and sum(isinstance(m, UpsampleConv) for m in fast.modules()) == 2
    for size in [(5, 7), (37, 45), (64, 48)]:
        x = torch.rand(1, 3, *size)
        with torch.no_grad():
            torch.testing.assert_close(fast(x), net(x), atol=1e-5, rtol=1e-5)


def test_for_inference_uses_the_subpixel_forms_on_the_cpu() -> None:
    net = randomised(TransformerNet(channels=(4, 6, 8), num_res_blocks=1)).eval()
    fast = for_inference(copy.deepcopy(net), CPU, torch.float32, channels_last=True)
    assert sum(isinstance(m, UpsampleConv) for m in fast.modules()) == 2
    x = torch.rand(2, 3, 30, 41)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), net(x), atol=1e-5, rtol=1e-5)
        again = for_inference(fast, CPU, torch.float32, channels_last=True)  # already prepared: unchanged
        torch.testing.assert_close(again(x), net(x), atol=1e-5, rtol=1e-5)
