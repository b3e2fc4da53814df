"""Johnson et al.'s image transformation network, with instance normalisation (Ulyanov et al.), holding one or
many styles.

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
(:class:`~fast_style.nn.layers.ColourMap`, zero at the start): instance norm hides a photo's overall colour
from every layer after the first, so the residual alone learned a painting's palette only after thousands of
steps. At inference the residual of a photo flatter than ``contrast_floor`` is scaled down with its contrast
(:class:`~fast_style.nn.layers.ContrastGate`), so a dark film frame is not covered in full-strength strokes.
With ``noise_channels`` the first conv also sees noise (:class:`~fast_style.nn.layers.NoiseField`): something to
paint a flat sky with, where a network without it paints halos along the sky's edges.

Every style-dependent parameter (the norms' scale and shift, the colour map) has one row per style
(Dumoulin et al. 2017; about 0.2% of the parameters per style): :meth:`TransformerNet.fold` mixes the rows of
one style or a blend into a network of one style, which is what inference runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fast_style.errors import FastStyleError
from fast_style.nn.layers import ColourMap, ContrastGate, ConvLayer, NoiseField, StyleNorm, mix_rows
from fast_style.settings import real, whole


def check_channels(channels: Sequence[int]) -> list[int]:
    """``model.channels``: the three widths, each a whole number from 1."""
    if not isinstance(channels, Sequence) or len(channels) != 3:
        raise FastStyleError(f"model.channels={channels}: give the three widths, e.g. [32, 64, 128]")
    return [whole(f"model.channels[{i}]", c, 1) for i, c in enumerate(channels)]


class ConvNormReLU(nn.Module):
    """(nearest 2x upsampling,) reflection-padded conv, style norm, ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, num_styles: int, stride: int = 1,
                 upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = ConvLayer(in_ch, out_ch, kernel, stride)
        self.norm = StyleNorm(out_ch, num_styles)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(self.conv(x), style), inplace=True)


class ResidualBlock(nn.Module):
    """Two 3x3 conv + style-norm layers with a skip connection."""

    def __init__(self, channels: int, num_styles: int) -> None:
        super().__init__()
        self.first = ConvNormReLU(channels, channels, 3, num_styles)
        self.conv = ConvLayer(channels, channels, 3)
        self.norm = StyleNorm(channels, num_styles)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.norm(self.conv(self.first(x, style)), style)


