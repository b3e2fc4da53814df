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

The photo the residual is added to is first recoloured by a learned affine map of its own colours
(:class:`ColourMap`, zero at the start): instance norm hides a photo's overall colour from every layer after
the first, so the residual alone learned a painting's palette only after thousands of steps.

:class:`MultiStyleTransformerNet` is the same network holding several styles (Dumoulin et al. 2017): only the
scale and shift of each instance norm depend on the style (:class:`ConditionalInstanceNorm2d`), and
:meth:`MultiStyleTransformerNet.single_style` folds one style, or a blend, into a plain :class:`TransformerNet`,
so inference runs exactly the single-style network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fast_style.errors import FastStyleError
from fast_style.settings import whole


def check_channels(channels: Sequence[int]) -> list[int]:
    """``model.channels``: the three widths, each a whole number from 1."""
    if not isinstance(channels, Sequence) or len(channels) != 3:
        raise FastStyleError(f"model.channels={channels}: give the three widths, e.g. [32, 64, 128]")
    return [whole(f"model.channels[{i}]", c, 1) for i, c in enumerate(channels)]


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
        c1, c2, c3 = check_channels(channels)
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
        self.colour = ColourMap()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Weights stored in 16 bits (fast inference) take the photo in their precision; the sum below
        # stays in the photo's precision, so outputs keep all 256 levels per channel.
        residual = self.net(pad_to_fit(x).to(self.net[0][0][1].weight.dtype))
        return add_residual(self.colour(x), residual, self.output_gain, self.training)


def pad_to_fit(x: torch.Tensor) -> torch.Tensor:
    """Pad to a multiple of 4 (two stride-2 stages), and to at least 8 px so the smallest feature map
    still fits a reflection-padded 3x3 conv; reflection needs pad < side, so tiny inputs replicate."""
    h, w = x.shape[-2], x.shape[-1]
    pad_h, pad_w = (-h % 4 if h >= 8 else 8 - h), (-w % 4 if w >= 8 else 8 - w)
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else x


def add_residual(x: torch.Tensor, residual: torch.Tensor, gain: float, training: bool) -> torch.Tensor:
    """``x + gain * residual`` (the residual cropped back to the photo's size, summed in the photo's
    precision), clamped to [0, 1] outside training."""
    out = x + gain * residual[..., : x.shape[-2], : x.shape[-1]].to(x.dtype)
    return out if training else out.clamp(0, 1)


