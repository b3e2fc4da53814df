"""The arbitrary-style network (Ghiasi et al. 2017): the transformer of :mod:`fast_style.nn.transformer` whose
per-style parameters (every norm's scale and shift, the colour map) are predicted from the painting.

The painting is described by the frozen loss VGG's channel means and standard deviations at the style layers
(what AdaIN matches, Huang & Belongie 2017), standardised over the training paintings; a small network maps
them to a style vector of ``prototypes`` weights (a softmax). The transformer is a multi-style network of that
many learned prototype styles, and a painting's style is the blend of them its weights give. A blend keeps every
parameter inside the prototypes' range, so training is as stable as a multi-style network's (an unbounded linear
map from the style vector, Ghiasi's dense layer, moved the parameters by the sum of all its rows' steps and
diverged here within 50 steps). :meth:`ArbitraryStyleNet.fold` turns one painting, or a blend of paintings (a
mix of their weights), into a plain single-style :class:`TransformerNet`, and inference, tiling, video and export
run it unchanged.
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


# The prototype logits are standardised across prototypes and scaled by this before the softmax, so their scale
# cannot grow until the softmax saturates: free logits went one-hot within 1800 steps, 68 paintings on 5
# prototypes. With it every painting is a wide blend (too wide after 1200 steps: docs/arbitrary.md).
SPREAD = 2.0


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
    """Painting statistics ``[B, D]`` to prototype weights ``[B, prototypes]``: standardised by the training
    paintings' mean and spread (set once with :meth:`standardise`), a two-layer perceptron, and a softmax of its
    logits standardised across prototypes (:data:`SPREAD`)."""

    def __init__(self, stats_dim: int, prototypes: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(stats_dim))
        self.register_buffer("scale", torch.ones(stats_dim))
        self.net = nn.Sequential(nn.Linear(stats_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, prototypes))

    @torch.no_grad()
    def standardise(self, stats: torch.Tensor) -> None:
        """Centre and scale the inputs by ``stats`` ``[N, D]`` of the training paintings."""
        self.mean.copy_(stats.mean(0))
        self.scale.copy_(stats.std(0, unbiased=False).clamp_min(1e-6))

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        logits = self.net((stats.float() - self.mean) / self.scale)
        return (SPREAD * F.layer_norm(logits, logits.shape[-1:])).softmax(-1)


class ArbitraryStyleNet(nn.Module):
    """The transformer of ``prototypes`` styles and the predictor of their blend.

    ``forward(x, stats)`` stylises each photo with the painting whose statistics are ``stats`` ``[B, D]`` (or
    ``[1, D]`` for the whole batch). Every prototype starts as the photo unchanged, as a fresh network does; they
    part as the paintings' different weights pull them apart."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64), num_res_blocks: int = 3, prototypes: int = 32,
                 hidden: int = 256, style_layers: Sequence[str] | None = None, colour_hidden: int = 0,
                 colour_gain: float = 30.0) -> None:
        super().__init__()
        self.prototypes = whole("model.prototypes", prototypes, 2, hint="the prototype styles blended, e.g. 32")
        self.hidden = whole("model.hidden", hidden, 1, hint="the predictor's hidden width, e.g. 256")
        self.style_layers = [str(layer) for layer in style_layers or STYLE_LAYERS]
        self.transformer = TransformerNet(channels, num_res_blocks, self.prototypes, colour_hidden, colour_gain)
        stats_dim = 2 * sum(vgg_width(layer) for layer in self.style_layers)
        self.predictor = StylePredictor(stats_dim, self.prototypes, self.hidden)

    def config(self) -> dict[str, object]:
        """What rebuilds this network (a model card's ``network``)."""
        transformer = {k: v for k, v in self.transformer.config().items() if k != "num_styles"}
        return {**transformer, "prototypes": self.prototypes, "hidden": self.hidden, "style_layers": self.style_layers}

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
