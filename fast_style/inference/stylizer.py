"""One forward pass per batch of photos: memory-aware batching and tiling, and the user's controls
(``strength``, ``preserve_color``) applied to the network's output. :meth:`Stylizer.from_file` is the one way
from a model file to stylised photos (every script and the benchmark use it)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from fast_style.errors import FastStyleError
from fast_style.inference.prepare import Model, for_inference, stored_in
from fast_style.inference.standalone import open_model
from fast_style.inference.tiling import ALIGN, check_tile, place, shrink, stylize_tiled, with_shared_norm_stats
from fast_style.model_card import ModelCard
from fast_style.runtime import choose_device, choose_precision, free_memory
from fast_style.settings import flag, real


# Peak memory of the Johnson network per input pixel in float32: ~1 KB, measured on the CPU at 1024x1024
# with ru_maxrss (the small model needs about half). 16-bit precisions need half of it.
BYTES_PER_PIXEL = 1024
# Of the memory free when a batch starts, the network may use this share; the rest is left for
# decoded images waiting in the queue, outputs being written and other programs.
MEMORY_SHARE = 0.5
# Luminance weights of Y in YCbCr / YIQ (ITU-R BT.601), as used by Gatys et al. for colour preservation.
LUMA = (0.299, 0.587, 0.114)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Y of YCbCr (BT.601) of ``[B, 3, H, W]`` RGB, keeping the channel dimension."""
    weights = torch.tensor(LUMA, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image * weights).sum(dim=1, keepdim=True)


def finish(photo: torch.Tensor, stylized: torch.Tensor, strength: float, preserve_color: bool) -> torch.Tensor:
    """Blend the network output with the photo (``strength``) and optionally keep the photo's colours.

    With ``preserve_color`` only luminance is transferred (Gatys et al. 2016): in YCbCr, keeping Cb and Cr
    and taking the stylised Y is the same as adding the change in Y to each of R, G and B."""
    out = stylized if strength == 1 else torch.lerp(photo, stylized, strength)
    if preserve_color:
        out = photo + (luminance(out) - luminance(photo))
    return out.clamp_(0, 1)


