"""The gallery: a grid of paintings, photos and their stylised versions, written whole or not at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import COCO, run_script
import fast_style.cli.gallery as cli_gallery
from fast_style.config import MODEL_SCRIPTS_DIR, compose_config
from fast_style.errors import FastStyleError
from fast_style.evaluate.gallery import fit_tile, gallery
from fast_style.io.images import find_images
from fast_style.inference.stylizer import Stylizer
from fast_style.model_card import load_model

CPU = torch.device("cpu")


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    """Two photos and one file that is not an image."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in find_images(COCO)[:2]:
        shutil.copy(path, folder / path.name)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_fit_tile_covers_and_crops_any_shape() -> None:
    for shape in [(30, 90), (90, 30), (7, 9)]:
        assert fit_tile(torch.rand(1, 3, *shape), 24, 32).shape == (1, 3, 24, 32)


def test_grid_has_a_tile_per_painting_photo_and_output(exported_model: Path, styled_model: Path, photos: Path,
                                                       assets: Path) -> None:
    networks = [(load_model(m)[1].style, Stylizer(load_model(m)[0], CPU)) for m in (exported_model, styled_model)]
    sheet, skipped = gallery(networks, find_images(photos), tile=(24, 32), max_size=64, assets_dir=assets)
    assert [p.name for p, _ in skipped] == ["broken.jpg"] and "cannot be decoded" in skipped[0][1]
    pad, caption = 4, 15
    columns, rows = 1 + 2, 1 + 2                          # photo column + two networks; paintings + two photos
    assert sheet.size == (columns * (32 + pad) + pad, caption + rows * (24 + pad) + pad)
    # the styled network's column differs from the photo column; the top-left corner is blank
    tiles = torch.tensor(list(sheet.getdata()), dtype=torch.float32).view(sheet.height, sheet.width, 3)
    row = slice(caption + pad + 28, caption + pad + 28 + 24)
    photo, styled = tiles[row, pad:pad + 32], tiles[row, pad + 2 * 36:pad + 2 * 36 + 32]
    assert (photo - styled).abs().mean() > 2
    assert (tiles[caption + pad:caption + pad + 24, pad:pad + 32] == 255).all()


def test_the_judge_captions_each_stylised_tile(exported_model: Path, photos: Path, assets: Path) -> None:
    judge = pytest.importorskip("fast_style.evaluate.style_distance").judge_for("auto")[0]
    if judge is None:
        pytest.skip("the style judge is not installed (pip install 'fast_style[judge]')")
    networks = [(load_model(exported_model)[1].style, Stylizer(load_model(exported_model)[0], CPU))]
    files = find_images(photos)
    plain, _ = gallery(networks, files, tile=(64, 96), max_size=64, assets_dir=assets)
    captioned, _ = gallery(networks, files, tile=(64, 96), max_size=64, assets_dir=assets, judge=judge)
    tiles = [torch.tensor(list(s.getdata()), dtype=torch.float32).view(s.height, s.width, 3) for s in (plain, captioned)]
    changed = (tiles[0] - tiles[1]).abs().sum(-1) > 0
    pad, caption = 4, 15
    stylised = slice(pad + 100, pad + 100 + 96)                    # the network's column
    assert changed[:, stylised].any() and not changed[:, :pad + 96].any()   # captions on its tiles only
    assert not changed[:caption + pad + 64].any()                 # not on the painting row


def test_gallery_script_writes_the_grid_and_names_what_it_skipped(exported_model: Path, photos: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "docs" / "gallery.jpg"
    result = run_script("gallery.py", f"models=[{exported_model}]", f"input={photos}", f"output={out}",
                        "max_size=64", "tile_height=24", "tile_width=32")
    assert result.returncode == 1, result.stderr[-2000:]     # as infer.py: 1 when a photo was skipped
    assert "broken.jpg" in result.stderr
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.size == (2 * 36 + 4, 15 + 3 * 28 + 4)


def test_gallery_script_refuses_bad_settings_and_writes_nothing(exported_model: Path, photos: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "gallery.gif"
    result = run_script("gallery.py", f"models=[{exported_model}]", f"input={photos}", f"output={out}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: output={out}: name a .jpg or .png file"]
    assert not out.exists() and list(tmp_path.glob(".*.part")) == []


@pytest.mark.parametrize(("output", "message"), [
    ("made.jpg", r"made\.jpg is an existing folder; give a file name$"),
    ("a_file/gallery.jpg", r"a_file/gallery\.jpg: .*a_file is a file, not a folder"),
])
def test_output_that_cannot_be_written_is_refused_before_any_work(exported_model: Path, photos: Path,
                                                                  tmp_path: Path, output: str, message: str) -> None:
    (tmp_path / "made.jpg").mkdir()
    (tmp_path / "a_file").write_text("kept")
    cfg = compose_config("gallery", [f"models=[{exported_model}]", f"input={photos}", f"output={tmp_path / output}"],
                         MODEL_SCRIPTS_DIR)
    with pytest.raises(FastStyleError, match=rf"^output=.*{message}"):
        cli_gallery.run(cfg)
    assert (tmp_path / "a_file").read_text() == "kept" and not any((tmp_path / "made.jpg").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "made.jpg", "photos"]
