"""Validation of a trained network against L-BFGS on the loss stored in its model file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from conftest import COCO, VGG_WEIGHTS, run_script, tiny_train_overrides
from fast_style.config import compose_config
from fast_style.errors import FastStyleError
from fast_style.io.images import find_images, read_tensor
from fast_style.losses.perceptual import build_loss
from fast_style.losses.rebuild import find_vgg_weights, loss_for_model
from fast_style.model_card import load_model, read_model_file
from fast_style.styles import find_style_image
from fast_style.styles import load_style
from fast_style.evaluate.quality import halo_levels
from fast_style.evaluate.validate import iterations_to_match, network_loss, summarize, validate


def test_iterations_to_match_on_a_hand_made_curve() -> None:
    curve = [10.0, 8.0, 6.0, 4.0, 5.0, 3.0]  # curve[i]: loss after i iterations
    assert iterations_to_match(curve, 6.0) == 2      # reaching the target counts
    assert iterations_to_match(curve, 4.5) == 3      # first time below, not the best later one
    assert iterations_to_match(curve, 12.0) == 0     # the photo itself already scores as well
    assert iterations_to_match(curve, 2.0) is None   # never within the budget
    assert iterations_to_match([], 1.0) is None


def _record(iterations: int | None, seconds_to_match: float | None = None, blown_out: float = 0.0) -> dict[str, Any]:
    return {"network_loss": 1.0, "network_content": 0.25, "network_style": 0.75, "blown_out": blown_out,
            "crushed": 0.0, "optimisation_blown_out": 0.0, "optimisation_losses": [2.0, 0.5],
            "network_seconds": 0.01, "optimisation_seconds": 1.0, "lbfgs_iterations_to_match": iterations,
            "optimisation_seconds_to_match": seconds_to_match}


def test_summary_medians_read_unmatched_as_beyond_the_budget() -> None:
    summary = summarize([_record(2, 0.2), _record(None), _record(4, 0.5)])
    assert summary["lbfgs_iterations_to_match"] == 4 and summary["matched"] == 2
    assert summary["speedup_at_match"] == pytest.approx(35.0)   # median of 20x and 50x
    assert summarize([_record(2, 0.2), _record(None)])["lbfgs_iterations_to_match"] is None
    assert summarize([_record(0, 0.0)])["speedup_at_match"] is None  # nothing to optimise: no speed-up
    assert summarize([_record(1, 0.1, blown_out=b) for b in (0.3, 0.01, 0.02)])["blown_out"] == pytest.approx(0.02)


def test_network_loss_is_the_training_loss(exported_model: Path, assets: Path, tmp_path: Path) -> None:
    """validate rebuilds the loss from the model file; it must equal the loss training builds from its config."""
    cfg = compose_config("train", [o for o in tiny_train_overrides(tmp_path) if not o.startswith("hydra.")])
    style_image, _ = load_style(cfg.style, assets)
    training_criterion, _ = build_loss([cfg.loss], [style_image], None, assets)
    transformer, card = load_model(exported_model)
    photo = read_tensor(find_images(COCO)[5], max_size=64).unsqueeze(0)
    with torch.no_grad():
        expected = training_criterion(transformer(photo), photo)["total"].item()
    terms, seconds, output = network_loss(transformer, loss_for_model(card, assets), photo)
    assert terms["total"] == pytest.approx(expected, rel=1e-6)
    assert terms["total"] == pytest.approx(terms["content"] + terms["style"] + terms["tv"] + terms.get("sliced", 0),
                                           rel=1e-6)
    assert seconds > 0 and output.shape == photo.shape


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    """Two photos in a nested folder and one file that is not an image."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    first, second = find_images(COCO)[:2]
    shutil.copy(first, folder / first.name)
    shutil.copy(second, folder / "sub" / second.name)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_validate_script_contract(exported_model: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "val"
    result = run_script("validate.py", f"model={exported_model}", f"input={photos}", f"output={out}",
                        "optim.steps=4", "image_size=48")
    assert result.returncode == 1, result.stderr[-3000:]  # as infer.py: 1 when a photo was skipped
    assert f"skipped {photos / 'broken.jpg'}: cannot be decoded" in result.stderr
    report = json.loads((out / "report.json").read_text())
    first, second = find_images(COCO)[:2]
    assert [r["image"] for r in report["images"]] == [first.name, f"sub/{second.name}"]
    assert report["skipped"] == ["broken.jpg"]
    for r in report["images"]:
        assert len(r["optimisation_losses"]) == 5 and all(isinstance(v, float) for v in r["optimisation_losses"])
        assert r["lbfgs_iterations_to_match"] == iterations_to_match(r["optimisation_losses"], r["network_loss"])
        assert r["network_seconds"] > 0 and r["optimisation_seconds"] > 0
        with Image.open(out / r["side_by_side"]) as panel:  # four panels side by side under captions
            assert panel.width > 4 * r["width"] and panel.height > r["height"]
        assert 0 <= r["blown_out"] <= 1 and 0 <= r["crushed"] <= 1
        assert r["network_loss"] == pytest.approx(r["network_content"] + r["network_style"] + r["network_tv"]
                                                  + r["network_sliced"] + r["network_laplacian"], rel=1e-5)
    with Image.open(out / "contact_sheet.png") as sheet:  # one row per photo: photo, network, L-BFGS
        assert sheet.height > 2 * 160 and sheet.width > 3 * 160
    summary = report["summary"]
    assert summary["images"] == 2
    assert summary["network_loss"] == pytest.approx(sum(r["network_loss"] for r in report["images"]) / 2)
    assert "median L-BFGS iterations" in (out / "report.md").read_text()
    net, _ = load_model(exported_model)  # the halo probe: the network's, once per report
    assert summary["halo"] == report["halo"] == pytest.approx(halo_levels(net), abs=1e-3)
    assert "halo probe" in (out / "report.md").read_text()
    for r in report["images"]:  # the independent judge: the photo, the network's output and L-BFGS's result
        assert set(r["style_distance"]) == {"photo", "network", "optimisation"}
        assert all(d > 0 for d in r["style_distance"].values())
    assert summary["style_distance_network"] == pytest.approx(
        sum(r["style_distance"]["network"] for r in report["images"]) / 2)
    assert "median style distance to the painting" in (out / "report.md").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["contact_sheet.png", "report.json", "report.md", "side_by_side"]


def test_output_that_is_a_file_is_one_line_and_left_alone(exported_model: Path, photos: Path, tmp_path: Path) -> None:
    """output used to be Hydra's run folder too, which crashed inside Hydra with a traceback."""
    taken = tmp_path / "notes.txt"
    taken.write_text("kept")
    result = run_script("validate.py", f"model={exported_model}", f"input={photos}", f"output={taken}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: output={taken} is an existing file; give a folder "
                                                  "(created if missing)"]
    assert taken.read_text() == "kept" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "photos"]


