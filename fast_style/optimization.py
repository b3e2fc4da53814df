"""Classic style transfer (Gatys et al.): optimise the pixels of one image against the loss core.

The image is parametrised as ``sigmoid(z)``, so every iterate is a valid image in (0, 1) without clamping
(clamping would corrupt L-BFGS's curvature pairs).
The loss is whatever :class:`~fast_style.losses.perceptual.PerceptualLoss` is passed in: the same object, built by
``build_loss``, that training uses, so optimisation and the trained network are measured identically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from fast_style.errors import FastStyleError
from fast_style.settings import one_of, real, whole

if TYPE_CHECKING:  # only annotated here; importing the loss would pull in torchvision for `import fast_style`
    from fast_style.losses.perceptual import PerceptualLoss

# Photos are clamped to [eps, 1 - eps] before the logit, so pure black/white stay finite; 1/512 is below
# half an 8-bit level, so the starting image rounds back to the photo.
LOGIT_EPS = 1 / 512
METHODS = ("lbfgs", "adam")
INITS = ("content", "noise")
# L-BFGS takes unit steps along its quasi-Newton direction; Adam's step is in logit units per pixel.
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.1}


@dataclass
class Iterate:
    """One point of the optimisation, as handed to the progress callback."""

    index: int                  # 0 = the starting image; counts iterations over all scales
    scale: float                # factor of the full image size this iterate lives at
    terms: dict[str, float]     # content, style, tv, total
    seconds: float              # wall time spent producing this iterate
    image: torch.Tensor         # [1, 3, h, w] in (0, 1), detached


@dataclass
class OptimResult:
    """The final image and the loss curve: ``losses[i]`` is the loss after ``i`` iterations."""

    image: torch.Tensor
    losses: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)   # elapsed time when iterate ``i`` was produced
    total_seconds: float = 0.0                            # including the evaluation of the last iterate


def check_settings(method: str, init: str, steps: int, scales: Sequence[float], lr: float | None = None) -> None:
    """Refuse bad settings before any work is done, naming the setting."""
    one_of("optim.method", method, METHODS)
    one_of("optim.init", init, INITS)
    whole("optim.steps", steps, 1, hint="the number of iterations")
    real("optim.lr", lr, above=0, optional=True, hint="null picks the method's default")
    if (not scales or any(isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s <= 1 for s in scales)
            or list(scales) != sorted(scales) or scales[-1] != 1):
        raise FastStyleError(f"scales={list(scales)}: give increasing factors in (0, 1] that end with 1, "
                             "e.g. [0.25, 0.5, 1.0]")


def _optimizer(method: str, params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    # max_iter=1: one L-BFGS iteration per step() call, so the loop records every iteration's loss
    # while L-BFGS keeps its curvature history across calls.
    if method == "lbfgs":
        return torch.optim.LBFGS(params, lr=lr, max_iter=1, history_size=100)
    return torch.optim.Adam(params, lr=lr)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return x if tuple(x.shape[-2:]) == size else F.interpolate(x, size=size, mode="bilinear", antialias=True,
                                                               align_corners=False)


def optimize(criterion: PerceptualLoss, content: torch.Tensor, steps: int, method: str = "lbfgs",
             lr: float | None = None, init: str = "content", scales: Sequence[float] = (1.0,), seed: int = 0,
             callback: Callable[[Iterate], None] | None = None) -> OptimResult:
    """Optimise an image for ``criterion(image, content)["total"]``; ``content`` is ``[1, 3, H, W]``.

    Runs ``steps`` iterations at each scale (coarse to fine; each result, upsampled, starts the next
    scale). ``callback`` sees every iterate (loss terms, elapsed time, image), e.g. for progress display.
    """
    check_settings(method, init, steps, scales, lr)
    lr = DEFAULT_LR[method] if lr is None else float(lr)
    content = content.detach()
    if init == "content":
        start = content
    else:
        start = torch.rand(content.shape, generator=torch.Generator().manual_seed(seed)).to(content)
    z = torch.logit(start, eps=LOGIT_EPS)
    full_h, full_w = content.shape[-2:]
    result = OptimResult(image=start)

    def record(scale: float, terms: dict[str, torch.Tensor], image: torch.Tensor) -> None:
        values = {k: float(v) for k, v in terms.items()}
        result.losses.append(values["total"])
        if callback is not None:
            callback(Iterate(len(result.losses) - 1, scale, values, result.seconds[-1], image))

    began = time.perf_counter()
    result.seconds.append(0.0)
    for scale in scales:
        size = (max(1, round(full_h * scale)), max(1, round(full_w * scale)))
        target = _resize(content, size)
        z = _resize(z.detach(), size).contiguous().requires_grad_(True)  # L-BFGS views flat grads
        optimizer = _optimizer(method, [z], lr)
        for _ in range(steps):
            evaluated: dict[str, torch.Tensor] = {}

            def closure() -> torch.Tensor:  # called once per step: no line search, as in Gatys et al.
                optimizer.zero_grad(set_to_none=True)
                image = torch.sigmoid(z)
                terms = criterion(image, target)
                terms["total"].backward()
                evaluated.update(terms={k: v.detach() for k, v in terms.items()}, image=image.detach())
                return terms["total"]

            optimizer.step(closure)
            record(scale, evaluated["terms"], evaluated["image"])  # float() waits for the device
            result.seconds.append(time.perf_counter() - began)
    with torch.no_grad():
        image = torch.sigmoid(z)
        record(scales[-1], criterion(image, target), image)
    result.total_seconds = time.perf_counter() - began
    result.image = image.detach()
    return result
