"""The loss core: content, Gram-matrix style, sliced-Wasserstein distribution, Laplacian and total-variation losses.

One implementation serves training (one style or many), classic pixel optimisation and validation. Content and
style terms are each divided by the magnitude of their target, per layer, so the same weights give a balanced
result whichever VGG checkpoint measures the features (raw feature magnitudes differ by orders of magnitude
between checkpoints).

Gram matrices match second moments only: their optimum from a photo keeps the photo's colours under a fine
texture. The sliced-Wasserstein term (Heitz et al. 2021) matches whole distributions, of the image's colours
(``pixels``) and of VGG features, along fixed random directions, so the optimum takes the painting's palette.

A network trained on VGG terms alone paints bands of light along the photo's strong edges (halos, docs/recipes.md)
that the VGG terms barely see. The Laplacian term (Li et al. 2017) compares the photo's and the output's edges at
the scale of a few strokes, where those bands are, and is blind to a change of colour over a region.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fast_style.errors import FastStyleError
from fast_style.settings import real, weights, whole
from fast_style.losses.vgg import VGGFeatures, load_vgg


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``F Fᵀ / (C·H·W)`` per sample, computed in float32 even under autocast."""
    b, c, h, w = features.shape
    with torch.autocast(features.device.type, enabled=False):
        flat = features.reshape(b, c, h * w).float()
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def content_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Feature reconstruction loss: mean squared error."""
    return F.mse_loss(output.float(), target.float())


def style_loss(output_gram: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Style reconstruction loss: mean squared error between Gram matrices (target broadcasts over batch)."""
    return (output_gram - target_gram).pow(2).mean()


LAPLACIAN = "laplacian"  # the photo's coarse Laplacian, kept beside its content features
PIXELS = "pixels"        # a sliced layer that is the image itself (its RGB colours), not a VGG layer
QUANTILES = 1024         # each style's sorted projections are kept at this many quantiles
DIRECTIONS = 32          # random directions per sliced layer


