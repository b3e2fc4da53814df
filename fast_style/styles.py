"""Paintings and the styles a user asks for: where a painting comes from (asset folder, cache, download or any
path, checked by checksum), and style names, lists and blends as typed on the command line."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from fast_style.assets import Asset, file_sha256, resolve
from fast_style.errors import FastStyleError
from fast_style.io.images import read_tensor
from fast_style.settings import real, whole

# The bundled styles' settings (configs/style/<name>.yaml) travel inside the package.
STYLE_CONFIGS = Path(__file__).resolve().parent / "configs" / "style"


@dataclass(frozen=True)
class StyleInfo:
    """One style a network holds: the painting (name, file, sha256, long side when its targets were measured,
    download URL) and the ``loss`` settings it was trained on. A blend of a multi-style network's styles has
    ``weights`` (style name -> share) and no loss of its own."""

    name: str
    file: str | None = None
    sha256: str | None = None
    size: int | None = None
    url: str | None = None
    loss: dict[str, Any] | None = None
    weights: dict[str, float] | None = None

    def describe(self) -> str:
        """``starry_night (starry_night.jpg, sha256 0592ab0f7b51)``."""
        return f"{self.name} ({self.file}, sha256 {str(self.sha256)[:12]})"


def style_path(style: Mapping[str, Any], assets_dir: str | Path | None = None) -> Path:
    """``style.image`` if given, else ``styles/<style.file>`` from the asset folder, cache or URL."""
    if style.get("image"):
        path = Path(style["image"]).expanduser()
        if not path.is_file():
            raise FastStyleError(f"style.image={path}: file not found; give the path of a painting")
        return path
    return resolve(Asset(f"styles/{style['file']}", style.get("url"), style.get("sha256")), assets_dir)


def load_style(style: Mapping[str, Any], assets_dir: str | Path | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """The style image as ``[1, 3, H, W]`` (long side ``style.size``) and what identifies it (name, file,
    sha256, size, url)."""
    size = whole("style.size", style.get("size"), 1, optional=True,
                 hint="the long side of the painting in px when its style is measured, e.g. 512")
    path = style_path(style, assets_dir)
    try:
        image = read_tensor(path, max_size=size)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise FastStyleError(f"style image {path} cannot be read ({err}); give a JPEG or PNG painting") from err
    info = {"name": str(style["name"]), "file": path.name, "sha256": file_sha256(path), "size": size,
            "url": None if style.get("image") else style.get("url")}
    return image.unsqueeze(0), info


def bundled_url(name: str, file: str | None) -> str | None:
    """The download URL of a bundled style (configs/style/<name>.yaml) if it names the same file: for model
    files written before the card carried the URL. Read as plain YAML, without composing a Hydra config."""
    import yaml

    path = STYLE_CONFIGS / f"{name}.yaml"
    if not path.is_file():
        return None
    bundled = yaml.safe_load(path.read_text()) or {}
    return bundled.get("url") if bundled.get("file") == file else None


def find_style_image(style: StyleInfo, assets_dir: str | Path | None, style_image: str | None) -> Path:
    """The painting a style was trained on: ``style_image`` if given, else ``<assets>/styles/<file>``, the
    cache or its download URL; its checksum must equal the one the model file stores."""
    if style_image:
        path = Path(style_image).expanduser()
        if not path.is_file():
            raise FastStyleError(f"style_image={path}: file not found; give the painting the model was trained on")
    else:
        if style.file is None:
            raise FastStyleError(f"style {style.name}: a blend of styles has no painting of its own; pick one style")
        try:
            path = style_path({"file": style.file, "url": style.url or bundled_url(style.name, style.file)}, assets_dir)
        except FastStyleError as err:
            raise FastStyleError(
                f"the model's style image {style.file} was not found ({err}); put it in <assets>/styles/ "
                "with FAST_STYLE_ASSETS=<assets>, or give style_image=PATH") from err
    if (actual := file_sha256(path)) != style.sha256:
        raise FastStyleError(
            f"style image {path} has sha256 {actual[:12]}... but the model was trained on {style.file} with "
            f"sha256 {str(style.sha256)[:12]}...; give the original painting with style_image=PATH")
    return path


def check_style_list(name: str, value: Any, options: Sequence[str]) -> list[str]:
    """``styles=[a, b, ...]``: a non-empty list of known style names, none twice."""
    example = f"e.g. '{name}=[{','.join(options[:2])}]'"
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise FastStyleError(f"{name}={value}: give a list of style names, {example}")
    names = [str(style) for style in value]
    for style in names:
        if style not in options:
            raise FastStyleError(f"{name}: unknown style {style!r}; use names among {', '.join(options)}")
    if twice := sorted({style for style in names if names.count(style) > 1}):
        raise FastStyleError(f"{name}={value}: {', '.join(twice)} given more than once; list each style once")
    return names


def blend_shares(name: str, value: Mapping[Any, Any]) -> dict[Any, float]:
    """A blend's weights ``{key: weight}`` checked (each non-negative, a positive and finite sum) and divided by
    their sum: the one rule for blends of styles and of paintings."""
    shares = {key: real(f"{name}.{key}", weight, low=0, hint="blend weights are non-negative shares")
              for key, weight in value.items()}
    total = sum(shares.values())
    if total <= 0:
        raise FastStyleError(f"{name}={dict(value)}: the weights sum to 0; give at least one a positive weight")
    if not math.isfinite(total):
        raise FastStyleError(f"{name}={dict(value)}: the weights overflow when summed; give shares such as 0.7 and 0.3")
    return {key: share / total for key, share in shares.items()}


def style_weights(name: str, value: Any, names: Sequence[str]) -> torch.Tensor:
    """The weight vector ``[len(names)]`` (summing to 1) for ``value``: one style's name, or a mapping of
    names to non-negative weights (``{candy: 0.7, mosaic: 0.3}``; divided by their sum)."""
    held = f"the model holds {', '.join(names)}"
    if isinstance(value, str):
        value = {value: 1.0}
    if not isinstance(value, Mapping) or not value:
        raise FastStyleError(f"{name}={value}: give one style's name or a blend such as "
                             f"'{name}={{{names[0]}: 0.5, {names[-1]}: 0.5}}'; {held}")
    if unknown := [str(style) for style in value if str(style) not in names]:
        raise FastStyleError(f"{name}: unknown style {unknown[0]!r}; {held}")
    shares = blend_shares(name, {str(style): weight for style, weight in value.items()})
    return torch.tensor([shares.get(style, 0.0) for style in names])


def describe(weights: torch.Tensor, names: Sequence[str]) -> str:
    """``candy`` for one style, ``candy 0.7 + mosaic 0.3`` for a blend."""
    parts = [(name, float(w)) for name, w in zip(names, weights) if w > 0]
    return parts[0][0] if len(parts) == 1 else " + ".join(f"{name} {w:.3g}" for name, w in parts)
