"""scripts/infer.py and the inference core: folders in, stylised folders out, odd files, tiling, controls."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from conftest import run_script
from fast_style.runtime import choose_device
from fast_style.errors import FastStyleError
from fast_style.inference.standalone import open_model
from fast_style.io.folders import decode_workers, plan_jobs, stylize_folder
from fast_style.io.images import load_image, read_tensor, save_image
from fast_style.inference.prepare import for_inference
from fast_style.inference.stylizer import Stylizer, luminance
from fast_style.runtime import choose_precision
from fast_style.model_card import load_model
from fast_style.inference.tiling import ramp, tile_starts

CPU = torch.device("cpu")


def as_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float ``[3, H, W]`` in [0, 1]."""
    return TF.to_dtype(TF.pil_to_tensor(image), torch.float32, scale=True)


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth colourful test picture (mid-tones, so stylisation and chroma are measurable)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    rgb = np.stack([128 + 90 * np.sin(x / 7 + seed), 128 + 90 * np.cos(y / 5 - seed),
                    40 + 170 * (x + y) / (width + height)], axis=-1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean() / 255)


@pytest.fixture(scope="module")
def styled(styled_model: Path) -> torch.nn.Module:
    return load_model(styled_model)[0]


def make_tree(root: Path) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Every kind of awkward file a photo folder holds; returns ({good relative path: expected output size}, [bad paths])."""
    (root / "a" / "b").mkdir(parents=True)
    good: dict[str, tuple[int, int]] = {}

    def put(rel: str, image: Image.Image, **options: object) -> None:
        image.save(root / rel, **options)
        good[rel] = image.size

    put("top.jpg", photo(64, 48), quality=95)
    put("a/b/deep.png", photo(48, 40, 1))
    put("a/pic.webp", photo(40, 56, 2), quality=95)
    put("gray.png", photo(50, 30, 3).convert("L"))
    rgba = photo(33, 47, 4).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    put("rgba.png", rgba)
    put("cmyk.jpg", photo(45, 45, 5).convert("CMYK"), quality=95)
    sixteen = (np.asarray(photo(40, 32, 6).convert("L"), np.uint16) * 257)
    put("a/sixteen.png", Image.fromarray(sixteen))
    put("a/palette.png", photo(36, 28, 10).convert("P", palette=Image.Palette.ADAPTIVE, colors=64))
    put("odd.png", photo(37, 53, 7))
    put("my photo é ü.png", photo(41, 29, 8))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 40x30, displayed rotated by 90 degrees: 30x40
    photo(40, 30, 9).save(root / "rotated.jpg", exif=exif, quality=95)
    good["rotated.jpg"] = (30, 40)
    full = (root / "top.jpg").read_bytes()
    (root / "a" / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (root / "notes.jpg").write_text("this is not an image\n")
    assert Image.open(root / "a/sixteen.png").mode.startswith("I")
    return good, ["a/truncated.jpg", "notes.jpg"]


def test_contract_stylises_a_mixed_folder_and_reports_broken_files(tmp_path: Path, styled_model: Path) -> None:
    src, out = tmp_path / "in put", tmp_path / "out"
    good, bad = make_tree(src)
    result = run_script("infer.py", f"model={styled_model}", f"input={src}", f"output={out}", "num_workers=0",
                        "batch_size=4")
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == f"stylized {len(good)}, skipped {len(bad)}"
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == len(bad)
    for rel in bad:
        assert sum(str(src / rel) in line for line in skipped) == 1
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert written == set(good)  # same names and relative paths, nothing for broken files, no temp files
    umask = os.umask(0o022)
    os.umask(umask)
    for rel, size in good.items():
        assert (out / rel).stat().st_mode & 0o777 == 0o666 & ~umask, f"{rel}: not the permissions of a normal file"
        output = Image.open(out / rel)
        assert output.size == size, rel
        assert difference(load_image(src / rel), output.convert("RGB")) > 0.03, f"{rel} looks unstylised"

    # A rerun only has the broken files left to try; overwrite=true redoes everything.
    todo, existing = plan_jobs(src, out)
    assert (sorted(str(j.source.relative_to(src)) for j in todo), existing) == (sorted(bad), len(good))
    assert len(plan_jobs(src, out, overwrite=True)[0]) == len(good) + len(bad)


def test_folder_outputs_equal_each_photo_stylised_alone(tmp_path: Path, styled: torch.nn.Module, capsys) -> None:
    """Sorting by size and batching equal sizes change nothing: every output has its photo's size, name and
    format and the pixels of that photo stylised by itself; a broken file is named and counted."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    names = {"b.png": photo(40, 32, 0), "a.png": photo(40, 32, 1), "c.png": photo(40, 32, 2),  # one size: batched
             "odd.png": photo(37, 53, 3), "wide.png": photo(61, 20, 4), "j.jpg": photo(44, 36, 5), "w.webp": photo(30, 30, 6)}
    for name, image in names.items():
        image.save(src / name, quality=95)
    (src / "broken.png").write_bytes(b"not a png")
    stylizer = Stylizer(styled, CPU)
    summary = stylize_folder(stylizer, plan_jobs(src, out)[0], batch_size=2, progress=False)
    assert (summary.stylized, summary.skipped) == (len(names), 1)
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("skipped ")] == \
        [f"skipped {src / 'broken.png'}: cannot be decoded (UnidentifiedImageError: cannot identify image file "
         f"{str(src / 'broken.png')!r})"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for name in names:
        alone = save_image(stylizer(read_tensor(src / name)[None])[0], tmp_path / "alone" / name)  # same encoder
        written = Image.open(out / name)
        assert written.format == {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP"}[Path(name).suffix]
        assert written.size == names[name].size
        gap = np.abs(np.asarray(written.convert("RGB"), np.int16) - np.asarray(Image.open(alone).convert("RGB"), np.int16))
        assert gap.max() <= 1 if name.endswith(".png") else gap.mean() < 0.5, name  # float noise, then lossy coding


def test_decode_workers_leave_the_cpu_to_the_network() -> None:
    assert decode_workers("auto", CPU) == 0
    assert decode_workers("auto", torch.device("cuda")) == min(4, os.cpu_count() or 1)
    assert decode_workers(3, CPU) == 3
    with pytest.raises(FastStyleError, match=r"^num_workers=many: use a whole number from 0"):
        decode_workers("many", CPU)


def test_output_paths_never_replace_inputs_or_each_other(tmp_path: Path) -> None:
    photo(16, 16).save(tmp_path / "a.jpg")
    photo(16, 16).save(tmp_path / "a.png")
    with pytest.raises(FastStyleError, match="would overwrite the input"):
        plan_jobs(tmp_path, tmp_path)
    with pytest.raises(FastStyleError, match="would both be written"):
        plan_jobs(tmp_path, tmp_path / "out", format="png")
    with pytest.raises(FastStyleError, match="format=gif"):
        plan_jobs(tmp_path, tmp_path / "out", format="gif")
    (tmp_path / "a.png").unlink()
    (tmp_path / "styled").mkdir()
    photo(16, 16).save(tmp_path / "styled" / "a.jpg")  # an earlier output inside the input folder
    jobs, _ = plan_jobs(tmp_path, tmp_path / "styled", overwrite=True)
    assert [(j.source, j.target) for j in jobs] == [(tmp_path / "a.jpg", tmp_path / "styled" / "a.jpg")]


def test_output_that_is_a_file_or_below_one_is_refused_and_a_folder_is_written_into(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    photo(16, 16).save(tmp_path / "in" / "a.jpg")
    (tmp_path / "notes.txt").write_text("kept")
    (tmp_path / "made.jpg").mkdir()  # a folder named like an image: the output goes into it
    with pytest.raises(FastStyleError, match=r"^output=.*notes\.txt is an existing file; give a folder"):
        plan_jobs(tmp_path / "in", tmp_path / "notes.txt")
    with pytest.raises(FastStyleError, match=r"^output=.*notes\.txt/b\.jpg: .*notes\.txt is a file, not a folder"):
        plan_jobs(tmp_path / "in" / "a.jpg", tmp_path / "notes.txt" / "b.jpg")
    assert (tmp_path / "notes.txt").read_text() == "kept"
    jobs, existing = plan_jobs(tmp_path / "in" / "a.jpg", tmp_path / "made.jpg")
    assert ([j.target for j in jobs], existing) == ([tmp_path / "made.jpg" / "a.jpg"], 0)


def test_max_size_and_decompression_bomb_guard(tmp_path: Path, styled: torch.nn.Module, capsys) -> None:
    src = tmp_path / "in"
    src.mkdir()
    photo(120, 80).save(src / "big.png")
    photo(30, 20).save(src / "small.png")
    stylizer = Stylizer(styled, CPU)
    jobs, _ = plan_jobs(src, tmp_path / "out")
    summary = stylize_folder(stylizer, jobs, max_size=60, progress=False)
    assert (summary.stylized, summary.skipped) == (2, 0)
    assert Image.open(tmp_path / "out" / "big.png").size == (60, 40)
    assert Image.open(tmp_path / "out" / "small.png").size == (30, 20)  # never enlarged

    # 120x80 = 9600 px: over 5000 is only a warning for Pillow, over 2x4000 its error; both are refused.
    for limit in (5000, 4000):
        jobs, _ = plan_jobs(src, tmp_path / f"guarded{limit}")
        summary = stylize_folder(stylizer, jobs, max_pixels=limit, progress=False)
        assert (summary.stylized, summary.skipped) == (1, 1)
        message = capsys.readouterr().err
        assert f"skipped {src / 'big.png'}: refused as a possible decompression bomb" in message
        assert f"max_pixels (now {limit})" in message
        assert not (tmp_path / f"guarded{limit}" / "big.png").exists()
    assert Image.MAX_IMAGE_PIXELS not in (None, 5000)  # the limit does not leak out of the run


def test_strength_blends_with_the_photo(tmp_path: Path, styled: torch.nn.Module) -> None:
    src = tmp_path / "in"
    src.mkdir()
    photo(45, 37).save(src / "p.png")
    outputs = {}
    for strength in (0.0, 0.5, 1.0):
        jobs, _ = plan_jobs(src, tmp_path / str(strength))
        stylize_folder(Stylizer(styled, CPU, strength=strength), jobs, progress=False)
        outputs[strength] = np.asarray(Image.open(tmp_path / str(strength) / "p.png"), np.float64)
    original = np.asarray(Image.open(src / "p.png"), np.float64)
    assert np.array_equal(outputs[0.0], original)
    assert np.abs(outputs[1.0] - original).mean() > 10
    assert np.abs(outputs[0.5] - (original + outputs[1.0]) / 2).max() <= 1.0  # uint8 rounding only


def chroma(image: torch.Tensor) -> torch.Tensor:
    """Cb and Cr (BT.601) of ``[B, 3, H, W]``."""
    y = luminance(image)
    return torch.cat([(image[:, 2:3] - y) * 0.564, (image[:, 0:1] - y) * 0.713], dim=1)


def test_preserve_color_keeps_the_photos_chroma(styled: torch.nn.Module) -> None:
    x = as_tensor(photo(64, 48))[None]
    kept = Stylizer(styled, CPU, preserve_color=True)(x)
    full = Stylizer(styled, CPU)(x)
    inside = ((kept > 0) & (kept < 1)).all(dim=1, keepdim=True).expand(-1, 2, -1, -1)  # not clipped
    assert inside.float().mean() > 0.9
    assert (chroma(kept) - chroma(x))[inside].abs().max() < 1e-5
    assert (chroma(full) - chroma(x)).abs().mean() > 0.02  # the plain output does change colours
    assert (luminance(kept) - luminance(x)).abs().mean() > 0.02  # and the luminance is stylised
    assert torch.allclose(luminance(kept)[inside[:, :1]], luminance(full)[inside[:, :1]], atol=1e-5)


def test_batches_match_single_images(styled: torch.nn.Module) -> None:
    batch = torch.stack([as_tensor(photo(40, 32, seed)) for seed in range(3)])
    together = Stylizer(styled, CPU)(batch)
    alone = torch.cat([Stylizer(styled, CPU)(image[None]) for image in batch])
    assert (together - alone).abs().max() < 1e-5
    split = Stylizer(styled, CPU, memory=2 * 40 * 32 * 1024 * 2)  # room for two images per pass
    assert split.plan(3, 32, 40) == (2, None)
    assert (split(batch) - together).abs().max() < 1e-5


@pytest.mark.parametrize(("precision", "tolerance"), [(torch.float32, 1e-3), (torch.bfloat16, 0.02)])
def test_tiles_match_the_untiled_image_without_seams(styled: torch.nn.Module, precision: torch.dtype,
                                                     tolerance: float) -> None:
    # 144x304 fits one 224x224 tile's area, so the shared instance-norm statistics are the untiled ones;
    # the 160 px overlap discards 40 px at each inner tile edge, beyond the small net's receptive field (38 px).
    # bfloat16: the fast CPU path (weights stored in 16 bits), compared with its own untiled output.
    net = for_inference(copy.deepcopy(styled), CPU, precision)
    x = as_tensor(photo(304, 144))[None]
    whole = Stylizer(net, CPU, precision, tile=None)(x)
    tiled = Stylizer(net, CPU, precision, tile=224, overlap=160)(x)
    assert tile_starts(304, 224, 160) == [0, 64, 128]
    assert (whole - x).abs().mean() > 0.03
    error = (tiled - whole).abs()
    assert error.max() < tolerance  # everywhere, so also along the tile borders at x = 64..288: no seam


@pytest.mark.parametrize(("precision", "tolerance"), [(torch.float32, 1e-3), (torch.bfloat16, 0.02)])
def test_tiles_of_a_network_with_noise_channels_get_their_place_in_the_whole_images_noise(
        precision: torch.dtype, tolerance: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """``model.noise_channels``: each tile is painted with the noise of its place in the whole image, so tiles meet
    as for a network without noise; noise restarting at every tile's corner would show."""
    from fast_style.nn.transformer import TransformerNet

    torch.manual_seed(0)
    net = TransformerNet((8, 16, 32), 1, noise_channels=2, noise_std=0.3)
    torch.nn.init.normal_(net.out[1].weight, std=0.05)
    net = for_inference(net.eval(), CPU, precision)
    x = torch.full((1, 3, 144, 304), 0.5)
    x[..., 40:100, 120:180] = 0.1                       # a dark tower on a flat sky
    whole = Stylizer(net, CPU, precision, tile=None)(x)
    tiled = Stylizer(net, CPU, precision, tile=224, overlap=160)(x)
    assert (whole - x)[..., :, :100].std() > 0.01        # the noise paints the flat sky
    assert (tiled - whole).abs().max() < tolerance
    monkeypatch.setattr("fast_style.inference.stylizer.place", lambda net, origin: None)
    restarted = Stylizer(net, CPU, precision, tile=224, overlap=160)(x)
    assert (restarted - whole).abs().max() > 5 * tolerance


def test_tiles_share_the_whole_images_contrast_below_the_floor(styled: torch.nn.Module) -> None:
    """A low-contrast photo (below ``model.contrast_floor``) whose left tile is flat and right tile patterned: each
    tile's own contrast would fade their strokes by different amounts, and the seam would show."""
    assert styled.contrast.floor == 0.1
    x = 0.45 + 0.3 * (as_tensor(photo(304, 144))[None] - 0.5)
    x[..., :120] = 0.45
    assert 0.05 < x.std() < 0.1
    whole = Stylizer(styled, CPU, tile=None)(x)
    tiled = Stylizer(styled, CPU, tile=224, overlap=160)(x)
    assert (whole - x).abs().mean() > 0.01
    assert (tiled - whole).abs().max() < 1e-3


def test_auto_tiling_when_an_image_does_not_fit(styled: torch.nn.Module) -> None:
    x = as_tensor(photo(304, 144))[None]
    stylizer = Stylizer(styled, CPU, overlap=32, memory=200 * 200 * 1024 * 2)  # room for ~200x200 px
    assert stylizer.plan(1, 144, 304) == (1, 200)
    assert stylizer.plan(1, 100, 100) == (1, None)
    tiled = stylizer(x)
    whole = Stylizer(styled, CPU, tile=None)(x)
    # Statistics from the image shrunk to 200x200 px and a short overlap: close, not identical.
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().mean() < 0.5 * (whole - x).abs().mean()


def test_blend_weights_sum_to_one() -> None:
    length, tile, overlap = 500, 160, 64
    total = torch.zeros(length)
    for start in tile_starts(length, tile, overlap):
        stop = min(start + tile, length)
        total[start:stop] += ramp(start, stop, length, overlap)
    assert torch.allclose(total, torch.ones(length))
    assert tile_starts(500, 160, 64)[-1] + 160 >= 500


def test_checkpoint_and_export_give_the_same_result(trained_run: Path, exported_model: Path) -> None:
    x = as_tensor(photo(40, 24))[None]
    from_pt, card, _ = open_model(exported_model, CPU)
    from_ckpt, ckpt_card, _ = open_model(trained_run / "checkpoints" / "last.ckpt", CPU)
    assert card.style.name == ckpt_card.style.name == "starry_night"
    with torch.inference_mode():
        assert torch.equal(from_pt(x), from_ckpt(x))


class RunsCode:
    """Unpickling this runs a shell command: what a malicious "model" file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch '{self.marker}'",)


def test_model_file_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    torch.save({"format": "fast_style/1", "payload": RunsCode(marker)}, tmp_path / "evil.pt")  # zip, as torch writes
    (tmp_path / "evil.ckpt").write_bytes(pickle.dumps(RunsCode(marker)))  # a bare pickle
    for name in ("evil.pt", "evil.ckpt"):
        with pytest.raises(FastStyleError, match=rf"model=.*{name}: refused, not a fast_style model file that loads safely"):
            open_model(tmp_path / name, CPU)
    assert not marker.exists()


def test_models_of_the_logit_output_network_are_refused(exported_model: Path, tmp_path: Path) -> None:
    """fast_style/1 networks predicted in logit space: their weights would be misread, so they are refused."""
    raw = torch.load(exported_model, weights_only=True)
    torch.save({**raw, "format": "fast_style/1"}, tmp_path / "old.pt")
    card = {k: v for k, v in raw.items() if k not in ("format", "state_dict")}   # a checkpoint from then:
    torch.save({"fast_style": card, "state_dict": {}}, tmp_path / "old.ckpt")    # no format recorded
    for name in ("old.pt", "old.ckpt"):
        with pytest.raises(FastStyleError, match=rf"model=.*{name}: made by an earlier fast_style \(fast_style/1\)"):
            open_model(tmp_path / name, CPU)


def test_files_that_are_not_our_models_are_refused(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(FastStyleError, match="not a fast_style model"):
        open_model(tmp_path / "other.pt", CPU)
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x01garbage")
    with pytest.raises(FastStyleError, match="not a loadable ONNX model"):
        open_model(tmp_path / "broken.onnx", CPU)
    with pytest.raises(FastStyleError, match="file not found"):
        open_model(tmp_path / "missing.pt", CPU)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"strength": 1.5}, "strength=1.5"),
    ({"tile": 30}, "tile=30"),
    ({"tile": 256, "overlap": 256}, "tile=256"),
    ({"overlap": 30}, "tile_overlap=30"),
])
def test_bad_settings_are_named(styled: torch.nn.Module, kwargs: dict, message: str) -> None:
    with pytest.raises(FastStyleError, match=message):
        Stylizer(styled, CPU, **kwargs)


def test_bad_device_and_precision_are_named(tmp_path: Path, styled: torch.nn.Module) -> None:
    with pytest.raises(FastStyleError, match="precision=float16"):
        choose_precision("float16", CPU)
    with pytest.raises(FastStyleError, match="device=tpu"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(FastStyleError, match="device=cuda"):
            choose_device("cuda")
    photo(16, 16).save(tmp_path / "p.png")
    jobs, _ = plan_jobs(tmp_path / "p.png", tmp_path / "out")
    with pytest.raises(FastStyleError, match="quality=0"):
        stylize_folder(Stylizer(styled, CPU), jobs, quality=0, progress=False)
    with pytest.raises(FastStyleError, match="input="):
        plan_jobs(tmp_path / "nothing-here", tmp_path / "out")


def test_infer_settings_typed_wrong_are_named(tmp_path: Path, styled: torch.nn.Module) -> None:
    photo(16, 16).save(tmp_path / "p.png")
    with pytest.raises(FastStyleError, match=r"^overwrite=maybe: use true or false$"):
        plan_jobs(tmp_path / "p.png", tmp_path / "out", overwrite="maybe")
    jobs, _ = plan_jobs(tmp_path / "p.png", tmp_path / "out")
    for kwargs, message in (({"num_workers": -1}, r"num_workers=-1: use a whole number from 0"),
                            ({"batch_size": "abc"}, r"batch_size=abc: use a whole number from 1"),
                            ({"max_pixels": 0}, r"max_pixels=0: use a whole number from 1 \(or null\)"),
                            ({"progress": "no"}, r"progress=no: use true or false")):
        with pytest.raises(FastStyleError, match=message):
            stylize_folder(Stylizer(styled, CPU), jobs, **{"progress": False, **kwargs})
    with pytest.raises(FastStyleError, match=r"preserve_color=maybe: use true or false"):
        Stylizer(styled, CPU, preserve_color="maybe")
    assert not (tmp_path / "out").exists()


def test_rerun_removes_half_written_files_of_a_killed_run(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    photo(16, 16).save(tmp_path / "in" / "sub" / "p.png")
    out = tmp_path / "out" / "sub"
    out.mkdir(parents=True)
    dead = subprocess.Popen(["true"])  # a process that has ended: its pid names no running writer
    dead.wait()
    (out / f".p.png.{dead.pid}.k3j_x9a.part").write_bytes(b"half an image")  # what a killed atomic_write leaves
    (out / ".p.png.q8z_0ab.part").write_bytes(b"half an image")  # the same from fast_style 0.2 (no pid)
    (out / f".p.png.{os.getpid()}.u7w_1cd.part").write_bytes(b"being written")  # another run, still writing
    (out / ".keep.png.abc.part").write_bytes(b"not ours to delete")  # no job writes keep.png
    plan_jobs(tmp_path / "in", tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == [".keep.png.abc.part", f".p.png.{os.getpid()}.u7w_1cd.part"]


def test_contrast_floor_replaces_the_models_at_inference(styled_model: Path) -> None:
    """``infer.py contrast_floor=``: 0 paints a flat photo's strokes at full strength, the model's own floor (0.1)
    fades them, and ``null`` keeps the model's."""
    x = 0.45 + 0.2 * (as_tensor(photo(64, 48))[None] - 0.5)          # contrast about 0.05
    outputs = {floor: Stylizer.from_file(styled_model, device="cpu", precision="float32", tile=None,
                                         contrast_floor=floor)(x) for floor in (None, 0.1, 0)}
    assert torch.equal(outputs[None], outputs[0.1])
    assert (outputs[0] - x).abs().mean() > 1.5 * (outputs[None] - x).abs().mean() > 0


@pytest.mark.parametrize(("setting", "message"), [
    ("contrast_floor=-1", "error: contrast_floor=-1: "),
    ("contrast_floor=0.2", "error: contrast_floor=0.2: {model} is a standalone file"),
])
def test_a_bad_contrast_floor_is_one_error_and_writes_nothing(tmp_path: Path, styled_model: Path, setting: str,
                                                              message: str) -> None:
    model = styled_model
    if "0.2" in setting:  # a standalone file's floor was fixed at export
        model = tmp_path / "styled.onnx"
        assert run_script("export.py", f"model={styled_model}", "format=onnx", f"output={model}").returncode == 0
    photo(40, 32).save(tmp_path / "in.png")
    result = run_script("infer.py", f"model={model}", f"input={tmp_path / 'in.png'}", f"output={tmp_path / 'out.png'}",
                        setting)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(message.format(model=model))
    assert not (tmp_path / "out.png").exists()
