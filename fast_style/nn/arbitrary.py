"""The arbitrary-style network (Ghiasi et al. 2017): the transformer of :mod:`fast_style.nn.transformer` whose
per-style parameters (every norm's scale and shift, the colour map) are predicted from the painting.

The painting is described by the frozen loss VGG's channel means and standard deviations at the style layers
(what AdaIN matches, Huang & Belongie 2017), standardised over the training paintings; a small network maps them
to a style vector ``s`` of ``style_dim`` numbers, and every per-style parameter is Ghiasi's dense layer of it:
``base + mean_i(s_i * direction_i) / 2``. That is a transformer of ``1 + style_dim`` style rows mixed by the
weights ``[1, s / (2 * style_dim)]``, so blending, folding and export are a multi-style network's. ``s`` is
standardised across its numbers (zero mean, unit spread): the weights sum to 1, each painting's gradient reaches
every direction with its own sign from the first step, and Adam moves a painting's own parameters by under half a
learning rate per step, the shared base by one (a raw dense layer moved them by the sum of its rows' steps and
diverged within 50 steps; half-scale directions learn as smoothly as single styles on two paintings, full-scale
ones jumped at the first step; a softmax over prototypes saturated or stayed an average: docs/arbitrary.md).
:meth:`ArbitraryStyleNet.fold` turns one painting, or a blend of paintings (a mix of their weights), into a plain
single-style :class:`TransformerNet`, and inference, tiling, video and export run it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fast_style.nn.transformer import TransformerNet
from fast_style.settings import whole


# The painting's statistics when no layers are given: configs/loss/vgg16.yaml's style layers.
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def vgg_width(layer: str) -> int:
    """The channels of a VGG16/19 layer such as ``relu3_3``: 64 in block 1, doubling per block up to 512."""
    block = int(layer.removeprefix("relu").removeprefix("conv").split("_")[0])
    return min(512, 64 * 2 ** (block - 1))


def painting_statistics(features: Mapping[str, torch.Tensor], layers: Sequence[str]) -> torch.Tensor:
    """``[B, 2 * channels]``: each layer's per-channel mean and standard deviation over the image, in float32."""
    parts = []
    for name in layers:
        flat = features[name].float().flatten(2)
        parts += [flat.mean(-1), flat.std(-1, unbiased=False)]
    return torch.cat(parts, 1)


class StylePredictor(nn.Module):
    """Painting statistics ``[B, D]`` to mixing weights ``[B, 1 + style_dim]``: standardised by the training
    paintings' mean and spread (set once with :meth:`standardise`), a two-layer perceptron to the style vector,
    standardised across its numbers, and the weights ``[1, s / (2 * style_dim)]``."""

    def __init__(self, stats_dim: int, style_dim: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(stats_dim))
        self.register_buffer("scale", torch.ones(stats_dim))
        self.net = nn.Sequential(nn.Linear(stats_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, style_dim))

    @torch.no_grad()
    def standardise(self, stats: torch.Tensor) -> None:
        """Centre and scale the inputs by ``stats`` ``[N, D]`` of the training paintings."""
        self.mean.copy_(stats.mean(0))
        self.scale.copy_(stats.std(0, unbiased=False).clamp_min(1e-6))

    def style_vector(self, stats: torch.Tensor) -> torch.Tensor:
        """``[B, style_dim]``: zero mean and unit spread across its numbers."""
        vector = self.net((stats.float() - self.mean) / self.scale)
        return F.layer_norm(vector, vector.shape[-1:])

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        vector = self.style_vector(stats)
        return torch.cat([torch.ones_like(vector[:, :1]), vector / (2 * vector.shape[-1])], 1)


class ArbitraryStyleNet(nn.Module):
    """The transformer of ``1 + style_dim`` style rows (a base and one direction per number of the style vector)
    and the predictor of their weights.

    ``forward(x, stats)`` stylises each photo with the painting whose statistics are ``stats`` ``[B, D]`` (or
    ``[1, D]`` for the whole batch). The directions start at zero, so every painting starts as the photo
    unchanged, as a fresh network does; they grow as the paintings' style vectors pull them apart."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64), num_res_blocks: int = 3, style_dim: int = 32,
                 hidden: int = 256, style_layers: Sequence[str] | None = None, colour_hidden: int = 0,
                 colour_gain: float = 30.0, contrast_floor: float = 0.0, noise_channels: int = 0,
                 noise_std: float = 0.1) -> None:
        super().__init__()
        self.style_dim = whole("model.style_dim", style_dim, 2, hint="the style vector's length, e.g. 32")
        self.hidden = whole("model.hidden", hidden, 1, hint="the predictor's hidden width, e.g. 256")
        self.style_layers = [str(layer) for layer in style_layers or STYLE_LAYERS]
        self.transformer = TransformerNet(channels, num_res_blocks, 1 + self.style_dim, colour_hidden, colour_gain,
                                          contrast_floor, noise_channels, noise_std)
        with torch.no_grad():
            for rows in self.transformer._rows():
                rows[1:].zero_()
        stats_dim = 2 * sum(vgg_width(layer) for layer in self.style_layers)
        self.predictor = StylePredictor(stats_dim, self.style_dim, self.hidden)

    def config(self) -> dict[str, object]:
        """What rebuilds this network (a model card's ``network``)."""
        transformer = {k: v for k, v in self.transformer.config().items() if k != "num_styles"}
        return {**transformer, "style_dim": self.style_dim, "hidden": self.hidden, "style_layers": self.style_layers}

    def forward(self, x: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        weights = self.predictor(stats)
        return self.transformer(x, weights.expand(x.shape[0], -1) if weights.shape[0] == 1 else weights)

    @torch.no_grad()
    def fold(self, stats: torch.Tensor, shares: torch.Tensor | None = None) -> TransformerNet:
        """The single-style network of the paintings with statistics ``stats`` ``[N, D]``, blended by ``shares``
        ``[N]`` (summing to 1; default: the first painting alone)."""
        weights = self.predictor(stats)
        shares = torch.ones(1) if shares is None else shares
        return self.transformer.fold((shares.to(weights)[:, None] * weights[: len(shares)]).sum(0)).eval()
