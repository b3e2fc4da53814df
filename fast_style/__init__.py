"""fast_style: feed-forward neural style transfer (Johnson et al. 2016) with PyTorch Lightning and Hydra.

Stylise a photo with a trained model in a notebook::

    import torch, fast_style as fs
    stylize = fs.Stylizer(fs.load_model("starry_night.pt")[0], torch.device("cpu"))
    fs.save_image(stylize(fs.read_tensor("photo.jpg")[None])[0], "photo_starry.png")

The names below are imported on first use, so ``import fast_style.transformer`` stays as cheap as torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# ``optimize`` is also the name of its module: bound here, before any import of the module could replace it.
from fast_style.optimize import optimize

__version__ = "0.2.0"

_LAZY = {
    "TransformerNet": "fast_style.transformer",
    "MultiStyleTransformerNet": "fast_style.transformer",
    "PerceptualLoss": "fast_style.losses",
    "build_loss": "fast_style.losses",
    "load_style": "fast_style.style",
    "load_model": "fast_style.model_io",
    "export_model": "fast_style.model_io",
    "loss_for_model": "fast_style.model_io",
    "load_any_model": "fast_style.export",
    "choose_style": "fast_style.multistyle",
    "Stylizer": "fast_style.inference",
    "for_inference": "fast_style.inference",
    "read_tensor": "fast_style.image_io",
    "save_image": "fast_style.image_io",
    "FastStyleError": "fast_style.errors",
}

__all__ = ["optimize", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'fast_style' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
