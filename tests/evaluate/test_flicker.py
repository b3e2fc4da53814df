"""The flicker measurement: warping error of a stylised film against that of its input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from clips import make_clip
from conftest import COCO, run_script
from fast_style.errors import FastStyleError
from fast_style.evaluate.flicker import film_flicker, warping_error
from fast_style.io.images import read_photo
from fast_style.inference.stylizer import Stylizer
from fast_style.model_card import load_model


def pan(frames: int = 8, step: int = 2, size: int = 96) -> list[np.ndarray]:
    """A camera panning ``step`` px a frame across a real photo."""
    photo = read_photo(sorted(COCO.rglob("*.jpg"))[0]).permute(1, 2, 0).numpy()
    return [np.ascontiguousarray(photo[40:40 + size, 40 + i * step:40 + i * step + size]) for i in range(frames)]


def test_stable_output_scores_like_its_input_and_flicker_scores_far_above() -> None:
    frames = pan()
    stable = warping_error(zip(frames, frames))
    assert stable.stylized == pytest.approx(stable.input) and stable.input < 0.03
    assert stable.valid_share > 0.8  # the pan brings in a 2 px strip a frame: that much is occluded
    rng = np.random.default_rng(0)
    noisy = [np.clip(f + rng.normal(0, 12, f.shape), 0, 255).astype(np.uint8) for f in frames]
    flickering = warping_error(zip(frames, noisy))
    assert flickering.stylized > 3 * flickering.input
    assert flickering.ratio == pytest.approx(flickering.stylized / flickering.input)


@pytest.mark.slow
def test_flicker_command_on_a_static_clip(tmp_path: Path, styled_model: Path) -> None:
    clip = make_clip(tmp_path / "still.mp4", frames=10, static=True)
    report_path = tmp_path / "report.json"
    result = run_script("flicker.py", f"model={styled_model}", f"input={clip}", f"output={report_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(report_path.read_text())
    assert report["frames"] == 10 and report["size"] == [96, 64]
    assert report["warping_error"]["input"] < 1e-3  # nothing moves: the input's own error is ~0
    assert f"input {report['warping_error']['input']:.4f}" in result.stdout


def test_film_flicker_reports_loss_and_refuses_bad_input(tmp_path: Path, styled_model: Path, assets: Path) -> None:
    from fast_style.losses.rebuild import loss_for_model

    net, card = load_model(styled_model)
    stylizer = Stylizer(net, torch.device("cpu"))
    clip = make_clip(tmp_path / "moving.mkv", frames=8, audio=None)
    report = film_flicker(stylizer, clip, max_frames=5, criterion=loss_for_model(card, assets))
    assert report["frames"] == 5 and report["loss"]["style"] > 0
    assert report["warping_error"]["stylized"] > report["warping_error"]["input"] > 0
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(FastStyleError, match=r"^input=.*notes\.mp4: cannot be decoded"):
        film_flicker(stylizer, tmp_path / "notes.mp4")
    with pytest.raises(FastStyleError, match=r"^max_frames=1: use a whole number from 2"):
        film_flicker(stylizer, clip, max_frames=1)
