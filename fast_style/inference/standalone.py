"""Standalone models (TorchScript, ONNX) that run without this package, and opening any model file.

A standalone model takes ``image``: float32 ``[N, 3, H, W]`` in [0, 1] (H, W >= 8) and returns the
stylised image of the same shape; one of a multi-style network also takes ``style``: float32 ``[S]``,
non-negative weights of its S styles (divided by their sum), so it picks or blends styles by itself. ``strength``/``preserve_color`` are applied by ``infer.py`` around
it, not baked in. The model card (:mod:`fast_style.model_card`) travels inside the file as JSON:
TorchScript extra file ``fast_style.json``, ONNX ``metadata_props["fast_style"]``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from fast_style.io.atomic import atomic_write
from fast_style import zoo
from fast_style.errors import FastStyleError
from fast_style.inference.prepare import Model
from fast_style.io.images import DEFAULT_MAX_PIXELS
from fast_style.model_card import ModelCard, is_torchscript, load_model
from fast_style.styles import StyleInfo
from fast_style.nn.transformer import TransformerNet
from fast_style.settings import real

META_KEY = "fast_style"
STANDALONE_FORMATS = ("torchscript", "onnx")  # and format=web: a site of them (fast_style.web)
# torch.jit is deprecated in favour of torch.export, but TorchScript files are what many C++/mobile
# runtimes load; the warnings say nothing the user can act on.
JIT_DEPRECATED = r".*torch\.jit\.\w+` is deprecated"
# Traced at a size that is not a multiple of 4 in either direction, so that the exporter records the
# network's pad-to-a-multiple-of-4 step instead of dropping it as a no-op.
EXAMPLE_SIZE = (67, 61)
# The smallest height and width the ONNX export accepts; OnnxModel pads smaller images up to it.
MIN_SIDE = 8


def export_torchscript(net: TransformerNet, card: ModelCard, path: str | Path) -> Path:
    """Script (not trace) the network, so its size-dependent padding keeps working at every size."""
    extra = {f"{META_KEY}.json": json.dumps(card.to_dict())}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=JIT_DEPRECATED, category=FutureWarning)
        scripted = torch.jit.script(net.eval())
        with atomic_write(path) as tmp:
            torch.jit.save(scripted, str(tmp), _extra_files=extra)
    return Path(path)


def export_onnx(net: TransformerNet, card: ModelCard, path: str | Path) -> Path:
    """Export with dynamic batch, height and width (torch.export based exporter, opset of this torch)."""
    import onnx
    from torch.export import Dim

    example = torch.rand(1, 3, *EXAMPLE_SIZE)
    dims = {0: Dim("batch", max=4096), 2: Dim("height", min=MIN_SIDE, max=65536), 3: Dim("width", min=MIN_SIDE, max=65536)}
    args, names, shapes = (example,), ["image"], {"x": dims}
    if net.num_styles > 1:  # the style weights: a second input of fixed length
        args, names, shapes = (example, torch.rand(net.num_styles)), ["image", "style"], {"x": dims, "style": None}
    program = torch.onnx.export(net.eval(), args, dynamo=True, input_names=names,
                                output_names=["stylized"], dynamic_shapes=shapes, verbose=False)
    proto = program.model_proto  # kept in memory: saving the program directly may spill weights to a side file
    proto.metadata_props.add(key=META_KEY, value=json.dumps(card.to_dict()))
    with atomic_write(path) as tmp:
        onnx.save(proto, str(tmp))
    return Path(path)


class OnnxModel:
    """An ONNX file run by onnxruntime, called like a module: CPU or CUDA tensor in, same device out."""

    def __init__(self, path: Path, device: torch.device) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise FastStyleError(f"model={path}: ONNX models need onnxruntime (pip install 'fast_style[export]')") from err
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise FastStyleError(f"model={path}: not a loadable ONNX model ({str(err).splitlines()[0]})") from err
        self.input_names = [node.name for node in self.session.get_inputs()]
        self.card = read_card(self.session.get_modelmeta().custom_metadata_map.get(META_KEY))

    def __call__(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """Images with a side under the exported minimum are padded (edge pixels repeated) and the
        result cropped back, as the PyTorch network itself does below a multiple of 4. ``style``: the
        style weights of a multi-style model."""
        height, width = x.shape[-2:]
        padded = F.pad(x, (0, max(0, MIN_SIDE - width), 0, max(0, MIN_SIDE - height)), mode="replicate")
        inputs = [t.detach().float().cpu().numpy() for t in (padded, style) if t is not None]
        y = self.session.run(None, dict(zip(self.input_names, inputs)))[0]
        return torch.from_numpy(y)[..., :height, :width].to(x.device)


def read_card(text: str | None) -> ModelCard:
    """The card a standalone file carries as JSON; a file without one (not exported by fast_style) is taken
    as one network of an unknown style."""
    if not text:
        return ModelCard(network={}, styles=(StyleInfo(name="unknown style"),))
    return ModelCard.from_dict(json.loads(text))


def load_torchscript(path: Path, device: torch.device) -> tuple[torch.jit.ScriptModule, ModelCard]:
    """A TorchScript file from :func:`export_torchscript` and the card it carries."""
    extra = {f"{META_KEY}.json": ""}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=JIT_DEPRECATED, category=FutureWarning)
            scripted = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except Exception as err:  # noqa: BLE001 - torch.jit raises RuntimeError and friends
        raise FastStyleError(f"model={path}: not a loadable TorchScript model ({str(err).splitlines()[0]})") from err
    return scripted.eval(), read_card(extra[f"{META_KEY}.json"])


class FixedStyle:
    """A standalone multi-style model (TorchScript or ONNX, called as ``model(image, style)``) with its
    style weights fixed, called like a single-style one (and, like one, opaque to tiling and autocast)."""

    def __init__(self, model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], weights: torch.Tensor) -> None:
        self.model, self.weights = model, weights

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, self.weights.to(x.device))


def open_model(path: str | Path, device: torch.device, style: Any = None, setting: str = "style",
               style_size: int | None = None, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               assets_dir: str | Path | None = None, contrast_floor: float | None = None
               ) -> tuple[Model, ModelCard, str]:
    """Any model file ``infer.py`` accepts, on ``device``, as a network of the one style or blend ``style``
    (``setting=value`` on the command line): our exported ``.pt`` or a training ``.ckpt`` (loaded with
    ``weights_only=True``; a multi-style network folded to a plain single-style one, which runs as fast as any),
    a TorchScript file or an ONNX file (given the style weights as their second input). Returns the model,
    the card of the chosen style and the kind of file (``fast_style``, ``torchscript``, ``onnx``). A name that is
    no file is a network of the zoo (:mod:`fast_style.zoo`). An arbitrary-style network takes a painting's file
    (or a blend of files) as ``style``, at long side ``style_size``, and is folded like a multi-style one.
    ``contrast_floor`` replaces the network's (:class:`~fast_style.nn.layers.ContrastGate`); None keeps it."""
    path = zoo.resolve(path, "model")
    if not path.is_file():
        raise FastStyleError(f"model={path}: file not found; give an exported .pt, a training .ckpt, "
                             "or a TorchScript/ONNX file from scripts/export.py")
    model: Any
    if path.suffix.lower() == ".onnx":
        model = OnnxModel(path, device)
        card, kind = model.card, "onnx"
    elif is_torchscript(path):
        (model, card), kind = load_torchscript(path, device), "torchscript"
    else:
        (model, card), kind = load_model(path), "fast_style"
        model = model.to(device)
        if card.arbitrary:
            from fast_style.inference.paintings import fold_paintings

            model, chosen, milliseconds = fold_paintings(model, card, style, setting, style_size, max_pixels,
                                                         assets_dir)
            kind = f"arbitrary-style, painting predicted in {milliseconds:.0f} ms"
            return with_floor(model, contrast_floor, path), chosen, kind
    weights, chosen = card.select(style, f"model={path}", setting)
    if weights is not None:
        model = model.fold(weights) if isinstance(model, TransformerNet) else FixedStyle(model, weights)
    return with_floor(model, contrast_floor, path), chosen, kind


def with_floor(model: Model, floor: float | None, path: Path) -> Model:
    """``model`` with its contrast floor set to ``floor`` (None: as it is); a standalone file's is fixed."""
    if floor is None:
        return model
    floor = real("contrast_floor", floor, 0, hint="the contrast below which strokes fade, e.g. 0.1 (0: never)")
    if not isinstance(model, TransformerNet):
        raise FastStyleError(f"contrast_floor={floor:g}: {path} is a standalone file, whose floor was fixed when it "
                             "was exported; leave contrast_floor out, or give the .pt it was exported from")
    model.contrast.floor = floor
    return model
