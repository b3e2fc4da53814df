"""How a stylised photo looks, in numbers a loss value hides: blown-out and crushed shares, the halo probe, and
contact sheets.

A network can lower its training loss while turning regions of the photo flat white (glows, halos) or
flat black; these shares count exactly that, relative to the photo, so a white sky that was already
white is not held against the network. A network can also paint a glowing band along every strong edge (a halo)
that neither share sees; the halo probe measures it on a picture made for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image, ImageDraw
from torchvision.transforms.v2 import functional as TF

from fast_style.io.images import tensor_to_pil
from fast_style.inference.stylizer import luminance

BLOWN_OUT = 0.95   # luminance at or above which a pixel reads as flat white
CRUSHED = 0.05     # luminance at or below which a pixel reads as flat black


def blown_out_share(output: torch.Tensor, photo: torch.Tensor, threshold: float = BLOWN_OUT) -> float:
    """Share of pixels that are white (BT.601 luma >= ``threshold``) in ``output`` but were not in ``photo``."""
    return float(((luminance(output) >= threshold) & (luminance(photo) < threshold)).float().mean())


def crushed_share(output: torch.Tensor, photo: torch.Tensor, threshold: float = CRUSHED) -> float:
    """Share of pixels that are black (BT.601 luma <= ``threshold``) in ``output`` but were not in ``photo``."""
    return float(((luminance(output) <= threshold) & (luminance(photo) > threshold)).float().mean())


PROBE_SKIES = ((0.5, 0.6, 0.8), (0.85, 0.85, 0.9), (0.9, 0.6, 0.3))   # blue, overcast and evening skies
PROBE_SIZE = (256, 384)                                                # the probe picture's height and width


def tower_box(height: int, width: int) -> tuple[int, int, int]:
    """The probe tower's top row and its left and right columns (right exclusive): it stands on the bottom edge,
    five eighths of the picture high, in the middle sixth of its width."""
    return height * 3 // 8, width * 5 // 12, width * 7 // 12


def tower(sky: Sequence[float], height: int = PROBE_SIZE[0], width: int = PROBE_SIZE[1]) -> torch.Tensor:
    """The halo probe's picture ``[1, 3, H, W]``: a flat ``sky`` with a dark tower in it (:func:`tower_box`)."""
    image = torch.tensor(sky, dtype=torch.float32).view(1, 3, 1, 1).repeat(1, 1, height, width)
    top, left, right = tower_box(height, width)
    image[..., top:, left:right] = 0.08
    return image


def halo_levels(network: Callable[[torch.Tensor], torch.Tensor], device: torch.device | str = "cpu") -> float:
    """How much brighter or more coloured a network paints the sky beside a dark tower than far from it.

    On each probe sky: the mean colour distance (RGB, 0-255 levels) of the output 3 to 12 px outside the tower from
    the far sky's mean colour, minus the same distance within the far sky (so texture painted all over the sky, as
    far as near, adds nothing). Mean over the skies; 0 for a network that leaves edges alone."""
    h, w = PROBE_SIZE
    top, left, right = tower_box(h, w)
    near = torch.zeros(h, w, dtype=torch.bool)
    near[top - 12:, left - 12: right + 12] = True
    near[top - 3:, left - 3: right + 3] = False
    far = torch.zeros(h, w, dtype=torch.bool)
    far[16: top - 32, 16: left - 32] = True        # the sky's top-left, well away from the tower and borders
    far[16: top - 32, right + 32: w - 16] = True
    levels = []
    for sky in PROBE_SKIES:
        with torch.no_grad():
            out = network(tower(sky, h, w).to(device)).float().cpu()[0]
        colour = out[:, far].mean(1)
        distance = (out - colour[:, None, None]).norm(dim=0)
        levels.append(255 * (distance[near].mean() - distance[far].mean()).item())
    return sum(levels) / len(levels)


def fit_height(image: torch.Tensor, height: int) -> torch.Tensor:
    """``[1, 3, H, W]`` scaled to ``height`` rows, keeping its aspect ratio."""
    h, w = image.shape[-2:]
    if h == height:
        return image
    return TF.resize(image.float(), [height, max(1, round(w * height / h))], antialias=True).clamp(0, 1)


def contact_sheet(rows: Sequence[Sequence[torch.Tensor]], height: int = 192, labels: Sequence[str] = (),
                  pad: int = 4, captions: Sequence[Sequence[str]] = ()) -> Image.Image:
    """A white sheet of tiles: one row per entry of ``rows``, each ``[1, 3, H, W]`` tile scaled to
    ``height`` (aspect kept) and placed left to right, with optional column labels over the first row and
    ``captions[row][column]`` in a white box at a tile's bottom-left corner. Photos of any size and shape fit."""
    scaled = [[tensor_to_pil(fit_height(tile, height)[0]) for tile in row] for row in rows]
    caption = 4 + 11 * max((label.count("\n") + 1 for label in labels), default=0)
    width = max((sum(t.width + pad for t in row) + pad for row in scaled), default=pad)
    sheet = Image.new("RGB", (width, caption + len(scaled) * (height + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(scaled):
        x, y = pad, caption + pad + r * (height + pad)
        for c, tile in enumerate(row):
            sheet.paste(tile, (x, y))
            if r == 0 and c < len(labels):
                draw.text((x, 2), labels[c], fill="black")
            if r < len(captions) and c < len(captions[r]) and captions[r][c]:
                box = draw.textbbox((x + 3, y + height - 14), captions[r][c])
                draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill="white")
                draw.text((x + 3, y + height - 14), captions[r][c], fill="black")
            x += tile.width + pad
    return sheet
