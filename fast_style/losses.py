"""The loss core: content, Gram-matrix style and total-variation losses on VGG features.

One implementation serves training, classic pixel optimisation and validation. Content and style terms
are each divided by the magnitude of their target, per layer, so the same weights give a balanced result
whichever VGG checkpoint measures the features (raw feature magnitudes differ by orders of magnitude
between checkpoints).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fast_style.errors import FastStyleError
from fast_style.settings import real, weights
from fast_style.vgg import VGGFeatures, load_vgg


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


class PerceptualLoss(nn.Module):
    """Weighted content + style + TV loss against one style image.

    ``forward(output, content)`` returns a dict with ``content``, ``style``, ``tv`` (weighted terms) and
    ``total``. Style targets are computed once by :meth:`set_style` and kept as buffers.
    """

    def __init__(self, vgg: VGGFeatures, content_layers: Mapping[str, float], style_layers: Mapping[str, float],
                 content_weight: float = 1.0, style_weight: float = 1.0, tv_weight: float = 0.0,
                 range_weight: float = 0.0,
                 eps: float = 1e-8) -> None:
        super().__init__()
        self.vgg = vgg
        self.content_layers = dict(content_layers)
        self.style_layers = dict(style_layers)
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        self.range_weight = range_weight
        self.eps = eps
        self.taps = tuple(dict.fromkeys([*self.content_layers, *self.style_layers]))
        self.has_style = False

    def check_side(self, what: str, *sides: int, hint: str = "") -> None:
        """Refuse an image (named by ``what``) with a side too small for the deepest VGG layer used."""
        if min(sides) < self.vgg.min_side:
            size = "x".join(map(str, sides))
            raise FastStyleError(f"{what}: {size} px is too small; the loss's VGG layers ({self.vgg.names[-1]}) "
                                 f"need at least {self.vgg.min_side} px on each side" + (f"; {hint}" if hint else ""))

    def set_style(self, style_image: torch.Tensor) -> None:
        """Compute the Gram targets of ``style_image`` ``[1, 3, H, W]`` in [0, 1] and their magnitudes."""
        self.check_side("the style image", *style_image.shape[-2:],
                        hint="raise style.size or give a larger painting")
        with torch.no_grad():
            feats = self.vgg(style_image, tuple(self.style_layers))
        for name in self.style_layers:
            gram = gram_matrix(feats[name])
            self.register_buffer(f"gram_{name}", gram, persistent=False)
            self.register_buffer(f"gram_norm_{name}", gram.pow(2).mean() + self.eps, persistent=False)
        self.has_style = True

    def style_targets(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, f"gram_{name}") for name in self.style_layers}

    def forward(self, output: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.has_style:
            raise RuntimeError("PerceptualLoss.set_style() must be called before computing the loss")
        out_feats = self.vgg(output, self.taps)
        with torch.no_grad():
            content_feats = self.vgg(content, tuple(self.content_layers))
        return self.terms(output, out_feats, content_feats)

    def terms(self, output: torch.Tensor, out_feats: Mapping[str, torch.Tensor],
              content_feats: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The weighted terms from VGG features already computed; lets a caller schedule the VGG passes
        its own way (the benchmark's textbook baseline) while the loss definitions stay these."""
        c_loss = sum(
            w * content_loss(out_feats[n], content_feats[n]) / (content_feats[n].float().pow(2).mean() + self.eps)
            for n, w in self.content_layers.items()
        )
        s_loss = sum(
            w * style_loss(gram_matrix(out_feats[n]), getattr(self, f"gram_{n}")) / getattr(self, f"gram_norm_{n}")
            for n, w in self.style_layers.items()
        )
        terms = {
            "content": self.content_weight * c_loss,
            "style": self.style_weight * s_loss,
            "tv": self.tv_weight * total_variation(output),
            "range": self.range_weight * out_of_range(output),
        }
        terms["total"] = terms["content"] + terms["style"] + terms["tv"] + terms["range"]
        return terms


class MultiStyleLoss(nn.Module):
    """One :class:`PerceptualLoss` per style, all on one VGG trunk: one VGG pass over the whole batch, then
    each image's terms against its own style's targets and loss weights.

    ``forward(output, content, styles)`` (``styles``: each image's style index) returns the terms of the
    batch (each style's terms weighted by its share of the images, so a batch of one style gives that
    style's loss) and, per style present, ``<name>/<term>``."""

    def __init__(self, losses: Sequence[PerceptualLoss], names: Sequence[str]) -> None:
        super().__init__()
        self.losses = nn.ModuleList(losses)
        self.names = list(names)

    @property
    def vgg(self) -> VGGFeatures:
        return self.losses[0].vgg

    def check_side(self, what: str, *sides: int, hint: str = "") -> None:
        self.losses[0].check_side(what, *sides, hint=hint)

    def style_targets(self) -> dict[str, torch.Tensor]:
        return {f"{name}/{layer}": gram for name, loss in zip(self.names, self.losses)
                for layer, gram in loss.style_targets().items()}

    def forward(self, output: torch.Tensor, content: torch.Tensor, styles: torch.Tensor) -> dict[str, torch.Tensor]:
        first = self.losses[0]
        out_feats = self.vgg(output, first.taps)
        with torch.no_grad():
            content_feats = self.vgg(content, tuple(first.content_layers))
        terms: dict[str, torch.Tensor] = {}
        for index, (name, loss) in enumerate(zip(self.names, self.losses)):
            images = (styles == index).nonzero().flatten()
            if not len(images):
                continue
            own = loss.terms(output[images], {n: f[images] for n, f in out_feats.items()},
                             {n: f[images] for n, f in content_feats.items()})
            share = len(images) / len(styles)
            for key, value in own.items():
                terms[key] = terms.get(key, 0) + share * value
                terms[f"{name}/{key}"] = value
        return terms


def build_losses(cfgs: Sequence[Mapping[str, Any]], style_images: Sequence[torch.Tensor],
                 assets_dir: str | Path | None = None) -> tuple[list[PerceptualLoss], dict[str, str]]:
    """One loss per ``loss`` config (arch, weights, layers, loss weights) and style image, all on the VGG
    trunk of the first config (the configs differ only in their loss weights).

    Returns the losses and the description of the VGG weights they share."""
    content_layers = weights("loss.content_layers", cfgs[0]["content_layers"])
    style_layers = weights("loss.style_layers", cfgs[0]["style_layers"])
    scales = [[real(f"loss.{name}", cfg[name], low=0) for name in ("content_weight", "style_weight", "tv_weight",
                                                                   "range_weight")] for cfg in cfgs]
    vgg, vgg_info = load_vgg(cfgs[0]["arch"], cfgs[0]["weights"], [*content_layers, *style_layers], assets_dir)
    losses = []
    for style_scales, style_image in zip(scales, style_images):
        loss = PerceptualLoss(vgg, content_layers, style_layers, *style_scales)
        loss.set_style(style_image.unsqueeze(0) if style_image.dim() == 3 else style_image)
        losses.append(loss)
    return losses, vgg_info


def build_loss(cfg: Mapping[str, Any], style_image: torch.Tensor, assets_dir: str | Path | None = None
               ) -> tuple[PerceptualLoss, dict[str, str]]:
    """Build the loss from a ``loss`` config (arch, weights, layers, loss weights) and a style image.

    Returns the loss and the description of the VGG weights it loaded."""
    losses, vgg_info = build_losses([cfg], [style_image], assets_dir)
    return losses[0], vgg_info