def mix_rows(style: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Per-style parameters ``rows`` ``[num_styles, ...]`` mixed by style weights ``[B, num_styles]`` into
    ``[B, ...]``: an elementwise product and sum, not a matmul, so autocast keeps it in float32 and a one-hot
    row gives that style's parameters bit for bit."""
    weights = style.to(rows.dtype)
    for _ in range(rows.dim() - 1):
        weights = weights.unsqueeze(-1)
    return (weights * rows[None]).sum(1)


class ColourMap(nn.Module):
    """The photo recoloured by a learned affine map of its own colours, ``x + gain * (A x + b)``, computed in
    float32 so outputs keep all 256 levels; one ``A`` (3x3) and ``b`` per style (rows of ``weight`` and
    ``bias``), mixed like :class:`ConditionalInstanceNorm2d`'s.

    Instance norm removes each image's channel means and contrasts after the first conv, so the layers behind
    it cannot see a photo's overall colour cast, and a residual they compute cannot undo it: turning a photo's
    palette into the painting's took the network thousands of steps, while this map, which sees the colours
    directly, learns it in a hundred (docs/validation.md). ``A = b = 0`` at the start (the photo unchanged).
    ``gain`` scales Adam's steps on these 12 numbers to 30x the network's learning rate (10x and 100x learned
    the palette less well in the demo)."""

    def __init__(self, num_styles: int = 1) -> None:
        super().__init__()
        self.gain = 30.0
        self.weight = nn.Parameter(torch.zeros(num_styles, 3, 3))
        self.bias = nn.Parameter(torch.zeros(num_styles, 3))
        self.register_load_state_dict_pre_hook(start_unchanged)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """``style``: the style weights ``[B, num_styles]``; ``None`` for a single-style network's one map."""
        if style is None:
            matrix, bias = self.weight[:1], self.bias[:1]
        else:
            matrix, bias = mix_rows(style, self.weight), mix_rows(style, self.bias)
        matrix, bias, photo = self.gain * matrix.float(), self.gain * bias.float(), x.float()
        shift = (bias[:, :, None, None] + matrix[:, :, 0, None, None] * photo[:, 0:1]
                 + matrix[:, :, 1, None, None] * photo[:, 1:2] + matrix[:, :, 2, None, None] * photo[:, 2:3])
        return x + shift.to(x.dtype)


def start_unchanged(module: ColourMap, state_dict: dict[str, torch.Tensor], prefix: str, *args: object) -> None:
    """Model files written before the colour map load with it at zero, which is the network they held."""
    for name in ("weight", "bias"):
        state_dict.setdefault(prefix + name, torch.zeros_like(getattr(module, name)))


class ConditionalInstanceNorm2d(nn.Module):
    """Instance norm whose scale and shift depend on the style: one row of ``weight`` and ``bias`` per style.

    ``forward(x, style)`` takes ``style`` ``[B, num_styles]``, one weight vector per image: a one-hot row picks
    that style's scale and shift, a convex combination blends them (Dumoulin et al. 2017), see :func:`mix_rows`;
    the normalisation is the same ``instance_norm`` call as ``nn.InstanceNorm2d``'s, on the batch folded into the
    channels so that every image gets its own scale."""

    def __init__(self, num_features: int, num_styles: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.num_styles, self.eps = num_features, num_styles, eps
        self.weight = nn.Parameter(torch.ones(num_styles, num_features))
        self.bias = nn.Parameter(torch.zeros(num_styles, num_features))

    def mix(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The scale and shift ``[B, C]`` for style weights ``[B, num_styles]``."""
        return mix_rows(style, self.weight), mix_rows(style, self.bias)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        scale, shift = self.mix(style)
        b, c, h, w = x.shape
        out = F.instance_norm(x.reshape(1, b * c, h, w), weight=scale.reshape(b * c).to(x.dtype),
                              bias=shift.reshape(b * c).to(x.dtype), eps=self.eps)
        return out.reshape(b, c, h, w)


class StyledConvNormReLU(nn.Module):
    """:class:`ConvNormReLU` with a conditional instance norm."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, num_styles: int, stride: int = 1,
                 upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = ConvLayer(in_ch, out_ch, kernel, stride)
        self.norm = ConditionalInstanceNorm2d(out_ch, num_styles)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(self.conv(x), style))


class StyledResidualBlock(nn.Module):
    """:class:`ResidualBlock` with conditional instance norms."""

    def __init__(self, channels: int, num_styles: int) -> None:
        super().__init__()
        self.first = StyledConvNormReLU(channels, channels, 3, num_styles)
        self.conv = ConvLayer(channels, channels, 3)
        self.norm = ConditionalInstanceNorm2d(channels, num_styles)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return x + self.norm(self.conv(self.first(x, style)), style)


class MultiStyleTransformerNet(nn.Module):
    """:class:`TransformerNet` holding ``num_styles`` styles: every layer is shared except the instance norms'
    scale and shift (:class:`ConditionalInstanceNorm2d`), about 0.2% of the parameters per style.

    ``forward(x, style)``: ``style`` holds non-negative style weights, ``[num_styles]`` for the whole batch or
    ``[B, num_styles]`` per image; they are divided by their sum, so ``[7, 3]`` blends as ``[0.7, 0.3]``."""

    def __init__(self, channels: Sequence[int] = (32, 64, 128), num_res_blocks: int = 5, num_styles: int = 2) -> None:
        super().__init__()
        c1, c2, c3 = check_channels(channels)
        num_res_blocks = whole("model.num_res_blocks", num_res_blocks, 0)
        self.num_styles = whole("model.num_styles", num_styles, 1)
        self.channels, self.num_res_blocks = [c1, c2, c3], num_res_blocks
        self.blocks = nn.ModuleList([
            StyledConvNormReLU(3, c1, 9, num_styles),
            StyledConvNormReLU(c1, c2, 3, num_styles, stride=2),
            StyledConvNormReLU(c2, c3, 3, num_styles, stride=2),
            *[StyledResidualBlock(c3, num_styles) for _ in range(num_res_blocks)],
            StyledConvNormReLU(c3, c2, 3, num_styles, upsample=True),
            StyledConvNormReLU(c2, c1, 3, num_styles, upsample=True),
        ])
        self.out = ConvLayer(c1, 3, 9)
        nn.init.zeros_(self.out[1].weight)
        nn.init.zeros_(self.out[1].bias)
        self.output_gain = 1 / math.sqrt(self.out[1].weight[0].numel())
        self.colour = ColourMap(num_styles)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        weights = style.float() / style.float().sum(-1, keepdim=True)
        if weights.dim() == 1:
            weights = weights.expand(x.shape[0], self.num_styles)
        y = pad_to_fit(x).to(self.out[1].weight.dtype)
        for block in self.blocks:
            y = block(y, weights)
        return add_residual(self.colour(x, weights), self.out(y), self.output_gain, self.training)

    def norms(self) -> list[ConditionalInstanceNorm2d]:
        return [m for m in self.modules() if isinstance(m, ConditionalInstanceNorm2d)]

    def per_style(self) -> list[ConditionalInstanceNorm2d | ColourMap]:
        """The layers holding one row of ``weight`` and ``bias`` per style: the norms and the colour map."""
        return [*self.norms(), self.colour]

    @torch.no_grad()
    def add_styles(self, count: int) -> MultiStyleTransformerNet:
        """A copy holding ``count`` more styles after these, each starting from the mean of the held styles'
        rows of every per-style layer (a start the shared layers already work with)."""
        net = MultiStyleTransformerNet(self.channels, self.num_res_blocks, self.num_styles + count)
        state = self.state_dict()
        names = {layer: name for name, layer in self.named_modules()}
        for layer in self.per_style():
            for param in ("weight", "bias"):
                held = getattr(layer, param)
                state[f"{names[layer]}.{param}"] = torch.cat([held, held.mean(0, keepdim=True).expand(count, *held.shape[1:])])
        net.load_state_dict(state)
        return net.to(self.out[1].weight.device)

    def train_only_styles(self, styles: Sequence[int]) -> None:
        """Freeze everything but the rows of ``styles`` in the per-style layers: the shared layers stop
        requiring gradients, and the other styles' rows get zero gradients, which Adam (without weight decay)
        turns into zero steps, so they stay bit for bit as they were."""
        mask = torch.zeros(self.num_styles)
        mask[list(styles)] = 1
        for param in self.parameters():
            param.requires_grad_(False)
        for layer in self.per_style():
            for param in (layer.weight, layer.bias):
                param.requires_grad_(True)
                rows = mask.reshape(-1, *[1] * (param.dim() - 1))
                param.register_hook(lambda grad, rows=rows: grad * rows.to(grad.device, grad.dtype))

    @torch.no_grad()
    def single_style(self, weights: torch.Tensor) -> TransformerNet:
        """A plain :class:`TransformerNet` computing ``self(x, weights)``: the shared weights copied, each
        per-style layer's rows mixed once by ``weights`` ``[num_styles]`` (divided by their sum). Modules of
        both networks are created in the same order, so they pair up in ``modules()`` order."""
        weights = weights.float() / weights.float().sum()
        net = TransformerNet(self.channels, self.num_res_blocks).to(self.out[1].weight.device)
        convs = [[m for m in n.modules() if isinstance(m, nn.Conv2d)] for n in (net, self)]
        norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
        assert len(convs[0]) == len(convs[1]) and len(norms) == len(self.norms())
        for target, source in zip(*convs):
            target.load_state_dict(source.state_dict())
        for target, source in zip([*norms, net.colour], self.per_style()):
            for param in ("weight", "bias"):
                mixed = mix_rows(weights[None], getattr(source, param))
                getattr(target, param).copy_(mixed.reshape(getattr(target, param).shape))
        return net.train(self.training)
