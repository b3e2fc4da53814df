"""Paintings handed to an arbitrary-style network (``style=painting.jpg`` or a blend
``style='{a.jpg: 0.5, b.jpg: 0.5}'``): read and checked, described by the VGG the network was trained with, and
folded into the plain single-style network every other path runs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from fast_style.assets import file_sha256
from fast_style.errors import FastStyleError
from fast_style.io.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, UnreadablePhoto, find_images, read_checked
from fast_style.losses.rebuild import find_vgg_weights
from fast_style.losses.vgg import VGGFeatures, load_vgg
from fast_style.model_card import ModelCard
from fast_style.nn.arbitrary import ArbitraryStyleNet, painting_statistics
from fast_style.nn.transformer import TransformerNet
from fast_style.settings import whole
from fast_style.styles import StyleInfo, blend_shares, describe


def painting_shares(setting: str, value: Any) -> dict[Path, float]:
    """``style=PATH`` or ``style='{a.jpg: 0.7, b.jpg: 0.3}'``: each painting file and its share (summing to 1)."""
    example = f"{setting}=path/to/painting.jpg or '{setting}={{a.jpg: 0.5, b.jpg: 0.5}}'"
    if value is None:
        raise FastStyleError(f"an arbitrary-style network needs a painting: give {example}")
    shares = {value: 1.0} if isinstance(value, str) else value
    if not isinstance(shares, Mapping) or not shares:
        raise FastStyleError(f"{setting}={value}: give {example}")
    paths: dict[Path, Any] = {}
    for name, share in shares.items():
        path = Path(str(name)).expanduser()
        if path.is_dir():
            raise FastStyleError(f"{setting}={path}: a folder; give one painting's file, e.g. {example}")
        if not path.suffix:
            raise FastStyleError(f"{setting}={name}: an arbitrary-style network takes a painting's file, not a "
                                 f"style name; give {example}")
        if not path.is_file():
            raise FastStyleError(f"{setting}={path}: painting not found; give the path of a JPEG or PNG painting")
        if any(path.samefile(seen) for seen in paths):
            raise FastStyleError(f"{setting}: {name} is named twice in the blend; give each painting once")
        paths[path] = share
    return blend_shares(setting, paths)


def painting_files(setting: str, value: Any) -> list[Path]:
    """``paintings=DIR`` (searched recursively) or ``'paintings=[a.jpg,b.jpg]'``: the paintings to validate or
    show an arbitrary-style network with, each an existing file."""
    if value is None:
        raise FastStyleError(f"{setting}=DIR or '{setting}=[a.jpg,b.jpg]' is required for an arbitrary-style network: "
                             "the paintings to stylise with")
    if isinstance(value, str):
        root = Path(value).expanduser()
        if not root.exists():
            raise FastStyleError(f"{setting}={root}: not found; give a folder of paintings or a list of files")
        files = find_images(root)
    else:
        files = [Path(str(item)).expanduser() for item in value]
        if missing := [str(path) for path in files if not path.is_file()]:
            raise FastStyleError(f"{setting}: {', '.join(missing)} not found; give existing painting files")
    if not files:
        raise FastStyleError(f"{setting}={value}: no paintings found ({', '.join(IMAGE_EXTENSIONS)}); give a folder "
                             "of paintings or a list of files")
    return files


def read_painting(path: Path, setting: str, size: int | None, max_pixels: int | None = DEFAULT_MAX_PIXELS
                  ) -> torch.Tensor:
    """The painting as ``[1, 3, H, W]`` in [0, 1], long side ``size``; one error naming ``setting`` otherwise."""
    try:
        return read_checked(path, size, max_pixels).float().div_(255)[None]
    except UnreadablePhoto as err:
        raise FastStyleError(f"{setting}={path}: {err}; give a JPEG or PNG painting") from err


class PaintingEncoder:
    """A painting's statistics as the network was trained on them: the frozen VGG at its style layers."""

    def __init__(self, vgg: VGGFeatures, layers: list[str]) -> None:
        self.vgg, self.layers = vgg, layers

    @classmethod
    def of(cls, net: ArbitraryStyleNet, card: ModelCard, assets_dir: str | Path | None,
           device: torch.device) -> PaintingEncoder:
        """The encoder of a trained network: its card's VGG, found again by checksum."""
        weights = find_vgg_weights(card, card.style.loss["weights"], assets_dir)
        vgg, _ = load_vgg(card.vgg["arch"], weights, net.style_layers, assets_dir)
        return cls(vgg.to(device).eval(), net.style_layers)

    @torch.no_grad()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        device = next(self.vgg.parameters()).device
        return painting_statistics(self.vgg(image.to(device), tuple(self.layers)), self.layers)


def fold_paintings(net: ArbitraryStyleNet, card: ModelCard, value: Any, setting: str = "style",
                   size: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                   assets_dir: str | Path | None = None, encoder: PaintingEncoder | None = None
                   ) -> tuple[TransformerNet, ModelCard, float]:
    """The single-style network of the painting or blend ``value`` (its long side ``size``, default the training
    paintings' size), its card (the painting's name, file and checksum, the arbitrary network's loss) and the
    milliseconds the prediction took."""
    shares = painting_shares(setting, value)
    size = whole("style_size", size, 16, optional=True, hint="the painting's long side in px, e.g. 512") \
        or card.style.size
    device = next(net.parameters()).device
    encoder = encoder or PaintingEncoder.of(net, card, assets_dir, device)
    images = [read_painting(path, setting, size, max_pixels) for path in shares]
    start = time.perf_counter()
    stats = torch.cat([encoder(image) for image in images])
    folded = net.fold(stats, torch.tensor(list(shares.values())))
    milliseconds = 1000 * (time.perf_counter() - start)
    names = [path.stem for path in shares]
    if len(shares) == 1:
        path = next(iter(shares))
        chosen = StyleInfo(name=path.stem, file=path.name, sha256=file_sha256(path), size=size, loss=card.style.loss)
    else:
        chosen = StyleInfo(name=describe(torch.tensor(list(shares.values())), names),
                           weights={str(path): share for path, share in shares.items()}, loss=None)
    frozen = replace(card, network=folded.config(), styles=(chosen,),
                     train={**card.train, "arbitrary": {"paintings": {str(p): s for p, s in shares.items()},
                                                        "size": size}})
    return folded.to(device), frozen, milliseconds
