"""A model file's training loss rebuilt from its card: the same ``build_loss`` training used, on the painting and
VGG weights the card names, each found again and verified by checksum (validation and the flicker measurement
judge a network by exactly the objective it was trained on)."""

from __future__ import annotations

from pathlib import Path

from fast_style.assets import cache_dir, file_sha256
from fast_style.errors import FastStyleError
from fast_style.losses.perceptual import PerceptualLoss, build_loss
from fast_style.model_card import ModelCard
from fast_style.styles import find_style_image, load_style


def find_vgg_weights(card: ModelCard, weights: str, assets_dir: str | Path | None) -> str:
    """The VGG weights the model was trained with, by checksum: the stored path, else ``loss.weights`` as
    given, else ``<assets>/weights/<file>``, else the cache. ``imagenet`` is left to torchvision's own lookup."""
    vgg = card.vgg or {}
    if weights == "imagenet":
        return "imagenet"
    candidates = [Path(vgg["source"]), Path(str(weights)).expanduser()]
    if assets_dir:
        candidates.append(Path(assets_dir) / "weights" / vgg["file"])
    candidates.append(cache_dir() / "weights" / vgg["file"])
    mismatched = []
    for path in dict.fromkeys(candidates):
        if path.is_file():
            if file_sha256(path) == vgg["sha256"]:
                return str(path)
            mismatched.append(str(path))
    found = f"; {', '.join(mismatched)} has another checksum" if mismatched else ""
    raise FastStyleError(
        f"VGG weights {vgg['file']} (sha256 {vgg['sha256'][:12]}...) used to train this model not found at "
        f"{vgg['source']}{found}; put the file in <assets>/weights/ and set FAST_STYLE_ASSETS=<assets>")


def loss_for_model(card: ModelCard, assets_dir: str | Path | None = None, style_image: str | None = None
                   ) -> PerceptualLoss:
    """The training loss of a single-style card (a multi-style file's: pick one style with
    :meth:`ModelCard.select` first), rebuilt by ``build_loss`` from its stored configuration."""
    style = card.style
    if style.loss is None or card.vgg is None:
        what = "a blend of styles has no loss of its own" if style.weights and style.file is None else \
            "the model file carries no loss/VGG settings"
        raise FastStyleError(f"style {style.name}: {what}, so its training loss cannot be rebuilt; "
                             "pick one style of a file exported by scripts/train.py")
    path = find_style_image(style, assets_dir, style_image)
    image, _ = load_style({"name": style.name, "image": str(path), "size": style.size})
    weights = find_vgg_weights(card, style.loss["weights"], assets_dir)
    criterion, vgg_info = build_loss([{**style.loss, "weights": weights}], [image], [style.name], assets_dir)
    if vgg_info["sha256"] != card.vgg["sha256"]:
        raise FastStyleError(f"VGG weights {vgg_info['source']} differ from those the model was trained with "
                             f"(sha256 {card.vgg['sha256'][:12]}...)")
    return criterion
