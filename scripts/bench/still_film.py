"""A stand-in film made from a real photo, for measuring video speed and flicker where no film is at hand:
a slow camera move (pan and zoom) across the photo, with sensor noise on every frame, H.264-encoded the
way a camera or phone would store it. Real footage adds what this lacks (moving objects, motion blur,
lighting changes, occlusions), so figures measured on it are a first estimate, not a film's."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from fast_style.io.atomic import atomic_write
from fast_style.io.images import read_photo
from fast_style.io.video_files import CONTAINERS


def camera_move(photo: torch.Tensor, frames: int, width: int, height: int, pan: float = 0.25, zoom: float = 0.15
                ) -> list[torch.Tensor]:
    """``frames`` views (``uint8 [3, height, width]``) of ``photo`` by a camera that pans ``pan`` of the photo's
    width left to right while zooming in by ``zoom``, moving smoothly (ease in and out)."""
    _, rows, cols = photo.shape
    aspect = width / height
    views = []
    for index in range(frames):
        t = 0.5 - 0.5 * np.cos(np.pi * index / max(1, frames - 1))  # ease in, ease out
        crop_w = min(cols, rows * aspect) * (1 - pan) * (1 - zoom * t)
        crop_h = crop_w / aspect
        left = (cols - crop_w) * (0.5 - pan / 2 + pan * t)
        top = (rows - crop_h) / 2
        views.append(_subpixel_crop(photo, left, top, crop_w, crop_h, width, height))
    return views


def _subpixel_crop(photo: torch.Tensor, left: float, top: float, crop_w: float, crop_h: float, width: int,
                   height: int) -> torch.Tensor:
    """The window ``(left, top, crop_w, crop_h)`` (fractional px) resampled to ``width x height``: a
    camera moves by fractions of a pixel per frame, which whole-pixel crops would turn into jumps."""
    _, rows, cols = photo.shape
    xs = (left + (torch.arange(width) + 0.5) * crop_w / width) / cols * 2 - 1
    ys = (top + (torch.arange(height) + 0.5) * crop_h / height) / rows * 2 - 1
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1)[None]
    # Antialias first: the window is shrunk by up to cols / width.
    shrink = min(1.0, width / crop_w)
    source = photo[None].float()
    if shrink < 0.9:
        source = TF.resize(source, [round(rows * shrink), round(cols * shrink)], antialias=True)
    view = torch.nn.functional.grid_sample(source, grid.float(), mode="bicubic", align_corners=False)
    return view[0].round().clamp(0, 255).to(torch.uint8)


def write_still_film(photo: str | Path | torch.Tensor, output: str | Path, width: int = 640, height: int = 360,
                     frames: int = 72, rate: int = 24, noise: float = 2.0, crf: int = 23, seed: int = 0) -> Path:
    """Write the camera move over ``photo`` (a file, or ``uint8 [3, H, W]``) to ``output`` (atomically): ``noise`` is the standard
    deviation of the per-frame sensor noise in 8-bit levels, ``crf`` the H.264 quality (23: x264's default)."""
    generator = torch.Generator().manual_seed(seed)
    views = camera_move(photo if isinstance(photo, torch.Tensor) else read_photo(photo), frames, width, height)
    output = Path(output)
    with atomic_write(output) as tmp, av.open(str(tmp), "w", format=CONTAINERS[output.suffix.lower()]) as film:
        stream = film.add_stream("libx264", rate=rate, options={"crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, rate)
        for index, view in enumerate(views):
            noisy = view.float() + noise * torch.randn(view.shape, generator=generator)
            image = noisy.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = index
            film.mux(stream.encode(frame))
        film.mux(stream.encode(None))
    return output
