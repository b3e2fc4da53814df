"""The paintings an arbitrary-style network trains on (``model=arbitrary paintings.root=DIR``): found, checked and
augmented into views, each of which is one style of the loss (its targets computed once) with its statistics for
the predictor. A few dozen paintings seen whole, flipped and cropped at several scales act like many more."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from fast_style.assets import file_sha256
from fast_style.errors import FastStyleError
from fast_style.inference.paintings import read_painting
from fast_style.io.images import IMAGE_EXTENSIONS, find_images
from fast_style.settings import whole
from fast_style.styles import StyleInfo

# The smallest crop of a painting, as a share of its sides: strokes up to about twice their size.
MIN_CROP = 0.5


@dataclass
class Paintings:
    """The training paintings (``files``) and their ``views`` ``[1, 3, H, W]``: view ``v`` of every painting
    before view ``v + 1`` of any, so consecutive images of a batch get different paintings."""

    files: list[Path]
    views: list[torch.Tensor]
    names: list[str]
    size: int

    def style(self, loss: Mapping[str, Any]) -> StyleInfo:
        """The card's style of a network trained on these: the folder, one checksum over every painting's."""
        digest = hashlib.sha256("".join(sorted(file_sha256(p) for p in self.files)).encode()).hexdigest()
        return StyleInfo(name="arbitrary", file=f"{len(self.files)} paintings in {self.files[0].parent.name}/",
                         sha256=digest, size=self.size, loss=dict(loss))


def views_of(painting: torch.Tensor, size: int, count: int, generator: torch.Generator) -> list[torch.Tensor]:
    """``count`` views of a painting ``[1, 3, H, W]``, each with long side ``size``: the whole painting, the whole
    flipped, then crops of ``MIN_CROP`` to all of each side at random places, each flipped at random."""
    views = []
    height, width = painting.shape[-2:]
    for index in range(count):
        if index < 2:
            view = painting.flip(-1) if index == 1 else painting
        else:
            share = MIN_CROP + (1 - MIN_CROP) * torch.rand(1, generator=generator).item()
            h, w = max(1, round(height * share)), max(1, round(width * share))
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            view = painting[..., top:top + h, left:left + w]
            if torch.rand(1, generator=generator).item() < 0.5:
                view = view.flip(-1)
        scale = size / max(view.shape[-2:])
        shape = (max(1, round(view.shape[-2] * scale)), max(1, round(view.shape[-1] * scale)))
        views.append(F.interpolate(view, size=shape, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1))
    return views


def load_paintings(cfg: Mapping[str, Any], seed: int = 0) -> Paintings:
    """``paintings.root`` (searched recursively) minus ``paintings.exclude`` (file names), each read at twice
    ``paintings.size`` and cut into ``paintings.views`` views."""
    if not cfg.get("root"):
        raise FastStyleError("paintings.root=DIR is required with model=arbitrary: the folder of paintings to "
                             "train on (e.g. <assets>/paintings)")
    root = Path(str(cfg["root"])).expanduser()
    if not root.is_dir():
        raise FastStyleError(f"paintings.root={root}: not a folder; give the folder of paintings to train on")
    size = whole("paintings.size", cfg.get("size"), 32, 4096, hint="the long side of each view in px, e.g. 256")
    count = whole("paintings.views", cfg.get("views"), 1, 64, hint="views per painting, e.g. 4")
    exclude = list(cfg.get("exclude") or [])
    if not isinstance(exclude, Sequence) or isinstance(exclude, str):
        raise FastStyleError(f"paintings.exclude={exclude}: give a list of file names to hold back")
    files = [p for p in find_images(root) if p.name not in {str(name) for name in exclude}]
    if not files:
        raise FastStyleError(f"paintings.root={root}: no paintings found ({', '.join(IMAGE_EXTENSIONS)}, searched "
                             f"recursively{', after paintings.exclude' if exclude else ''}); give a folder of paintings")
    generator = torch.Generator().manual_seed(seed)
    per_painting = [views_of(read_painting(path, "paintings.root", 2 * size), size, count, generator) for path in files]
    views = [views[v] for v in range(count) for views in per_painting]
    names = [f"{path.stem}#{v}" for v in range(count) for path in files]
    return Paintings(files, views, names, size)

