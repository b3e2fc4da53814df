"""fast_style: feed-forward neural style transfer (Johnson et al. 2016) with PyTorch Lightning and Hydra.

Stylise a photo with a trained model in a notebook::

    import fast_style as fs
    stylize = fs.Stylizer.from_file("starry_night.pt")
    fs.save_image(stylize(fs.read_tensor("photo.jpg")[None])[0], "photo_starry.png")

The names below are imported on first use, so ``import fast_style`` costs nothing and ``fs.Stylizer`` never
imports Lightning, TensorBoard or the VGG.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.3.0"

_LAZY = {
    "TransformerNet": "fast_style.nn.transformer",
    "PerceptualLoss": "fast_style.losses.perceptual",
    "build_loss": "fast_style.losses.perceptual",
    "loss_for_model": "fast_style.losses.rebuild",
    "load_style": "fast_style.styles",
    "ModelCard": "fast_style.model_card",
    "load_model": "fast_style.model_card",
    "save_model": "fast_style.model_card",
    "open_model": "fast_style.inference.standalone",
    "Stylizer": "fast_style.inference.stylizer",
    "for_inference": "fast_style.inference.prepare",
    "optimize": "fast_style.optimization",
    "read_tensor": "fast_style.io.images",
    "save_image": "fast_style.io.images",
    "FastStyleError": "fast_style.errors",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'fast_style' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
