"""The style image: where it comes from (asset folder, cache, download or any path) and its checksum."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from fast_style.assets import Asset, file_sha256, resolve
from fast_style.errors import FastStyleError
from fast_style.image_io import read_tensor
from fast_style.settings import whole


def style_path(style: Mapping[str, Any], assets_dir: str | Path | None = None) -> Path:
    """``style.image`` if given, else ``styles/<style.file>`` from the asset folder, cache or URL."""
    if style.get("image"):
        path = Path(style["image"]).expanduser()
        if not path.is_file():
            raise FastStyleError(f"style.image={path}: file not found; give the path of a painting")
        return path
    return resolve(Asset(f"styles/{style['file']}", style.get("url"), style.get("sha256")), assets_dir)


def load_style(style: Mapping[str, Any], assets_dir: str | Path | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """The style image as ``[1, 3, H, W]`` (long side ``style.size``) and what identifies it."""
    size = whole("style.size", style.get("size"), 1, optional=True,
                 hint="the long side of the painting in px when its style is measured, e.g. 512")
    path = style_path(style, assets_dir)
    try:
        image = read_tensor(path, max_size=size)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise FastStyleError(f"style image {path} cannot be read ({err}); give a JPEG or PNG painting") from err
    info = {"name": str(style["name"]), "file": path.name, "sha256": file_sha256(path), "size": size}
    return image.unsqueeze(0), info
