"""Training data: recursive discovery, mode conversions, and bad files skipped without stopping training."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fast_style.training.data import ImageFolderDataset, PhotoDataModule, photo_transform
from fast_style.errors import FastStyleError
from fast_style.io.images import find_images, fit_long_side, load_image, read_photo


def gradient(size: tuple[int, int] = (40, 30)) -> np.ndarray:
    w, h = size
    return np.stack([*np.meshgrid(np.linspace(0, 255, w), np.linspace(0, 255, h)), np.full((h, w), 128.0)], -1)


@pytest.fixture()
def photo_folder(tmp_path: Path) -> Path:
    """Good photos in every awkward mode, nested, plus a truncated JPEG and a text file named .jpg."""
    rgb = Image.fromarray(gradient().astype(np.uint8), "RGB")
    (tmp_path / "a" / "b").mkdir(parents=True)
    rgb.save(tmp_path / "rgb.jpg")
    rgb.convert("L").save(tmp_path / "a" / "gray.png")
    rgb.convert("RGBA").save(tmp_path / "a" / "rgba.png")
    rgb.convert("CMYK").save(tmp_path / "a" / "b" / "cmyk.jpg")
    rgb.convert("P").save(tmp_path / "a" / "b" / "palette.gif")
    rgb.save(tmp_path / "a" / "b" / "photo.webp")
    Image.fromarray((gradient()[..., 0] * 257).astype(np.uint16)).save(tmp_path / "gray16.png")
    full = (tmp_path / "rgb.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (tmp_path / "notes.jpg").write_text("this is not an image")
    (tmp_path / "readme.txt").write_text("ignored: not an image extension")
    return tmp_path


def test_find_images_is_recursive_and_filters_extensions(photo_folder: Path) -> None:
    names = [p.name for p in find_images(photo_folder)]
    assert len(names) == 9 and "readme.txt" not in names
    assert {"cmyk.jpg", "palette.gif", "photo.webp", "gray16.png"} <= set(names)


@pytest.mark.parametrize("name", ["rgb.jpg", "a/gray.png", "a/rgba.png", "a/b/cmyk.jpg", "a/b/palette.gif",
                                  "gray16.png"])
def test_modes_are_converted_to_rgb(photo_folder: Path, name: str) -> None:
    image = load_image(photo_folder / name)
    assert image.mode == "RGB" and image.size == (40, 30)
    array = np.asarray(image, dtype=float)
    # The left-to-right ramp survives the conversion (16-bit is scaled down, not clipped at 255).
    assert array[:, -1].mean() - array[:, 0].mean() > 60
    # JPEGs take torchvision's decoder, the rest Pillow's (all of them without fast_jpeg): the same pixels either way.
    pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
    for fast_jpeg in (True, False):
        photo = read_photo(photo_folder / name, fast_jpeg)
        assert photo.dtype == torch.uint8 and torch.equal(photo, pixels)


def test_fit_long_side_shrinks_as_torchvision_resize_does() -> None:
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    photo = torch.from_numpy(gradient((61, 37)).astype(np.uint8)).permute(2, 0, 1)
    small = fit_long_side(photo, 24)
    assert small.dtype == torch.uint8 and small.shape == (3, 15, 24)
    assert torch.equal(small, TF.resize(photo, [15, 24], interpolation=InterpolationMode.BICUBIC, antialias=True))
    assert fit_long_side(photo, 61) is photo and fit_long_side(photo, None) is photo


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 40x30, displayed rotated by 90 degrees
    Image.fromarray(gradient().astype(np.uint8), "RGB").save(tmp_path / "rotated.jpg", exif=exif)
    photo = read_photo(tmp_path / "rotated.jpg")
    assert photo.shape == (3, 40, 30)
    assert torch.equal(photo, torch.from_numpy(np.asarray(load_image(tmp_path / "rotated.jpg")).copy()).permute(2, 0, 1))


def test_truncated_jpeg_and_oversized_jpeg_are_refused(photo_folder: Path, monkeypatch) -> None:
    with pytest.raises(OSError):
        read_photo(photo_folder / "truncated.jpg")  # cut in its header: Pillow refuses it
    photo = Image.fromarray(gradient((400, 300)).astype(np.uint8), "RGB")
    photo.save(photo_folder / "big.jpg")
    full = (photo_folder / "big.jpg").read_bytes()
    (photo_folder / "cut.jpg").write_bytes(full[: len(full) * 3 // 4])  # cut in its pixel data
    with pytest.raises(OSError, match=r"cut\.jpg: .*truncated"):
        read_photo(photo_folder / "cut.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40 * 30 // 4)  # 4x over the limit: a decompression bomb
    with pytest.raises(Image.DecompressionBombError):
        read_photo(photo_folder / "rgb.jpg")


def test_rgba_transparency_is_composited_on_white(tmp_path: Path) -> None:
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert np.asarray(load_image(tmp_path / "clear.png")).min() == 255


def test_dataset_skips_unreadable_files_with_a_counting_warning(photo_folder: Path, caplog) -> None:
    files = find_images(photo_folder)
    dataset = ImageFolderDataset(files, photo_transform(16))
    with caplog.at_level(logging.WARNING):
        batch = torch.stack([dataset[i] for i in range(len(dataset))])
    assert batch.shape == (9, 3, 16, 16) and 0 <= batch.min() and batch.max() <= 1
    assert {p.name for p in dataset.skipped} == {"truncated.jpg", "notes.jpg"}
    warnings = [r.getMessage() for r in caplog.records if "skipping unreadable image" in r.getMessage()]
    assert len(warnings) == 2 and "notes.jpg" in " ".join(warnings) and "2 skipped so far" in warnings[-1]


def test_datamodule_holds_back_previews_and_batches(photo_folder: Path) -> None:
    dm = PhotoDataModule(str(photo_folder), image_size=16, batch_size=2, num_workers=0, num_previews=2)
    dm.setup("fit")
    assert len(dm.train_set) == 7 and not set(dm.preview_files) & set(dm.train_set.files)
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (2, 3, 16, 16)
    assert dm.preview_batch().shape == (2, 3, 16, 16)


def test_training_crops_vary_in_scale_and_flip_and_previews_do_not() -> None:
    """A small folder shown at many scales: the crops of one photo cover different shares of it (the left half of
    this photo is black, the right white, so a crop's mean says where its edges fall), and some are mirrored."""
    photo = torch.zeros(3, 60, 80, dtype=torch.uint8)
    photo[:, :, 40:] = 255
    torch.manual_seed(0)
    train = photo_transform(16, True, min_crop_area=0.25, flip=True)
    crops = torch.stack([train(photo) for _ in range(50)])
    assert crops.shape == (50, 3, 16, 16)
    assert crops.mean((1, 2, 3)).std() > 0.1                          # crops of different regions and sizes
    left_white = crops[:, 0, :, 0].mean(1) > crops[:, 0, :, -1].mean(1)
    assert 0 < left_white.sum() < 50                                  # mirrored and unmirrored crops
    plain = photo_transform(16, True)                                 # the defaults: no scale change, no flips
    assert all(c[0, :, 0].mean() <= c[0, :, -1].mean() for c in (plain(photo) for _ in range(20)))
    previews = photo_transform(16, False, min_crop_area=0.25, flip=True)
    assert torch.equal(previews(photo), previews(photo))              # previews stay the centre crop


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_or_empty_folder_is_a_clear_error(tmp_path: Path, make: str) -> None:
    root = tmp_path / "photos"
    if make == "empty":
        root.mkdir()
    with pytest.raises(FastStyleError, match="data.root=.*photos") as info:
        PhotoDataModule(str(root), num_workers=0).setup("fit")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("image_size", 0, r"data\.image_size=0: use a whole number from 1 to 4096"),
    ("image_size", 100_000, r"data\.image_size=100000: use a whole number from 1 to 4096"),
    ("batch_size", 0, r"data\.batch_size=0: use a whole number from 1"),
    ("num_workers", -1, r"data\.num_workers=-1: use a whole number from 0"),
    ("num_previews", -1, r"data\.num_previews=-1: use a whole number from 0"),
    ("batch_size", "abc", r"data\.batch_size=abc: use a whole number"),
    ("min_crop_area", 0, r"data\.min_crop_area=0: use a number above 0 and at most 1 \(or null\); the smallest share"),
    ("min_crop_area", 1.5, r"data\.min_crop_area=1\.5: use a number above 0 and at most 1"),
    ("flip", "yes", r"data\.flip=yes: use true or false"),
])
def test_bad_data_settings_are_named(photo_folder: Path, setting: str, value: object, message: str) -> None:
    with pytest.raises(FastStyleError, match=message):
        PhotoDataModule(str(photo_folder), **{"num_workers": 0, setting: value})


