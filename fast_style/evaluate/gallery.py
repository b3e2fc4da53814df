"""The gallery: photos stylised by several trained networks, each network's painting on top.

One grid, so people see at a glance what the networks do to photos they never saw:

    (blank)   painting 1   painting 2   ...
    photo 1   photo 1/1    photo 1/2    ...
    photo 2   photo 2/1    photo 2/2    ...
    photo 1   blend 0      blend 0.25   ...     (optional: one multi-style network's blend of two styles)

A multi-style network gives one column per style it holds. With the independent style judge, each stylised
tile is captioned with its style distance to the column's painting (lower is closer).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from fast_style.errors import FastStyleError
from fast_style.evaluate.quality import contact_sheet
from fast_style.evaluate.style_distance import StyleJudge
from fast_style.inference.stylizer import Stylizer
from fast_style.io.images import DEFAULT_MAX_PIXELS, UnreadablePhoto, load_image, read_checked, read_tensor
from fast_style.styles import StyleInfo, find_style_image

log = logging.getLogger(__name__)


def fit_tile(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[1, 3, H, W]`` scaled to cover ``height`` x ``width`` and centre-cropped to it, so every tile of
    the grid lines up whatever the photo's or painting's shape."""
    scale = max(height / image.shape[-2], width / image.shape[-1])
    size = [max(height, round(image.shape[-2] * scale)), max(width, round(image.shape[-1] * scale))]
    return TF.center_crop(TF.resize(image, size, antialias=True), [height, width]).clamp(0, 1)


def gallery(networks: Sequence[tuple[StyleInfo, Stylizer]], photos: Sequence[Path],
            tile: tuple[int, int] = (192, 256), max_size: int | None = 512,
            assets_dir: str | Path | None = None, blend: Sequence[Stylizer] = (),
            max_pixels: int | None = DEFAULT_MAX_PIXELS, judge: StyleJudge | None = None,
            paintings: Sequence[Path | None] | None = None) -> tuple[Image.Image, list[tuple[Path, str]]]:
    """The gallery grid of ``photos`` (shrunk to at most ``max_size`` px on the long side before they are
    stylised) through each network, given as (the style it holds, its :class:`Stylizer`), and a last row of
    the first photo through each of ``blend`` (the steps of a blend between two styles); returns the grid
    and the photos that could not be read, with why (read as ``infer.py`` reads them: the same ``max_pixels``).
    With a ``judge``, each stylised photo's tile is captioned with its style distance to the painting.
    ``paintings``: each column's painting file where it is not the style's own (found by checksum otherwise),
    as for the paintings handed to an arbitrary-style network."""
    height, width = tile
    given = list(paintings) if paintings is not None else [None] * len(networks)
    files = [path or find_style_image(style, assets_dir, None) for (style, _), path in zip(networks, given)]
    paintings = [fit_tile(read_tensor(path)[None], height, width) for path in files]
    embeddings = [judge.embed(load_image(path)) for path in files] if judge else []
    rows = [[torch.ones(1, 3, height, width), *paintings]]
    captions: list[list[str]] = [[]]
    skipped, first = [], None
    for path in photos:
        try:
            photo = read_checked(path, max_size, max_pixels)[None].float().div(255)
        except UnreadablePhoto as err:
            skipped.append((path, str(err)))
            continue
        first = photo if first is None else first
        outputs = [stylize(photo) for _, stylize in networks]
        rows.append([fit_tile(image, height, width) for image in (photo, *outputs)])
        captions.append(["", *(f"style distance {judge.distance(image, target):.2f}"
                               for image, target in zip(outputs, embeddings))])
    if first is None:
        raise FastStyleError(f"none of the {len(photos)} photos could be read")
    if blend:
        photo = first
        rows.append([fit_tile(image, height, width) for image in (photo, *(stylize(photo) for stylize in blend))])
    labels = ["", *(style.name for style, _ in networks)]
    return contact_sheet(rows, height=height, labels=labels, captions=captions), skipped
