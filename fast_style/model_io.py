"""The exported model file: transformer weights plus everything to rebuild it and recompute its loss.

The file holds only tensors and plain Python values, so it loads with ``torch.load(weights_only=True)``
and never runs code. Lightning checkpoints written by training carry the same metadata under
``"fast_style"``, so either file can be used for inference.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from fast_style.assets import cache_dir, file_sha256
from fast_style.atomic import atomic_write
from fast_style.config import group_config
from fast_style.errors import FastStyleError, load_failure
from fast_style.style import load_style, style_path
from fast_style.transformer import MultiStyleTransformerNet, TransformerNet

if TYPE_CHECKING:  # imported where used: the loss pulls in torchvision, which infer.py does not need (1.2 s)
    from fast_style.losses import PerceptualLoss

# fast_style/1 files hold networks that predicted in logit space (see transformer.py); their weights
# mean something else to today's network, so they are refused rather than silently misread.
FORMAT = "fast_style/2"
EARLIER_FORMATS = ("fast_style/1",)


def export_model(path: str | Path, transformer: nn.Module, meta: dict[str, Any]) -> Path:
    """Write ``meta`` (model, loss, style, vgg, ...) and the transformer's weights atomically to ``path``."""
    path = Path(path)
    payload = {"format": FORMAT, **meta,
               "state_dict": {k: v.detach().cpu().clone() for k, v in transformer.state_dict().items()}}
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


def is_torchscript(path: Path) -> bool:
    """TorchScript archives hold ``code/``; ``torch.save`` files (our .pt, .ckpt) do not."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def read_model_file(path: str | Path) -> dict[str, Any]:
    """Load an exported ``.pt`` or a training ``.ckpt`` safely and return the exported-file layout."""
    path = Path(path)
    if not path.is_file():
        raise FastStyleError(f"model={path}: file not found; give an exported .pt or a training .ckpt")
    if path.suffix.lower() == ".onnx" or is_torchscript(path):
        kind = "an ONNX" if path.suffix.lower() == ".onnx" else "a TorchScript"
        raise FastStyleError(f"model={path}: {kind} export (scripts/export.py), which only infer.py runs; give "
                             "the exported .pt or the training .ckpt it was made from")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unpickling refused or not a torch file at all
        raise FastStyleError(f"model={path}: refused, not a fast_style model file that loads safely "
                             f"({load_failure(err)})") from err
    if isinstance(raw, dict) and isinstance(raw.get("fast_style"), dict) and "state_dict" in raw:
        prefix = "transformer."
        state = {k[len(prefix):]: v for k, v in raw["state_dict"].items() if k.startswith(prefix)}
        raw = {"format": EARLIER_FORMATS[-1], **raw["fast_style"], "state_dict": state}
    if not isinstance(raw, dict) or raw.get("format") not in (FORMAT, *EARLIER_FORMATS):
        raise FastStyleError(f"model={path}: not a fast_style model (no '{FORMAT}' export or training checkpoint)")
    if raw["format"] != FORMAT:
        raise FastStyleError(f"model={path}: made by an earlier fast_style ({raw['format']}) whose network output "
                             f"worked differently; retrain it with scripts/train.py")
    return raw


def build_transformer(model_cfg: dict[str, Any]) -> TransformerNet | MultiStyleTransformerNet:
    """Rebuild the network from the ``model`` section of a model file (multi-style: it has ``num_styles``)."""
    kwargs = {k: v for k, v in model_cfg.items() if not k.startswith("_")}
    return (MultiStyleTransformerNet if "num_styles" in kwargs else TransformerNet)(**kwargs)


def load_model(path: str | Path) -> tuple[TransformerNet | MultiStyleTransformerNet, dict[str, Any]]:
    """The transformer (eval mode, weights loaded) and the file's metadata. A multi-style file gives a
    :class:`MultiStyleTransformerNet`; :func:`fast_style.multistyle.choose_style` turns it into one style."""
    meta = read_model_file(path)
    net = build_transformer(meta["model"])
    try:
        net.load_state_dict(meta["state_dict"])
    except RuntimeError as err:
        raise FastStyleError(f"model={path}: weights do not fit its model config ({str(err).splitlines()[0]})") from err
    return net.eval(), meta


def _bundled_style_url(name: str, file: str) -> str | None:
    """The download URL of a bundled style (configs/style/<name>.yaml) if it names the same file."""
    bundled = group_config("style", name)
    return bundled.get("url") if bundled is not None and bundled.get("file") == file else None


def find_style_image(style: Mapping[str, Any], assets_dir: str | Path | None, style_image: str | None) -> Path:
    """The painting the model was trained on: ``style_image`` if given, else ``<assets>/styles/<file>``,
    the cache or its download URL; its checksum must equal the one stored in the model file."""
    if style_image:
        path = Path(style_image).expanduser()
        if not path.is_file():
            raise FastStyleError(f"style_image={path}: file not found; give the painting the model was trained on")
    else:
        try:
            path = style_path({"file": style["file"], "url": _bundled_style_url(style["name"], style["file"])},
                              assets_dir)
        except FastStyleError as err:
            raise FastStyleError(
                f"the model's style image {style['file']} was not found ({err}); put it in <assets>/styles/ "
                "with FAST_STYLE_ASSETS=<assets>, or give style_image=PATH") from err
    if (actual := file_sha256(path)) != style["sha256"]:
        raise FastStyleError(
            f"style image {path} has sha256 {actual[:12]}... but the model was trained on {style['file']} with "
            f"sha256 {style['sha256'][:12]}...; give the original painting with style_image=PATH")
    return path


def find_vgg_weights(meta: Mapping[str, Any], assets_dir: str | Path | None) -> str:
    """The VGG weights the model was trained with, by checksum: the stored path, else
    ``<assets>/weights/<file>``, else the cache. ``imagenet`` is left to torchvision's own lookup."""
    vgg = meta["vgg"]
    if meta["loss"]["weights"] == "imagenet":
        return "imagenet"
    candidates = [Path(vgg["source"]), Path(str(meta["loss"]["weights"])).expanduser()]
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


def loss_for_model(meta: Mapping[str, Any], assets_dir: str | Path | None = None,
                   style_image: str | None = None) -> PerceptualLoss:
    """The training loss of a model file, rebuilt by ``build_loss`` from its stored configuration."""
    from fast_style.losses import build_loss

    missing = [key for key in ("loss", "style", "vgg") if not isinstance(meta.get(key), Mapping)]
    if missing:
        raise FastStyleError(f"the model file carries no {'/'.join(missing)} metadata, so its training loss "
                             "cannot be rebuilt; export it with scripts/train.py")
    path = find_style_image(meta["style"], assets_dir, style_image)
    image, _ = load_style({"name": meta["style"]["name"], "image": str(path), "size": meta["style"]["size"]})
    criterion, vgg_info = build_loss({**meta["loss"], "weights": find_vgg_weights(meta, assets_dir)}, image,
                                     assets_dir)
    if vgg_info["sha256"] != meta["vgg"]["sha256"]:
        raise FastStyleError(f"VGG weights {vgg_info['source']} differ from those the model was trained with "
                             f"(sha256 {meta['vgg']['sha256'][:12]}...)")
    return criterion