def test_broken_photos_among_the_previews_are_skipped(photo_folder: Path, caplog) -> None:
    """notes.jpg sorts among the first 7 photos: it is skipped, the next readable one is held back."""
    for name in ("z1.png", "z2.png"):
        Image.fromarray(gradient().astype(np.uint8), "RGB").save(photo_folder / name)
    files = find_images(photo_folder)
    dm = PhotoDataModule(str(photo_folder), image_size=16, batch_size=2, num_workers=0, num_previews=7)
    dm.setup("fit")
    broken = {photo_folder / "truncated.jpg", photo_folder / "notes.jpg"}
    assert broken & set(files[:7]) and not broken & set(dm.preview_files)
    assert len(dm.preview_files) == 7 and dm.preview_batch().shape == (7, 3, 16, 16)
    assert "notes.jpg" in caplog.text and {photo_folder / "z1.png", photo_folder / "z2.png"} <= set(dm.train_set.files)


def test_all_broken_training_photos_are_one_clean_error(tmp_path: Path) -> None:
    for i in range(4):
        (tmp_path / f"broken{i}.jpg").write_text("not a photo")
    dm = PhotoDataModule(str(tmp_path), image_size=16, batch_size=2, num_workers=2, num_previews=0)
    with pytest.raises(FastStyleError, match=r"none of the 4 training images can be decoded") as info:
        dm.setup("fit")
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_linked_sub_folders_are_followed_and_loops_skipped(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    Image.fromarray(gradient().astype(np.uint8), "RGB").save(tmp_path / "elsewhere" / "linked.png")
    root = tmp_path / "photos"
    root.mkdir()
    (root / "sub").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "loop").symlink_to(root)
    with pytest.warns(UserWarning, match="not searching .*loop again"):
        assert find_images(root) == [root / "sub" / "linked.png"]


def test_animated_gif_warns_that_only_its_first_frame_is_used(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), color) for color in ("red", "blue", "green")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match=r"anim\.gif is animated \(3 frames\); only its first frame is used"):
        image = read_photo(tmp_path / "anim.gif")
    assert image[0, 0, 0] > 200 and image[2, 0, 0] < 50  # red: the first frame