class Stylizer:
    """Turns batches of photos (``[B, 3, H, W]`` in [0, 1], on the CPU) into stylised ones (same shape).

    ``tile="auto"`` runs a batch whole when its estimated peak memory fits, splits the batch when one
    image fits, and tiles an image that does not fit by itself; ``tile=N`` tiles every image with a
    side over ``N`` px; ``tile=None`` never tiles. ``memory`` overrides the free memory the estimate
    starts from (bytes)."""

    def __init__(self, model: Model, device: torch.device, precision: torch.dtype = torch.float32,
                 tile: int | str | None = "auto", overlap: int = 256, strength: float = 1.0,
                 preserve_color: bool = False, memory: int | None = None) -> None:
        strength = real("strength", strength, 0, 1, hint="0 gives the photo, 1 the full stylisation")
        preserve_color = flag("preserve_color", preserve_color)
        if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap % ALIGN or overlap < 0:
            raise FastStyleError(f"tile_overlap={overlap}: use a non-negative multiple of {ALIGN} (e.g. 256)")
        if tile != "auto" and tile is not None:
            if isinstance(tile, bool) or not isinstance(tile, int) or tile % ALIGN or tile <= overlap:
                raise FastStyleError(f"tile={tile}: use auto, null (never tile) or a multiple of {ALIGN} "
                                     f"larger than tile_overlap={overlap}")
        self.model, self.device, self.precision = model, device, precision
        self.tile, self.overlap = tile, overlap
        self.strength, self.preserve_color = strength, preserve_color
        self.memory = memory
        self.card: ModelCard | None = None  # what the model file said, for models from :meth:`from_file`
        self.kind = "module"

    @classmethod
    def from_file(cls, path: str | Path, style: Any = None, device: str | torch.device = "auto",
                  precision: str | torch.dtype = "auto", channels_last: bool | str = "auto", setting: str = "style",
                  painting: dict[str, Any] | None = None, contrast_floor: float | None = None,
                  **settings: Any) -> Stylizer:
        """The stylizer of any model file (exported ``.pt``, training ``.ckpt``, TorchScript, ONNX) with
        ``style`` (a multi-style model's style name or blend), prepared for the fastest inference on
        ``device`` in ``precision`` (``auto`` or names as on the command line); ``settings`` go to
        :class:`Stylizer` (``tile``, ``strength``, ...); ``setting`` names ``style`` in errors; ``painting`` how an
        arbitrary-style network reads its painting (``style_size``, ``max_pixels``, ``assets_dir``);
        ``contrast_floor`` replaces the network's (None keeps it). Its ``card`` says what it runs."""
        device = choose_device(device) if isinstance(device, str) else device
        precision = choose_precision(precision, device) if isinstance(precision, str) else precision
        model, card, kind = open_model(path, device, style, setting, contrast_floor=contrast_floor, **(painting or {}))
        stylizer = cls(for_inference(model, device, precision, channels_last), device, precision, **settings)
        stylizer.card, stylizer.kind = card, kind
        return stylizer

    def pixel_budget(self) -> int:
        """How many input pixels one forward pass may hold, from free memory and the precision."""
        free = self.memory if self.memory is not None else free_memory(self.device)
        bytes_per_pixel = BYTES_PER_PIXEL * torch.finfo(self.precision).bits // 32
        return max(1, int(free * MEMORY_SHARE) // bytes_per_pixel)

    def plan(self, batch: int, height: int, width: int) -> tuple[int, int | None]:
        """(images per forward pass, tile side or None) for a batch of ``batch`` images of this size."""
        if self.tile is None:
            return batch, None
        if isinstance(self.tile, int):
            return (1, self.tile) if max(height, width) > self.tile else (batch, None)
        budget = self.pixel_budget()
        if height * width <= budget:
            return max(1, min(batch, budget // (height * width))), None
        # Tiles no smaller than 4 overlaps, so that blending costs at most ~2x the untiled compute.
        side = max(4 * self.overlap, int(math.sqrt(budget)) // ALIGN * ALIGN)
        return 1, side

    def forward(self, x: torch.Tensor, model: Model | None = None) -> torch.Tensor:
        """The raw output of ``model`` (default: ours) for ``x`` on the device, as float32 on the device.
        Autocast only for models whose weights are not already stored in the precision."""
        model = self.model if model is None else model
        with torch.autocast(self.device.type, dtype=self.precision, enabled=not stored_in(model, self.precision)):
            return model(x).float()

    @torch.inference_mode()
    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        chunk, tile = self.plan(batch.shape[0], *batch.shape[-2:])
        if tile is not None:
            check_tile(tile, self.overlap)
            stylized = torch.cat([self.tiled(image[None], tile) for image in batch])
            return finish(batch, stylized, self.strength, self.preserve_color)
        parts = []
        for part in batch.split(chunk):
            x = part.to(self.device, non_blocking=True)
            parts.append(finish(x, self.forward(x), self.strength, self.preserve_color).cpu())
        return torch.cat(parts)

    def tiled(self, image: torch.Tensor, tile: int) -> torch.Tensor:
        """One image ``[1, 3, H, W]`` stylised tile by tile, sharing instance-norm statistics measured on
        the whole image (shrunk to one tile) when the model allows it (see :mod:`fast_style.inference.tiling`)."""
        net = with_shared_norm_stats(self.model)
        if net is not None:
            self.forward(shrink(image, tile * tile).to(self.device), net)

        def run(part: torch.Tensor, origin: tuple[int, int]) -> torch.Tensor:
            place(net, origin)
            return self.forward(part.to(self.device), net).cpu()

        return stylize_tiled(run, image, tile, self.overlap)