def _edited_model(exported_model: Path, tmp_path: Path, **changes: Any) -> Path:
    """A copy of the exported model with some entries of its card changed: ``style`` (its one style), ``loss``
    (that style's loss settings) or ``vgg``; None removes one."""
    raw = torch.load(exported_model, map_location="cpu", weights_only=True)
    for key, value in changes.items():
        section, key = (raw["styles"], 0) if key == "style" else (raw["styles"][0], key) if key == "loss" else (raw, key)
        if value is None:
            section.pop(key)
        else:
            section[key] = {**section[key], **value}
    path = tmp_path / "edited.pt"
    torch.save(raw, path)
    return path


def test_model_with_another_style_checksum_is_refused(exported_model: Path, photos: Path, tmp_path: Path) -> None:
    model = _edited_model(exported_model, tmp_path, style={"sha256": "0" * 64})
    result = run_script("validate.py", f"model={model}", f"input={photos}", f"output={tmp_path / 'val'}",
                        "optim.steps=2", "image_size=32")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: style image ")
    assert "000000000000" in lines[0] and "style_image=PATH" in lines[0]
    assert not (tmp_path / "val" / "report.json").exists()


def test_another_painting_given_as_style_image_is_refused(exported_model: Path, assets: Path) -> None:
    style = read_model_file(exported_model)[0].style
    with pytest.raises(FastStyleError, match="but the model was trained on starry_night.jpg"):
        find_style_image(style, assets, str(assets / "styles" / "candy.jpg"))


