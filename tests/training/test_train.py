"""The training contract end to end: checkpoints, TensorBoard, export, resume, and clear errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fast_style.model_card import load_model

from conftest import VGG_WEIGHTS, run_script, tiny_train_overrides


def test_contract_run_leaves_checkpoint_tensorboard_and_export(trained_run: Path) -> None:
    assert list((trained_run / "checkpoints").glob("*.ckpt"))
    events = EventAccumulator(str(trained_run / "tensorboard"), size_guidance={"images": 0}).Reload()
    tags = events.Tags()
    assert {"train/content", "train/style", "train/tv", "train/total"} <= set(tags["scalars"])
    assert "previews" in tags["images"]
    assert (trained_run / "export" / "starry_night.pt").is_file()
    assert sorted(p.name for p in (trained_run / "previews").glob("*.png"))[0] == "step_000000.png"


@pytest.mark.slow
def test_failed_rerun_keeps_the_progress_and_the_next_rerun_continues(trained_run: Path, tmp_path: Path) -> None:
    """A rerun with a typo used to write interrupted.ckpt with step-0 weights, which the next rerun then
    continued from; now it leaves the checkpoints as they were and the next correct rerun continues."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    checkpoints = run / "checkpoints"
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["global_step"] == 4
    before = {p.name: p.read_bytes() for p in checkpoints.iterdir()}
    failed = run_script("train.py", *tiny_train_overrides(run, steps=5), "data.root=/nonexistent/photos")
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1].startswith("error: data.root=/nonexistent/photos is not a folder")
    assert {p.name: p.read_bytes() for p in checkpoints.iterdir()} == before
    first_preview = (run / "previews" / "step_000000.png").stat().st_mtime_ns
    result = run_script("train.py", *tiny_train_overrides(run, steps=5))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"VGG weights: vgg16 from {VGG_WEIGHTS}" in result.stdout  # which weights, said at the start
    assert f"continuing from {checkpoints / 'last.ckpt'} (step 4)" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == f"exported: {run / 'export' / 'starry_night.pt'}"
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["global_step"] == 5
    assert not (checkpoints / "interrupted.ckpt").exists()
    assert (run / "previews" / "step_000000.png").stat().st_mtime_ns == first_preview  # continued, not restarted
    assert (run / "previews" / "step_000005.png").is_file()


def test_export_reloads_with_weights_only_and_identical_outputs(trained_run: Path) -> None:
    path = trained_run / "export" / "starry_night.pt"
    raw = torch.load(path, weights_only=True)
    style = raw["styles"][0]
    assert style["name"] == "starry_night" and len(style["sha256"]) == 64 and style["url"].endswith(".jpg")
    assert raw["vgg"]["sha256"] and style["loss"]["style_layers"] and raw["network"]["channels"] == [16, 32, 64]
    net, card = load_model(path)
    ckpt_net, _ = load_model(trained_run / "checkpoints" / "last.ckpt")
    x = torch.rand(1, 3, 37, 53)
    with torch.no_grad():
        assert torch.equal(net(x), ckpt_net(x))
        assert not torch.allclose(net(x), x, atol=1e-4)  # the 4 training steps changed the network
    assert card.train["steps"] == 4 and "style=starry_night" in card.train["command"]


def test_export_gets_the_permissions_of_a_plainly_created_file(trained_run: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    assert (trained_run / "export" / "starry_night.pt").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(("override", "message"), [
    ("data.root=/nonexistent/photos", "data.root=/nonexistent/photos is not a folder"),  # raised inside fit()
    ("resume=/nonexistent/last.ckpt", "resume=/nonexistent/last.ckpt: checkpoint not found"),
    ("model.colour_gain=0", "model.colour_gain=0: "),
    ("model.colour_hidden=-1", "model.colour_hidden=-1: "),
    ("model.contrast_floor=-0.1", "model.contrast_floor=-0.1: "),
    ("model.noise_channels=-2", "model.noise_channels=-2: "),
    ("model.noise_std=0", "model.noise_std=0: "),
    ("loss.laplacian_weight=-1", "loss.laplacian_weight=-1"),
    ("loss.laplacian_pool=0", "loss.laplacian_pool=0: "),
])
def test_bad_settings_fail_with_one_line_and_leave_nothing(tmp_path: Path, override: str, message: str) -> None:
    result = run_script("train.py", *tiny_train_overrides(tmp_path / "run"), override)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {message}")
    assert list(tmp_path.iterdir()) == []  # not even Hydra's .hydra/ and train.log, nor the run folder
