"""The exported model file: transformer weights plus everything to rebuild it and recompute its loss.

The file holds only tensors and plain Python values, so it loads with ``torch.load(weights_only=True)``
and never runs code. Lightning checkpoints written by training carry the same metadata under
``"fast_style"``, so either file can be used for inference.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fast_style.atomic import atomic_write
from fast_style.errors import FastStyleError
from fast_style.transformer import TransformerNet

FORMAT = "fast_style/1"


def export_model(path: str | Path, transformer: nn.Module, meta: dict[str, Any]) -> Path:
    """Write ``meta`` (model, loss, style, vgg, ...) and the transformer's weights atomically to ``path``."""
    path = Path(path)
    payload = {"format": FORMAT, **meta,
               "state_dict": {k: v.detach().cpu().clone() for k, v in transformer.state_dict().items()}}
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_failure(err: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, without torch's advice to retry with
    ``weights_only=False`` (which would run whatever code the file carries)."""
    text = " ".join(str(err).split())
    if isinstance(err, pickle.UnpicklingError) and "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].split(" Check the documentation", 1)[0].strip()
        return f"not a plain tensor file: {detail}"
    if "TorchScript" in text:
        return "a TorchScript archive"
    if isinstance(err, EOFError) or not text:
        return "empty or cut short"
    return text.split(". ")[0]


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
    if isinstance(raw, dict) and raw.get("format") == FORMAT:
        return raw
    if isinstance(raw, dict) and isinstance(raw.get("fast_style"), dict) and "state_dict" in raw:
        prefix = "transformer."
        state = {k[len(prefix):]: v for k, v in raw["state_dict"].items() if k.startswith(prefix)}
        return {**raw["fast_style"], "state_dict": state}
    raise FastStyleError(f"model={path}: not a fast_style model (no '{FORMAT}' export or training checkpoint)")


def build_transformer(model_cfg: dict[str, Any]) -> TransformerNet:
    """Rebuild the network from the ``model`` section of a model file."""
    kwargs = {k: v for k, v in model_cfg.items() if not k.startswith("_")}
    return TransformerNet(**kwargs)


def load_model(path: str | Path) -> tuple[TransformerNet, dict[str, Any]]:
    """The transformer (eval mode, weights loaded) and the file's metadata."""
    meta = read_model_file(path)
    net = build_transformer(meta["model"])
    try:
        net.load_state_dict(meta["state_dict"])
    except RuntimeError as err:
        raise FastStyleError(f"model={path}: weights do not fit its model config ({str(err).splitlines()[0]})") from err
    return net.eval(), meta