def sorted_projections(features: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` features projected on ``directions`` ``[P, C]`` and sorted: ``[B, P, H·W]`` in float32."""
    with torch.autocast(features.device.type, enabled=False):
        flat = features.flatten(2).float()
        return torch.matmul(directions.to(flat.device), flat).sort(dim=-1).values


def quantiles(sorted_values: torch.Tensor, count: int) -> torch.Tensor:
    """Sorted ``[..., N]`` values resampled to ``count`` evenly spaced quantiles (linear interpolation)."""
    if sorted_values.shape[-1] == count:
        return sorted_values
    shape = sorted_values.shape
    flat = sorted_values.reshape(1, -1, shape[-1])
    return F.interpolate(flat, size=count, mode="linear", align_corners=True).reshape(*shape[:-1], count)


def sliced_wasserstein(sorted_output: torch.Tensor, sorted_target: torch.Tensor) -> torch.Tensor:
    """Squared sliced 2-Wasserstein distance: mean squared gap between matching quantiles, the target's
    ``[P, Q]`` quantiles resampled to the output's ``[B, P, N]``."""
    return (sorted_output - quantiles(sorted_target, sorted_output.shape[-1])).pow(2).mean()


LAPLACE_KERNEL = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def coarse_laplacian(image: torch.Tensor, pool: int) -> torch.Tensor:
    """The Laplacian of each colour channel after ``pool``-fold average pooling, in float32: the image's edges at
    the scale of ``pool`` pixels; zero over any region of one colour, whichever colour."""
    with torch.autocast(image.device.type, enabled=False):
        pooled = F.avg_pool2d(image.float(), pool, ceil_mode=True) if pool > 1 else image.float()
        kernel = LAPLACE_KERNEL.to(pooled.device).expand(pooled.shape[1], 1, 3, 3)
        return F.conv2d(pooled, kernel, groups=pooled.shape[1])


def out_of_range(image: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of the pixels from [0, 1]: zero for any valid image."""
    image = image.float()
    return (image - image.clamp(0, 1)).pow(2).mean()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels (independent of image size)."""
    image = image.float()
    dh = (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean()
    dw = (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean()
    return dh + dw


@dataclass(frozen=True)
class TermWeights:
    """The weights of one style's loss terms (``loss.content_weight``, ``style_weight``, ``tv_weight``,
    ``range_weight``, ``sliced_weight``, ``laplacian_weight``)."""

    content: float = 1.0
    style: float = 1.0
    tv: float = 0.0
    range: float = 0.0
    sliced: float = 0.0
    laplacian: float = 0.0


class PerceptualLoss(nn.Module):
    """Weighted content + style + TV + range loss against one or more style images, on one VGG trunk.

    ``forward(output, content)`` (one style) returns a dict with ``content``, ``style``, ``tv``, ``range``
    (weighted terms) and ``total``. With several styles, ``forward(output, content, styles)`` takes each
    image's style index: one VGG pass over the whole batch, then each image's terms against its own style's
    targets and weights; the batch's terms weigh each style by its share of the images (a batch of one style
    gives that style's loss), and ``<name>/<term>`` gives each style's own. Style targets are computed once by
    :meth:`set_styles` and kept as buffers.
    """

    def __init__(self, vgg: VGGFeatures, content_layers: Mapping[str, float], style_layers: Mapping[str, float],
                 weights: Sequence[TermWeights] = (TermWeights(),), names: Sequence[str] | None = None,
                 eps: float = 1e-8, sliced_layers: Mapping[str, float] | None = None,
                 laplacian_pool: int = 4) -> None:
        super().__init__()
        self.vgg = vgg
        self.content_layers = dict(content_layers)
        self.style_layers = dict(style_layers)
        self.sliced_layers = dict(sliced_layers or {})
        generator = torch.Generator().manual_seed(0)  # fixed directions: a deterministic objective (L-BFGS)
        for name in self.sliced_layers:
            channels = 3 if name == PIXELS else vgg.channels(name)
            directions = torch.randn(DIRECTIONS, channels, generator=generator)
            self.register_buffer(f"directions_{name}", directions / directions.norm(dim=1, keepdim=True),
                                 persistent=False)
        self.weights = list(weights)
        self.names = list(names) if names is not None else [f"style{i}" for i in range(len(self.weights))]
        if len(self.names) != len(self.weights):
            raise ValueError(f"{len(self.names)} style names for {len(self.weights)} sets of loss weights")
        self.eps = eps
        self.laplacian_pool = laplacian_pool if any(w.laplacian for w in self.weights) else 0   # 0: no term
        self.taps = tuple(dict.fromkeys([*self.content_layers, *self.style_layers,
                                         *(n for n in self.sliced_layers if n != PIXELS)]))
        self.has_style = False

    @property
    def num_styles(self) -> int:
        return len(self.weights)

    def check_side(self, what: str, *sides: int, hint: str = "") -> None:
        """Refuse an image (named by ``what``) with a side too small for the deepest VGG layer used."""
        if min(sides) < self.vgg.min_side:
            size = "x".join(map(str, sides))
            raise FastStyleError(f"{what}: {size} px is too small; the loss's VGG layers ({self.vgg.names[-1]}) "
                                 f"need at least {self.vgg.min_side} px on each side" + (f"; {hint}" if hint else ""))

    def set_styles(self, style_images: Sequence[torch.Tensor]) -> None:
        """Compute each style's targets from its image ``[1, 3, H, W]`` in [0, 1] (Gram matrices and sorted
        projections) and their magnitudes."""
        if len(style_images) != self.num_styles:
            raise ValueError(f"{len(style_images)} style images for {self.num_styles} styles")
        grams: dict[str, list[torch.Tensor]] = {name: [] for name in self.style_layers}
        sliced: dict[str, list[torch.Tensor]] = {name: [] for name in self.sliced_layers}
        for image in style_images:
            image = image.unsqueeze(0) if image.dim() == 3 else image
            self.check_side("the style image", *image.shape[-2:], hint="raise style.size or give a larger painting")
            with torch.no_grad():
                feats = self.vgg(image, self.taps)
            for name in self.style_layers:
                grams[name].append(gram_matrix(feats[name])[0])
            for name in self.sliced_layers:
                values = image if name == PIXELS else feats[name]
                sliced[name].append(quantiles(sorted_projections(values, self.sliced_directions(name))[0], QUANTILES))
        for name, per_style in sliced.items():
            target = torch.stack(per_style)
            self.register_buffer(f"sliced_{name}", target, persistent=False)
            self.register_buffer(f"sliced_norm_{name}", target.pow(2).mean((1, 2)) + self.eps, persistent=False)
        for name, per_style in grams.items():
            gram = torch.stack(per_style)
            self.register_buffer(f"gram_{name}", gram, persistent=False)
            self.register_buffer(f"gram_norm_{name}", gram.pow(2).mean((1, 2)) + self.eps, persistent=False)
        self.has_style = True

    def sliced_directions(self, name: str) -> torch.Tensor:
        return getattr(self, f"directions_{name}")

    def style_targets(self) -> dict[str, torch.Tensor]:
        """Every style's Gram target, ``<name>/<layer>``."""
        return {f"{style}/{layer}": getattr(self, f"gram_{layer}")[index]
                for index, style in enumerate(self.names) for layer in self.style_layers}

    def forward(self, output: torch.Tensor, content: torch.Tensor, styles: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        if not self.has_style:
            raise RuntimeError("PerceptualLoss.set_styles() must be called before computing the loss")
        out_feats = self.vgg(output, self.taps)
        with torch.no_grad():
            content_feats = self.vgg(content, tuple(self.content_layers))
            if self.laplacian_pool:
                content_feats[LAPLACIAN] = coarse_laplacian(content, self.laplacian_pool)
        return self.terms(output, out_feats, content_feats, styles)

    def terms(self, output: torch.Tensor, out_feats: Mapping[str, torch.Tensor],
              content_feats: Mapping[str, torch.Tensor], styles: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The weighted terms from VGG features already computed (and, with a Laplacian term, the photo's coarse
        Laplacian as ``content_feats["laplacian"]``); lets a caller schedule the VGG passes
        its own way (the benchmark's textbook baseline) while the loss definitions stay these."""
        if styles is None:
            if self.num_styles != 1:
                raise ValueError(f"a loss of {self.num_styles} styles needs each image's style index")
            return self.style_terms(0, output, out_feats, content_feats)
        terms: dict[str, torch.Tensor] = {}
        for index, name in enumerate(self.names):
            images = (styles == index).nonzero().flatten()
            if not len(images):
                continue
            own = self.style_terms(index, output[images], {n: f[images] for n, f in out_feats.items()},
                                   {n: f[images] for n, f in content_feats.items()})
            share = len(images) / len(styles)
            for key, value in own.items():
                terms[key] = terms.get(key, 0) + share * value
                terms[f"{name}/{key}"] = value
        return terms

    def style_terms(self, index: int, output: torch.Tensor, out_feats: Mapping[str, torch.Tensor],
                    content_feats: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The terms of images that all have style ``index``."""
        weights = self.weights[index]
        c_loss = sum(
            w * content_loss(out_feats[n], content_feats[n]) / (content_feats[n].float().pow(2).mean() + self.eps)
            for n, w in self.content_layers.items()
        )
        s_loss = sum(
            w * style_loss(gram_matrix(out_feats[n]), getattr(self, f"gram_{n}")[index])
            / getattr(self, f"gram_norm_{n}")[index]
            for n, w in self.style_layers.items()
        )
        terms = {
            "content": weights.content * c_loss,
            "style": weights.style * s_loss,
            "tv": weights.tv * total_variation(output),
            "range": weights.range * out_of_range(output),
        }
        if self.sliced_layers:
            terms["sliced"] = weights.sliced * sum(
                w * sliced_wasserstein(sorted_projections(output if n == PIXELS else out_feats[n],
                                                          self.sliced_directions(n)),
                                       getattr(self, f"sliced_{n}")[index]) / getattr(self, f"sliced_norm_{n}")[index]
                for n, w in self.sliced_layers.items())
        if self.laplacian_pool:
            target = content_feats[LAPLACIAN]
            terms["laplacian"] = weights.laplacian * F.mse_loss(
                coarse_laplacian(output, self.laplacian_pool), target) / (target.pow(2).mean() + self.eps)
        terms["total"] = sum(terms.values())
        return terms


def build_loss(cfgs: Sequence[Mapping[str, Any]], style_images: Sequence[torch.Tensor],
               names: Sequence[str] | None = None, assets_dir: str | Path | None = None
               ) -> tuple[PerceptualLoss, dict[str, str]]:
    """The loss of one ``loss`` config (arch, weights, layers, loss weights) per style image, all on the VGG
    trunk and layers of the first config (the configs of a multi-style run differ only in their loss weights).

    Returns the loss and the description of the VGG weights it loaded."""
    content_layers = weights("loss.content_layers", cfgs[0]["content_layers"])
    style_layers = weights("loss.style_layers", cfgs[0]["style_layers"])
    sliced = cfgs[0].get("sliced_layers") or {}   # model files from before the sliced term have none
    sliced_layers = weights("loss.sliced_layers", sliced) if sliced else {}
    terms = [TermWeights(*(real(f"loss.{name}", cfg.get(name, 0), low=0) for name in
                           ("content_weight", "style_weight", "tv_weight", "range_weight", "sliced_weight",
                            "laplacian_weight")))
             for cfg in cfgs]
    pool = whole("loss.laplacian_pool", cfgs[0].get("laplacian_pool", 4), 1,
                 hint="the pooling before the Laplacian term, in pixels, e.g. 4")
    taps = [*content_layers, *style_layers, *(n for n in sliced_layers if n != PIXELS)]
    vgg, vgg_info = load_vgg(cfgs[0]["arch"], cfgs[0]["weights"], taps, assets_dir)
    loss = PerceptualLoss(vgg, content_layers, style_layers, terms, names, sliced_layers=sliced_layers,
                          laplacian_pool=pool)
    loss.set_styles(style_images)
    return loss, vgg_info