def test_missing_style_image_says_where_to_put_it(exported_model: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAST_STYLE_CACHE", str(tmp_path / "cache"))
    card = read_model_file(_edited_model(exported_model, tmp_path, style={"file": "lost_painting.jpg"}))[0]
    with pytest.raises(FastStyleError, match=r"style image lost_painting.jpg was not found .*<assets>/styles/"):
        loss_for_model(card, tmp_path / "empty_assets")


def test_vgg_weights_found_by_checksum_in_the_asset_folder(exported_model: Path, assets: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A model trained on another machine: its stored weights path does not exist here, or holds another file."""
    monkeypatch.setenv("FAST_STYLE_CACHE", str(tmp_path / "cache"))
    elsewhere = tmp_path / "elsewhere" / "vgg16_hed_features.pth"
    card = read_model_file(_edited_model(exported_model, tmp_path, loss={"weights": str(elsewhere)},
                                         vgg={"source": str(elsewhere)}))[0]
    with pytest.raises(FastStyleError, match=r"VGG weights vgg16_hed_features.pth .* not found at .*<assets>/weights/"):
        find_vgg_weights(card, str(elsewhere), None)
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"other weights")
    with pytest.raises(FastStyleError, match="elsewhere/vgg16_hed_features.pth has another checksum"):
        find_vgg_weights(card, str(elsewhere), None)
    assert find_vgg_weights(card, str(elsewhere), assets) == str(VGG_WEIGHTS)


def test_model_without_loss_metadata_is_refused(exported_model: Path, tmp_path: Path) -> None:
    card = read_model_file(_edited_model(exported_model, tmp_path, loss=None))[0]
    with pytest.raises(FastStyleError, match="carries no loss/VGG settings"):
        loss_for_model(card, None)


@pytest.mark.parametrize("image_size, steps, lr, empty_input, message", [
    (8, 1, None, False, r"image_size=8: use a whole number from 16"),
    ("big", 1, None, False, r"image_size=big: use a whole number from 16"),
    (32, 0, None, False, r"optim.steps=0: use a whole number from 1"),
    (32, 1, 0, False, r"optim.lr=0: use a number above 0 \(or null\)"),
    (32, 1, None, True, "no images found"),
    (32, 1, None, None, r"input=.*missing: not found; give a folder of photos"),
])
def test_bad_settings_are_refused_before_any_work(exported_model: Path, tmp_path: Path, image_size: int, steps: int,
                                                  lr: float | None, empty_input: bool | None, message: str) -> None:
    inputs = {True: tmp_path / "empty", False: COCO, None: tmp_path / "missing"}[empty_input]
    if empty_input is not None:
        inputs.mkdir(exist_ok=True)
    with pytest.raises(FastStyleError, match=message):
        validate(exported_model, inputs, tmp_path / "val", image_size=image_size, steps=steps, lr=lr)
    assert not (tmp_path / "val").exists()


@pytest.mark.slow
def test_photos_skipped_after_the_last_one_read_and_bombs_are_reported(exported_model: Path, photos: Path,
                                                                       tmp_path: Path) -> None:
    """The same input rules as infer.py: an unreadable photo that sorts last is still listed, and a photo over
    max_pixels is skipped as a possible decompression bomb, not decoded."""
    (photos / "broken.jpg").rename(photos / "zz_broken.jpg")
    first = find_images(COCO)[0]
    with Image.open(first) as image:
        pixels = image.width * image.height
    out = tmp_path / "val"
    result = run_script("validate.py", f"model={exported_model}", f"input={photos}", f"output={out}",
                        "optim.steps=1", "image_size=32", f"max_pixels={pixels - 1}")
    assert result.returncode == 1, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["skipped"] == [first.name, "zz_broken.jpg"] and len(report["images"]) == 1
    assert "refused as a possible decompression bomb" in result.stderr
    assert "zz_broken.jpg: cannot be decoded" in result.stderr
