"""A network prepared for the fastest inference on a device: weights stored in the precision (16-bit weights
skip autocast's per-layer casts, which on the CPU cost as much as the convolutions), the fastest memory layout,
and on the CPU the exact sub-pixel forms of its full-resolution convolutions (:mod:`fast_style.nn.subpixel`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from fast_style.nn.subpixel import to_subpixel
from fast_style.nn.transformer import TransformerNet
from fast_style.runtime import use_channels_last

Model = Callable[[torch.Tensor], torch.Tensor]


def for_inference(model: Model, device: torch.device, precision: torch.dtype, channels_last: bool | str = "auto"
                  ) -> Model:
    """Our single-style network on ``device`` with its weights stored in ``precision`` and in the fastest
    layout; on the CPU in sub-pixel form. Photos stay float32: the network adds its residual to them in their
    precision, see ``TransformerNet.forward``. Standalone models (TorchScript, ONNX) are returned as they are:
    their graph is fixed."""
    if not isinstance(model, TransformerNet):
        return model
    if device.type == "cpu":
        to_subpixel(model)
    model = model.to(device=device, dtype=precision)
    if use_channels_last(channels_last, device.type, precision != torch.float32):
        model = model.to(memory_format=torch.channels_last)
    return model


def stored_in(model: Model, precision: torch.dtype) -> bool:
    """Whether all of ``model``'s weights are stored in ``precision`` (:func:`for_inference` does that).
    Autocast then only adds casts: on the CPU it runs reflection padding in float32 and converts every
    activation there and back, which took longer than the convolutions (scripts/perf_checks.py)."""
    if not isinstance(model, nn.Module) or isinstance(model, torch.jit.ScriptModule):
        return precision == torch.float32
    return all(p.dtype == precision for p in model.parameters())
