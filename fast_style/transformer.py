"""Johnson et al.'s image transformation network, with instance normalisation (Ulyanov et al.).

The network adds a residual to the photo in pixel space: ``out = x + g * f(x)``, clamped to [0, 1] at
inference. With the last conv initialised to zero the untrained network returns its input, so training
starts from the photo instead of from noise. Two choices keep it from blowing out (docs/design.md):

- pixel space, not logit space: a sigmoid output lets a region that overshoots to white saturate, where
  its gradient vanishes while Adam keeps moving the weights at full step size, so glows grow and never
  come back; in pixel space the loss (and the loss's ``range`` term) always sees the overshoot;
- the residual is scaled by ``g = 1/sqrt(fan_in)`` of the output conv (an equalised learning rate,
  Karras et al. 2018): Adam moves every weight by about ``lr`` per step, which, with thousands of
  weights feeding each output pixel, moved the output by several times the pixel range per step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fast_style.errors import FastStyleError
from fast_style.settings import whole


class ConvLayer(nn.Sequential):
    """Reflection padding + convolution (no zero borders that show up as dark frames)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_ch, out_ch, kernel, stride))


class ConvNormReLU(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, upsample: bool = False) -> None:
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
        layers += [ConvLayer(in_ch, out_ch, kernel, stride), nn.InstanceNorm2d(out_ch, affine=True), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormReLU(channels, channels, 3),
            ConvLayer(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformerNet(nn.Module):
    """9x9 conv in, two stride-2 convs, residual blocks, two upsample+conv stages, 9x9 conv out.

    ``channels`` are the widths of the three resolutions (Johnson: 32, 64, 128). Accepts any H×W: the
    input is padded to a multiple of 4 and the output cropped back to the input size.
    """

    def __init__(self, channels: Sequence[int] = (32, 64, 128), num_res_blocks: int = 5) -> None:
        super().__init__()
        if not isinstance(channels, Sequence) or len(channels) != 3:
            raise FastStyleError(f"model.channels={channels}: give the three widths, e.g. [32, 64, 128]")
        c1, c2, c3 = (whole(f"model.channels[{i}]", c, 1) for i, c in enumerate(channels))
        num_res_blocks = whole("model.num_res_blocks", num_res_blocks, 0)
        self.net = nn.Sequential(
            ConvNormReLU(3, c1, 9),
            ConvNormReLU(c1, c2, 3, stride=2),
            ConvNormReLU(c2, c3, 3, stride=2),
            *[ResidualBlock(c3) for _ in range(num_res_blocks)],
            ConvNormReLU(c3, c2, 3, upsample=True),
            ConvNormReLU(c2, c1, 3, upsample=True),
            ConvLayer(c1, 3, 9),
        )
        last = self.net[-1][1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.output_gain = 1 / math.sqrt(last.weight[0].numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        # Pad to a multiple of 4 (two stride-2 stages), and to at least 8 px so the smallest feature map
        # still fits a reflection-padded 3x3 conv; reflection needs pad < side, so tiny inputs replicate.
        pad_h, pad_w = (-h % 4 if h >= 8 else 8 - h), (-w % 4 if w >= 8 else 8 - w)
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else x
        # Weights stored in 16 bits (fast inference) take the photo in their precision; the sum below
        # stays in the photo's precision, so outputs keep all 256 levels per channel.
        residual = self.net(padded.to(self.net[0][0][1].weight.dtype))[..., :h, :w]
        out = x + self.output_gain * residual.to(x.dtype)
        return out if self.training else out.clamp(0, 1)
