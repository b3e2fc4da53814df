"""The warping error of a video (Lai et al. 2018, "Learning Blind Video Temporal Consistency"): how much each
frame differs from the previous one carried along the motion of the *input* video.

For consecutive input frames the optical flow (OpenCV's DIS) is measured both ways; pixels whose forward and
backward flows disagree (occlusions, disocclusions; the consistency check of Sundaram et al. 2010 as used by
Lai et al.) or that come from outside the frame are left out. The error of a frame pair is the mean absolute
difference, over the remaining pixels and the three channels (in [0, 1]), between frame t and frame t-1 warped
to it. The same flows and masks applied to the input frames give the floor: what brightness changes, flow
errors and interpolation leave even for a perfectly stable result. A stylised film that flickers scores
far above that floor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fast_style.errors import FastStyleError
from fast_style.inference.stylizer import Stylizer
from fast_style.losses.perceptual import PerceptualLoss
from fast_style.settings import whole
from fast_style.io.films import as_rgb24, output_size, stylized_batches
from fast_style.io.video_files import UnreadableVideo, probe

try:
    import cv2
except ImportError:  # pragma: no cover - depends on the installation
    cv2 = None

# Forward-backward consistency (Sundaram et al. 2010): |f + b|^2 <= ALPHA (|f|^2 + |b|^2) + BETA.
ALPHA, BETA = 0.01, 0.5
# DIS optical flow (medium preset: 8 px patches) refuses frames with a side under 12 px.
MIN_FLOW_SIDE = 12


def _opencv() -> object:
    if cv2 is None:
        raise FastStyleError("the flicker measurement needs OpenCV's optical flow: pip install opencv-python-headless "
                             '(or pip install -e ".[video]")')
    return cv2


@dataclass(frozen=True)
class WarpingError:
    """Mean warping errors over frame pairs: of the stylised frames, of the input frames (the floor), their
    ratio, and how many pairs and what share of pixels (not occluded) they were measured on."""

    stylized: float
    input: float
    ratio: float
    pairs: int
    valid_share: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class FlowWarp:
    """Optical flow between consecutive frames and the warp of the previous frame onto the next one."""

    def __init__(self) -> None:
        self.dis = _opencv().DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def flow(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Per pixel of ``target``, where it lies in ``source`` (``[H, W, 2]`` offsets in px) for RGB uint8 frames."""
        return self.dis.calc(cv2.cvtColor(target, cv2.COLOR_RGB2GRAY), cv2.cvtColor(source, cv2.COLOR_RGB2GRAY), None)

    @staticmethod
    def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """``image`` sampled at every pixel plus ``flow`` (bilinear; outside the frame: nearest border)."""
        height, width = flow.shape[:2]
        grid = np.stack(np.meshgrid(np.arange(width), np.arange(height)), axis=-1).astype(np.float32)
        where = grid + flow
        return cv2.remap(image, where[..., 0], where[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def pair(self, previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flow from ``current`` back into ``previous``, mask of the pixels of ``current`` it tracks reliably)."""
        backward = self.flow(previous, current)  # current -> previous
        forward = self.flow(current, previous)  # previous -> current
        forward_there = self.warp(forward, backward)
        mismatch = np.square(backward + forward_there).sum(-1)
        bound = ALPHA * (np.square(backward).sum(-1) + np.square(forward_there).sum(-1)) + BETA
        height, width = backward.shape[:2]
        x = np.arange(width)[None, :] + backward[..., 0]
        y = np.arange(height)[:, None] + backward[..., 1]
        inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
        return backward, (mismatch <= bound) & inside


def _masked_error(previous: np.ndarray, current: np.ndarray, flow: np.ndarray, mask: np.ndarray) -> float:
    warped = FlowWarp.warp(previous.astype(np.float32) / 255, flow)
    difference = np.abs(current.astype(np.float32) / 255 - warped).mean(-1)
    return float(difference[mask].mean()) if mask.any() else 0.0


def warping_error(frames: Iterable[tuple[np.ndarray, np.ndarray]]) -> WarpingError:
    """The warping error of (input frame, stylised frame) pairs, RGB ``uint8 [H, W, 3]`` of one size each,
    in display order; the flow is measured on the input frames."""
    flows = FlowWarp()
    stylized, floor, valid = [], [], []
    previous = None
    for source, result in frames:
        if previous is not None:
            if source.shape != previous[0].shape or result.shape[:2] != source.shape[:2]:
                raise FastStyleError("warping error: every input and stylised frame must have one size")
            flow, mask = flows.pair(previous[0], source)
            stylized.append(_masked_error(previous[1], result, flow, mask))
            floor.append(_masked_error(previous[0], source, flow, mask))
            valid.append(float(mask.mean()))
        previous = (source, result)
    if not stylized:
        raise FastStyleError("warping error: needs at least two frames")
    s, f = float(np.mean(stylized)), float(np.mean(floor))
    return WarpingError(s, f, s / f if f > 0 else float("inf"), len(stylized), float(np.mean(valid)))


def film_flicker(stylizer: Stylizer, path: str | Path, batch_size: int = 8, max_size: int | None = None,
                 max_frames: int | None = None, criterion: PerceptualLoss | None = None) -> dict[str, Any]:
    """The warping error of ``stylizer`` on the film at ``path`` (its first ``max_frames`` frames, long side
    capped at ``max_size``), and with ``criterion`` the mean loss terms of the stylised frames (the
    network's own training loss: how strongly it stylises, next to how much it flickers)."""
    whole("batch_size", batch_size, 1)
    whole("max_size", max_size, 8, optional=True, hint="null keeps the film's size")
    whole("max_frames", max_frames, 2, optional=True, hint="null measures every frame")
    try:
        info = probe(path)
    except UnreadableVideo as err:
        raise FastStyleError(f"input={path}: {err}") from err
    height, width = output_size(info, max_size)
    if min(height, width) < MIN_FLOW_SIDE:
        raise FastStyleError(f"input={path}: frames of {width}x{height} px are too small to measure the motion "
                             f"between them (at least {MIN_FLOW_SIDE} px each side); raise max_size or give a "
                             "larger film")
    losses: dict[str, list[float]] = defaultdict(list)

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        count = 0
        for _, images, stylized in stylized_batches(stylizer, Path(path), info, (height, width), batch_size):
            if criterion is not None:
                with torch.no_grad():  # the criterion lives on the stylizer's device
                    terms = criterion(stylized.to(stylizer.device), images.float().div(255).to(stylizer.device))
                for name in ("content", "style", "total"):
                    losses[name] += [float(terms[name])] * len(images)
            for source, result in zip(images.permute(0, 2, 3, 1).numpy(), as_rgb24(stylized)):
                if max_frames is not None and count == max_frames:
                    return
                count += 1
                yield source, result

    try:
        error = warping_error(pairs())
    except UnreadableVideo as err:
        raise FastStyleError(f"input={path}: {err}") from err
    report: dict[str, Any] = {"input": str(path), "size": [width, height], "frames": error.pairs + 1,
                              "warping_error": error.as_dict()}
    if criterion is not None:
        report["loss"] = {name: float(np.mean(values)) for name, values in losses.items()}
    return report
