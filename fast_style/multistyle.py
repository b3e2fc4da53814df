"""One network, many styles: the styles a model file holds, the style weights a user asks for, and the
single-style network (or standalone call) for them.

A multi-style model file has ``styles``: one entry per style, ``{"style": {name, file, sha256, size},
"loss": {...}}``, in the order of the network's style weights, where a single-style file has ``style`` and
``loss``. :func:`style_meta` gives one style's entry in the single-style layout, so everything that reads a
single-style file (validation, the gallery, the training loss) reads each style of a multi-style one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from fast_style.errors import FastStyleError
from fast_style.settings import real
from fast_style.transformer import MultiStyleTransformerNet, TransformerNet

Model = Callable[[torch.Tensor], torch.Tensor]
SINGLE_STYLE_TARGET = f"{TransformerNet.__module__}.{TransformerNet.__name__}"


def style_names(meta: Mapping[str, Any]) -> list[str] | None:
    """The names of the styles a multi-style model file holds, in order; None for a single-style file."""
    styles = meta.get("styles")
    return [entry["style"]["name"] for entry in styles] if styles else None


def folded_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A multi-style file's metadata without its styles, its ``model`` that of the single-style network
    :meth:`MultiStyleTransformerNet.single_style` gives."""
    model = {k: v for k, v in meta["model"].items() if k != "num_styles"}
    return {**{k: v for k, v in meta.items() if k != "styles"}, "model": {**model, "_target_": SINGLE_STYLE_TARGET}}


def style_meta(meta: Mapping[str, Any], index: int) -> dict[str, Any]:
    """Style ``index`` of a multi-style file as a single-style file's metadata (``style``, ``loss``)."""
    entry = meta["styles"][index]
    return {**folded_meta(meta), "style": entry["style"], "loss": entry["loss"]}


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


def style_weights(name: str, value: Any, names: Sequence[str]) -> torch.Tensor:
    """The weight vector ``[len(names)]`` (summing to 1) for ``value``: one style's name, or a mapping of
    names to non-negative weights (``{candy: 0.7, mosaic: 0.3}``; divided by their sum)."""
    held = f"the model holds {', '.join(names)}"
    if isinstance(value, str):
        value = {value: 1.0}
    if not isinstance(value, Mapping) or not value:
        raise FastStyleError(f"{name}={value}: give one style's name or a blend such as "
                             f"'{name}={{{names[0]}: 0.5, {names[-1]}: 0.5}}'; {held}")
    weights = torch.zeros(len(names))
    for style, weight in value.items():
        if str(style) not in names:
            raise FastStyleError(f"{name}: unknown style {str(style)!r}; {held}")
        weights[names.index(str(style))] = real(f"{name}.{style}", weight, low=0,
                                                hint="blend weights are non-negative shares")
    if weights.sum() <= 0:
        raise FastStyleError(f"{name}={dict(value)}: the weights sum to 0; give at least one style a positive weight")
    return weights / weights.sum()


def describe(weights: torch.Tensor, names: Sequence[str]) -> str:
    """``candy`` for one style, ``candy 0.7 + mosaic 0.3`` for a blend."""
    parts = [(name, float(w)) for name, w in zip(names, weights) if w > 0]
    return parts[0][0] if len(parts) == 1 else " + ".join(f"{name} {w:.3g}" for name, w in parts)


class FixedStyle:
    """A standalone multi-style model (TorchScript or ONNX, called as ``model(image, style)``) with its
    style weights fixed, called like a single-style one (and, like one, opaque to tiling and autocast)."""

    def __init__(self, model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], weights: torch.Tensor) -> None:
        self.model, self.weights = model, weights

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, self.weights.to(x.device))


def choose_style(model: Any, meta: Mapping[str, Any], value: Any, source: str, setting: str = "style"
                 ) -> tuple[Model, dict[str, Any]]:
    """The single-style model for ``setting=value`` and its metadata. For a multi-style network that is a
    plain ``TransformerNet`` with the style's (or blend's) norm parameters folded in, which runs as fast as any
    single-style network; a standalone file gets the weights as its second input. A multi-style file needs a
    style, a single-style file takes none; either mistake is one error saying which the file is."""
    names = style_names(meta)
    if names is None:
        if value is not None:
            raise FastStyleError(f"{setting}={value}: {source} is a single-style network "
                                 f"({meta.get('style', {}).get('name', 'unknown style')}); leave {setting} out")
        return model, dict(meta)
    if value is None:
        raise FastStyleError(f"{source} is a multi-style network holding {', '.join(names)}; pick one with "
                             f"{setting}=NAME or blend them, e.g. '{setting}={{{names[0]}: 0.5, {names[-1]}: 0.5}}'")
    weights = style_weights(setting, value, names)
    picked = [i for i, w in enumerate(weights) if w > 0]
    chosen = style_meta(meta, picked[0]) if len(picked) == 1 else {
        **folded_meta(meta), "style": {"name": describe(weights, names)}}
    chosen["weights"] = dict(zip(names, weights.tolist()))
    if isinstance(model, MultiStyleTransformerNet):
        return model.single_style(weights), chosen
    return FixedStyle(model, weights), chosen