class TransformerNet(nn.Module):
    """9x9 conv in, two stride-2 convs, residual blocks, two upsample+conv stages, 9x9 conv out.

    ``channels`` are the widths of the three resolutions (Johnson: 32, 64, 128). Accepts any H×W: the
    input is padded to a multiple of 4 and the output cropped back to the input size.

    ``forward(x)`` runs the one style of a single-style network; ``forward(x, style)`` takes non-negative style
    weights, ``[num_styles]`` for the whole batch or ``[B, num_styles]`` per image, divided by their sum (so
    ``[7, 3]`` blends as ``[0.7, 0.3]``)."""

    def __init__(self, channels: Sequence[int] = (32, 64, 128), num_res_blocks: int = 5, num_styles: int = 1,
                 colour_hidden: int = 0, colour_gain: float = 30.0, contrast_floor: float = 0.0,
                 noise_channels: int = 0, noise_std: float = 0.1) -> None:
        super().__init__()
        c1, c2, c3 = check_channels(channels)
        self.channels = [c1, c2, c3]
        self.num_res_blocks = whole("model.num_res_blocks", num_res_blocks, 0)
        self.num_styles = whole("model.num_styles", num_styles, 1)
        s = self.num_styles
        self.noise = NoiseField(whole("model.noise_channels", noise_channels, 0,
                                      hint="how many noise channels the network paints flat regions with, e.g. 2"),
                                real("model.noise_std", noise_std, above=0,
                                     hint="the noise's standard deviation against the photo's [0, 1], e.g. 0.1"))
        self.blocks = nn.ModuleList([
            ConvNormReLU(3 + self.noise.channels, c1, 9, s),
            ConvNormReLU(c1, c2, 3, s, stride=2),
            ConvNormReLU(c2, c3, 3, s, stride=2),
            *[ResidualBlock(c3, s) for _ in range(self.num_res_blocks)],
            ConvNormReLU(c3, c2, 3, s, upsample=True),
            ConvNormReLU(c2, c1, 3, s, upsample=True),
        ])
        self.out = ConvLayer(c1, 3, 9)
        nn.init.zeros_(self.out[1].weight)
        nn.init.zeros_(self.out[1].bias)
        self.output_gain = 1 / math.sqrt(self.out[1].weight[0].numel())
        self.colour = ColourMap(s, whole("model.colour_hidden", colour_hidden, 0,
                                         hint="the colour map's hidden units, e.g. 16 (0: an affine map)"),
                                real("model.colour_gain", colour_gain, above=0,
                                     hint="how fast the colour map learns against the network, e.g. 30 or 3"))
        self.contrast = ContrastGate(real("model.contrast_floor", contrast_floor, 0,
                                          hint="the contrast below which the strokes fade, e.g. 0.1 (0: never)"))

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        if style is None and self.num_styles > 1:
            raise ValueError(f"this network holds {self.num_styles} styles: give their weights")
        if style is not None:
            style = style.float() / style.float().sum(-1, keepdim=True)
            if style.dim() == 1:
                style = style.expand(x.shape[0], self.num_styles)
        # Weights stored in 16 bits (fast inference) take the photo in their precision; the sum below
        # stays in the photo's precision, so outputs keep all 256 levels per channel.
        y = pad_to_fit(x).to(self.blocks[0].conv[1].weight.dtype)
        y = self.noise(y)
        for block in self.blocks:
            y = block(y, style)
        gain = self.output_gain * self.contrast(x)
        return add_residual(self.colour(x, style), self.out(y), gain, self.training)

    def config(self) -> dict[str, object]:
        """What rebuilds this network (a model card's ``network``)."""
        return {"channels": self.channels, "num_res_blocks": self.num_res_blocks, "num_styles": self.num_styles,
                "colour_hidden": self.colour.hidden, "colour_gain": self.colour.gain,
                "contrast_floor": self.contrast.floor, "noise_channels": self.noise.channels,
                "noise_std": self.noise.std}

    def per_style(self) -> list[StyleNorm | ColourMap]:
        """The layers holding one row of ``weight`` and ``bias`` per style: the norms and the colour map."""
        return [*(m for m in self.modules() if isinstance(m, StyleNorm)), self.colour]

    @torch.no_grad()
    def fold(self, weights: torch.Tensor) -> TransformerNet:
        """A single-style network computing ``self(x, weights)``: the shared weights copied, each per-style
        layer's rows mixed once by ``weights`` ``[num_styles]`` (divided by their sum)."""
        weights = weights.float() / weights.float().sum()
        return self._resized([mix_rows(weights[None], rows) for rows in self._rows()])

    @torch.no_grad()
    def add_styles(self, count: int) -> TransformerNet:
        """A copy holding ``count`` more styles after these, each starting from the mean of the held styles'
        rows of every per-style layer (a start the shared layers already work with)."""
        return self._resized([torch.cat([rows, rows.mean(0, keepdim=True).expand(count, *rows.shape[1:])])
                              for rows in self._rows()])

    def _rows(self) -> list[torch.Tensor]:
        return [getattr(layer, name) for layer in self.per_style() for name in layer.rows()]

    def _resized(self, rows: list[torch.Tensor]) -> TransformerNet:
        """A network of this size whose per-style parameters are ``rows`` (in :meth:`_rows` order)."""
        net = TransformerNet(**{**self.config(), "num_styles": rows[0].shape[0]})
        net = net.to(self.blocks[0].conv[1].weight.device)
        state = {**self.state_dict(), **dict(zip(_row_names(self), rows))}
        net.load_state_dict(state)
        return net.train(self.training)

    def train_only_styles(self, styles: Sequence[int]) -> None:
        """Freeze everything but the rows of ``styles`` in the per-style layers: the shared layers stop
        requiring gradients, and the other styles' rows get zero gradients, which Adam (without weight decay)
        turns into zero steps, so they stay bit for bit as they were."""
        mask = torch.zeros(self.num_styles)
        mask[list(styles)] = 1
        for param in self.parameters():
            param.requires_grad_(False)
        for param in self._rows():
            param.requires_grad_(True)
            rows = mask.reshape(-1, *[1] * (param.dim() - 1))
            param.register_hook(lambda grad, rows=rows: grad * rows.to(grad.device, grad.dtype))


def _row_names(net: TransformerNet) -> list[str]:
    names = {layer: name for name, layer in net.named_modules()}
    return [f"{names[layer]}.{param}" for layer in net.per_style() for param in layer.rows()]


def pad_to_fit(x: torch.Tensor) -> torch.Tensor:
    """Pad to a multiple of 4 (two stride-2 stages), and to at least 8 px so the smallest feature map
    still fits a reflection-padded 3x3 conv; reflection needs pad < side, so tiny inputs replicate."""
    h, w = x.shape[-2], x.shape[-1]
    pad_h, pad_w = (-h % 4 if h >= 8 else 8 - h), (-w % 4 if w >= 8 else 8 - w)
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else x


def add_residual(x: torch.Tensor, residual: torch.Tensor, gain: torch.Tensor, training: bool) -> torch.Tensor:
    """``x + gain * residual`` (the residual cropped back to the photo's size, summed in the photo's
    precision), clamped to [0, 1] outside training."""
    out = x + gain * residual[..., : x.shape[-2], : x.shape[-1]].to(x.dtype)
    return out if training else out.clamp(0, 1)
