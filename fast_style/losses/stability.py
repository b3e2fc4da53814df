"""Training for temporal stability from still photos (no video data set needed).

A per-frame network turns the small changes between consecutive frames (motion, sensor noise, compression)
into large changes of its brush strokes: the film flickers. The compound regularisation of Wang et al. 2020
("Consistent Video Style Transfer via Compound Regularization"; also Eilertsen et al. 2019 and the noise
term of Gupta et al. 2017) simulates those changes on a still photo: a small random motion ``T`` (shift,
rotation, zoom) and noise ``n``, and asks the network to commute with them,

    L = weight * mean over valid pixels of (f(T(x) + n) - T(f(x)))^2

where ``f(x)`` is the output the perceptual loss already computed (one extra forward pass per step).
Pixels that ``T`` brings in from outside the photo are not compared. The identity network scores exactly
zero without noise and the noise variance with it. A network with noise channels sees the same noise in both
passes, as a film's frames do at inference (the noise is tied to the pixel, and the scene moves under it).
Both warps are bicubic: a bilinear warp blurs the target ``T(f(x))`` by up to half a pixel, so the term also
asked for blurrier strokes, and cost more style for the same stability (docs/video.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fast_style.errors import FastStyleError
from fast_style.nn.layers import held_noise
from fast_style.settings import real


class StabilityLoss(nn.Module):
    """The compound regularisation term. ``shift`` is a fraction of the image side, ``rotation`` degrees,
    ``zoom`` a relative scale change (each drawn uniformly in ``[-max, max]`` per photo), ``noise`` the
    standard deviation of Gaussian noise added to the moved photo (pixel values in [0, 1])."""

    def __init__(self, weight: float = 1.0, shift: float = 0.02, rotation: float = 1.0, zoom: float = 0.02,
                 noise: float = 0.02) -> None:
        super().__init__()
        self.weight = real("stability.weight", weight, low=0)
        self.shift = real("stability.shift", shift, 0, 0.5, hint="a fraction of the image side, e.g. 0.02")
        self.rotation = real("stability.rotation", rotation, 0, 45, hint="degrees, e.g. 1")
        self.zoom = real("stability.zoom", zoom, 0, 0.5, hint="a relative scale change, e.g. 0.02")
        self.noise = real("stability.noise", noise, low=0, hint="standard deviation in [0, 1] pixel units, e.g. 0.02")

    def random_motion(self, batch: int, device: torch.device, generator: torch.Generator | None = None
                      ) -> torch.Tensor:
        """``[B, 2, 3]`` affine matrices (``affine_grid``'s normalised coordinates: the side spans 2)."""
        def uniform(limit: float) -> torch.Tensor:
            return (torch.rand(batch, generator=generator) * 2 - 1) * limit

        angle = uniform(math.radians(self.rotation))
        scale = 1 + uniform(self.zoom)
        shift = torch.stack([uniform(2 * self.shift), uniform(2 * self.shift)], dim=1)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
        return torch.cat([theta, shift[:, :, None]], dim=2).to(device)

    def forward(self, net: nn.Module, photos: torch.Tensor, stylized: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """The weighted term for ``net``, given ``photos`` and ``stylized = net(photos)`` (already computed)."""
        photos, stylized = photos.float(), stylized.float()
        theta = self.random_motion(photos.shape[0], photos.device, generator)
        grid = F.affine_grid(theta, list(photos.shape), align_corners=False)

        def warp(image: torch.Tensor) -> torch.Tensor:
            """``T(image)``: the photo and the stylised image are moved by the same warp."""
            return F.grid_sample(image, grid, mode="bicubic", padding_mode="reflection", align_corners=False)

        moved = warp(photos)
        inside = F.grid_sample(torch.ones_like(photos[:, :1]), grid, align_corners=False) > 0.999
        if self.noise > 0:
            noise = torch.randn(moved.shape, generator=generator).to(moved.device)
            moved = moved + self.noise * noise
        target = warp(stylized)
        with held_noise(net):
            again = net(moved).float()
        difference = (again - target).pow(2).mean(dim=1, keepdim=True)
        return self.weight * difference[inside].mean() if inside.any() else difference.sum() * 0


def stability_term(settings: Mapping[str, Any]) -> StabilityLoss | None:
    """The term configured by the ``stability`` group (configs/stability/), or None when its weight is 0."""
    try:
        term = StabilityLoss(**settings)
    except TypeError as err:
        raise FastStyleError(f"stability: {err}; use weight, shift, rotation, zoom and noise") from err
    return term if term.weight > 0 else None
