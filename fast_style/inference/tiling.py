"""Stylise an image too large for memory in overlapping tiles that blend without seams.

Two things make naive tiling visible. First, a convolution near a tile edge sees reflection padding
instead of the real neighbours; each tile therefore overlaps its neighbours, the outer quarter of every
overlap is thrown away and the middle half is cross-faded linearly. Second, instance normalisation
normalises each tile with its own statistics, so a tile of sky and a tile of street come out with
different contrast. For our own networks (:class:`~fast_style.nn.transformer.TransformerNet`) the statistics
of every instance norm are therefore measured once on the whole image, shrunk to the size of one tile, and
every tile is normalised with those: tiles then compute pieces of one and the same function and meet
exactly (up to the cross-fade, where the receptive field is cut). The contrast that scales the residual
(:class:`~fast_style.nn.layers.ContrastGate`) is measured on the whole image in the same pass, and a network's noise
channels (:class:`~fast_style.nn.layers.NoiseField`) are those of the tile's place in the whole image. When the whole
image fits in one tile the statistics are the untiled ones, so tiling changes nothing but the receptive field at
tile edges.
Standalone TorchScript/ONNX models cannot be opened up; their tiles keep per-tile statistics (and noise) and rely
on the cross-fade alone.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from fast_style.inference.prepare import Model
from fast_style.nn.layers import ContrastGate, NoiseField, StyleNorm
from fast_style.nn.transformer import TransformerNet


# Side lengths stay multiples of 4 so that every tile sees the network's two stride-2 stages on the
# same pixel grid as the whole image would.
ALIGN = 4


class _SharedStatsNorm(nn.Module):
    """Stands in for a single-style :class:`StyleNorm`: the first call (the whole, shrunk image) records the
    input's per-channel mean and variance; every later call (a tile) is normalised with those."""

    def __init__(self, norm: StyleNorm) -> None:
        super().__init__()
        self.norm = norm
        self.stats: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        if self.stats is None:
            if x.shape[0] != 1:
                raise ValueError("shared instance-norm statistics are measured on one image at a time")
            var, mean = torch.var_mean(x.float(), dim=(0, 2, 3), correction=0)
            self.stats = (mean, var)
        mean, var = self.stats
        # batch_norm in eval mode is exactly "normalise with these per-channel statistics"; in float32, as
        # the statistics were measured, also for a network stored in 16 bits.
        weight, bias = (t.float() for t in self.norm.affine(style))
        return F.batch_norm(x.float(), mean, var, weight, bias, False, 0.0, self.norm.eps).to(x.dtype)


class _SharedContrast(nn.Module):
    """Stands in for a :class:`ContrastGate`: the scale of the first image it sees (the whole, shrunk image) for
    every later one (a tile)."""

    def __init__(self, gate: ContrastGate) -> None:
        super().__init__()
        self.gate = gate
        self.scale: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale is None:
            self.scale = self.gate(x)
        return self.scale


def with_shared_norm_stats(net: Model) -> nn.Module | None:
    """A copy of ``net`` whose instance norms and contrast gate use the statistics of the first image it sees, or
    None when ``net`` is not a single-style network of ours (standalone models: tiles keep their own statistics)."""
    if not isinstance(net, TransformerNet) or net.num_styles != 1:
        return None
    twin = copy.deepcopy(net)
    shared = {StyleNorm: _SharedStatsNorm, ContrastGate: _SharedContrast}
    names = [(name, shared[type(module)]) for name, module in twin.named_modules() if type(module) in shared]
    for name, stand_in in names:
        parent_name, _, child = name.rpartition(".")
        parent = twin.get_submodule(parent_name)
        setattr(parent, child, stand_in(getattr(parent, child)))
    return twin


def place(net: nn.Module | None, origin: tuple[int, int]) -> None:
    """Tell ``net``'s noise channels that what it runs next starts at ``origin`` (row, column) of the whole image."""
    for module in net.modules() if net is not None else ():
        if isinstance(module, NoiseField):
            module.origin = origin


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Window starts along one axis: a multiple of ``tile - overlap`` apart, the last window reaching the end."""
    if length <= tile:
        return [0]
    step = tile - overlap
    return [i * step for i in range(math.ceil((length - tile) / step) + 1)]


def ramp(start: int, stop: int, length: int, overlap: int) -> torch.Tensor:
    """Blend weights of the window ``[start, stop)`` along an axis of ``length`` pixels.

    Inside an overlap with a neighbour the first quarter is discarded (weight 0: the receptive field
    reaches the tile edge there), the middle half fades linearly, the last quarter is kept; the two
    neighbours' weights sum to one. Edges of the image itself keep weight one."""
    margin = overlap // 4
    width = max(overlap - 2 * margin, 1)
    x = torch.arange(start, stop, dtype=torch.float32)
    weight = torch.ones_like(x)
    if start > 0:
        weight = torch.minimum(weight, ((x - start - margin) / width).clamp(0, 1))
    if stop < length:
        weight = torch.minimum(weight, ((stop - margin - x) / width).clamp(0, 1))
    return weight


def check_tile(tile: int, overlap: int) -> None:
    """Tile and overlap sizes that keep tiles on the network's pixel grid and leave room to blend."""
    if tile % ALIGN or overlap % ALIGN or overlap < 0 or tile <= overlap:
        raise ValueError(f"tile={tile} and overlap={overlap} must be multiples of {ALIGN} with tile > overlap >= 0")


def shrink(image: torch.Tensor, max_pixels: int) -> torch.Tensor:
    """``image`` ([1, 3, H, W]) scaled down (antialiased) to at most ``max_pixels``; unchanged if it fits."""
    h, w = image.shape[-2:]
    if h * w <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / (h * w))
    size = (max(ALIGN, int(h * scale)), max(ALIGN, int(w * scale)))
    return F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def stylize_tiled(model: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor], image: torch.Tensor, tile: int,
                  overlap: int) -> torch.Tensor:
    """Run ``model`` (a CPU tile and its top-left corner in the image in, CPU float tensor out; it moves each tile to
    its device) over ``image`` ([1, 3, H, W]) in ``tile``-sized windows and blend the results; only one tile is in
    flight.

    For shared statistics, pass a model from :func:`with_shared_norm_stats` that has already seen
    ``shrink(image, tile * tile)``."""
    check_tile(tile, overlap)
    if image.shape[0] != 1:
        raise ValueError("stylize_tiled takes one image at a time")
    h, w = image.shape[-2:]
    out = torch.zeros(1, 3, h, w, dtype=torch.float32)
    total = torch.zeros(1, 1, h, w, dtype=torch.float32)
    for top in tile_starts(h, tile, overlap):
        bottom = min(top + tile, h)
        row_weight = ramp(top, bottom, h, overlap)
        for left in tile_starts(w, tile, overlap):
            right = min(left + tile, w)
            weight = row_weight[:, None] * ramp(left, right, w, overlap)[None, :]
            out[..., top:bottom, left:right] += model(image[..., top:bottom, left:right], (top, left)) * weight
            total[..., top:bottom, left:right] += weight
    return out.div_(total.clamp_min_(1e-8))
