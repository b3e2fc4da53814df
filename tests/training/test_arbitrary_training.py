"""Any painting in one pass, end to end: training on a folder of paintings, inference with a painting never seen,
freezing a painting into a model file (and its standalone export), fine-tuning from the prediction, validation
and the gallery per painting, and every bad input refused in one line with nothing written."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from conftest import ASSETS, COCO, VGG_WEIGHTS, run_script
from fast_style.inference.paintings import PaintingEncoder, fold_paintings, read_painting
from fast_style.inference.standalone import OnnxModel, open_model
from fast_style.model_card import load_model, save_model
from fast_style.nn.arbitrary import ArbitraryStyleNet
from fast_style.nn.transformer import TransformerNet
from fast_style.training.recipe import start_from

pytestmark = pytest.mark.slow  # trains and runs every command: the full suite, not the everyday tier

CPU = torch.device("cpu")
PAINTINGS = ["titu1994_blue_swirls.jpg", "xunhuang1995_mondrian.jpg", "luanfujun_0_target.jpg"]
HELD_BACK = PAINTINGS[-1]


@pytest.fixture(scope="module")
def paintings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("paintings")
    for name in PAINTINGS:
        shutil.copy(ASSETS / "paintings" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for path in sorted(COCO.rglob("*.jpg"))[:2]:
        Image.open(path).convert("RGB").resize((80, 64)).save(folder / path.name)
    return folder


def train_overrides(run_dir: Path, paintings: Path, steps: int = 6) -> list[str]:
    return ["model=arbitrary", f"paintings.root={paintings}", f"paintings.exclude=[{HELD_BACK}]", "paintings.size=64",
            f"data.root={COCO}", f"loss.weights={VGG_WEIGHTS}", "data.image_size=64", "data.batch_size=2",
            "data.num_workers=0", f"trainer.max_steps={steps}", f"hydra.run.dir={run_dir}"]


@pytest.fixture(scope="module")
def arbitrary_model(tmp_path_factory: pytest.TempPathFactory, paintings: Path) -> Path:
    """A few steps on two paintings, its style rows then set apart so paintings give visibly different pictures."""
    run_dir = tmp_path_factory.mktemp("arbitrary")
    result = run_script("train.py", *train_overrides(run_dir, paintings))
    assert result.returncode == 0, result.stderr[-3000:]
    path = run_dir / "export" / "arbitrary.pt"
    net, card = load_model(path)
    assert card.arbitrary and card.train["paintings"] == sorted(PAINTINGS[:2]) and card.train["steps"] == 6
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for rows in net.transformer._rows():
            rows.add_(0.3 * torch.randn(rows.shape, generator=generator))
        net.transformer.out[1].weight.normal_(0, 0.3, generator=generator)
    return save_model(run_dir / "export" / "varied.pt", net, card)


def test_a_painting_never_seen_is_folded_into_a_plain_network(arbitrary_model: Path, paintings: Path) -> None:
    net, card = load_model(arbitrary_model)
    held_back = str(paintings / HELD_BACK)
    folded, chosen, milliseconds = fold_paintings(net, card, held_back, assets_dir=ASSETS)
    assert isinstance(net, ArbitraryStyleNet) and card.kind() == "an arbitrary-style"
    assert isinstance(folded, TransformerNet) and folded.num_styles == 1 and milliseconds > 0
    assert chosen.style.name == Path(HELD_BACK).stem and chosen.style.sha256 and not chosen.arbitrary
    photo = torch.rand(1, 3, 40, 56)
    stats = PaintingEncoder.of(net, card, ASSETS, CPU)(read_painting(Path(held_back), "style", card.style.size))
    with torch.no_grad():
        assert torch.allclose(folded(photo), net.eval()(photo, stats).clamp(0, 1), atol=1e-5)
        other = fold_paintings(net, card, str(paintings / PAINTINGS[0]), assets_dir=ASSETS)[0](photo)
        assert (other - folded(photo)).abs().mean() > 1e-3
        blend = {held_back: 1.0, str(paintings / PAINTINGS[0]): 0.0}
        assert torch.allclose(fold_paintings(net, card, blend, assets_dir=ASSETS)[0](photo), folded(photo), atol=1e-5)


def test_infer_export_and_standalone_give_the_same_picture(arbitrary_model: Path, paintings: Path, photos: Path,
                                                           tmp_path: Path) -> None:
    painting = paintings / HELD_BACK
    result = run_script("infer.py", f"model={arbitrary_model}", f"style={painting}", f"input={photos}",
                        f"output={tmp_path / 'out'}", "precision=float32", "format=png", "progress=false")
    assert result.returncode == 0, result.stderr
    assert "predicted in" in result.stdout
    frozen = tmp_path / "frozen.pt"
    result = run_script("export.py", f"model={arbitrary_model}", f"style={painting}", f"output={frozen}")
    assert result.returncode == 0, result.stderr
    net, card = load_model(frozen)
    assert card.style.file == HELD_BACK and card.network["num_styles"] == 1
    model, _, _ = open_model(arbitrary_model, CPU, str(painting), assets_dir=ASSETS)
    photo = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        assert torch.allclose(net(photo), model(photo), atol=1e-6)
    result = run_script("export.py", f"model={frozen}", "format=onnx", f"output={tmp_path / 'frozen.onnx'}")
    assert result.returncode == 0, result.stderr
    with torch.no_grad():
        assert torch.allclose(OnnxModel(tmp_path / "frozen.onnx", CPU)(photo), net(photo), atol=1e-4)
    out = sorted((tmp_path / "out").iterdir())
    stylised = torch.from_numpy(np.array(Image.open(out[0]).convert("RGB"))).permute(2, 0, 1).float() / 255
    photo_file = photos / out[0].with_suffix(".jpg").name
    source = torch.from_numpy(np.array(Image.open(photo_file).convert("RGB"))).permute(2, 0, 1).float() / 255
    with torch.no_grad():
        assert (net(source[None])[0] - stylised).abs().mean() < 2 / 255


def test_fine_tuning_starts_from_the_prediction(arbitrary_model: Path, paintings: Path) -> None:
    painting = paintings / HELD_BACK
    net, card = load_model(arbitrary_model)
    cfg = OmegaConf.create({"style": {"name": "custom", "image": str(painting), "size": 48}, "assets_dir": str(ASSETS)})
    student = TransformerNet(net.transformer.channels, net.transformer.num_res_blocks).eval()
    start_from(student, str(arbitrary_model), cfg)
    predicted, _, _ = fold_paintings(net, card, str(painting), size=48, assets_dir=ASSETS)  # the run's style.size
    photo = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        assert torch.allclose(student(photo), predicted(photo), atol=1e-6)


def test_validation_and_gallery_go_painting_by_painting(arbitrary_model: Path, paintings: Path, photos: Path,
                                                         tmp_path: Path) -> None:
    result = run_script("validate.py", f"model={arbitrary_model}", f"paintings={paintings}", f"input={photos}",
                        f"output={tmp_path / 'val'}", "image_size=64", "optim.steps=3", "style_distance=false")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "val" / "report.json").read_text())
    assert sorted(report["styles"]) == sorted(Path(p).stem for p in PAINTINGS)
    assert all(s["images"] == 2 and s["prediction_ms"] > 0 for s in report["styles"].values())
    assert (tmp_path / "val" / Path(HELD_BACK).stem / "report.md").is_file()
    sheet = tmp_path / "g.png"
    result = run_script("gallery.py", f"models=[{arbitrary_model}]", f"paintings={paintings}", f"input={photos}",
                        f"output={sheet}", "tile_height=32", "tile_width=40", "max_size=64", "style_distance=false")
    assert result.returncode == 0, result.stderr
    assert Image.open(sheet).size[0] >= 4 * 40  # the photo's column and one per painting


@pytest.fixture()
def broken_painting(tmp_path: Path) -> Path:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"not a jpeg at all")
    return path


@pytest.mark.parametrize("style, needle", [
    ("{painting_dir}/none.jpg", "painting not found"),
    ("{broken}", "cannot be decoded"),
    ("starry_night", "not a style name"),
    (None, "needs a painting"),
])
def test_a_bad_painting_is_one_error_and_writes_nothing(arbitrary_model: Path, paintings: Path, photos: Path,
                                                        broken_painting: Path, tmp_path: Path, style: str | None,
                                                        needle: str) -> None:
    setting = [] if style is None else [f"style={style.format(painting_dir=paintings, broken=broken_painting)}"]
    result = run_script("infer.py", f"model={arbitrary_model}", *setting, f"input={photos}",
                        f"output={tmp_path / 'out'}")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and needle in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_painting_over_max_pixels_is_refused(arbitrary_model: Path, paintings: Path, photos: Path,
                                               tmp_path: Path) -> None:
    result = run_script("export.py", f"model={arbitrary_model}", f"style={paintings / HELD_BACK}", "max_pixels=1000",
                        f"output={tmp_path / 'frozen.pt'}")
    assert result.returncode == 2 and "max_pixels" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "frozen.pt").exists()


def test_a_painting_for_a_per_style_model_is_refused(exported_model: Path, paintings: Path, photos: Path,
                                                     tmp_path: Path) -> None:
    result = run_script("infer.py", f"model={exported_model}", f"style={paintings / HELD_BACK}", f"input={photos}",
                        f"output={tmp_path / 'out'}")
    assert result.returncode == 2 and "single-style network" in result.stderr
    assert not (tmp_path / "out").exists()


def test_training_without_paintings_is_refused(tmp_path: Path, paintings: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for root, needle in ((empty, "no paintings found"), (None, "paintings.root=DIR is required")):
        run_dir = tmp_path / f"run_{root is None}"
        overrides = [o for o in train_overrides(run_dir, paintings) if not o.startswith("paintings.root")]
        result = run_script("train.py", *overrides, *([f"paintings.root={root}"] if root else []))
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert result.returncode == 2 and len(errors) == 1 and needle in errors[0], result.stderr[-500:]
        assert not run_dir.exists()


def test_an_arbitrary_network_of_the_prototype_format_is_refused(arbitrary_model: Path, paintings: Path,
                                                                 photos: Path, tmp_path: Path) -> None:
    net, card = load_model(arbitrary_model)
    network = {("prototypes" if k == "style_dim" else k): v for k, v in card.network.items()}
    old = save_model(tmp_path / "old.pt", net, replace(card, network=network))
    result = run_script("infer.py", f"model={old}", f"style={paintings / PAINTINGS[0]}",
                        f"input={photos}", f"output={tmp_path / 'out'}")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: model={old}: ") and "retrain it with model=arbitrary" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_gpu_recipe_runs_two_steps_on_the_cpu_at_tiny_size(tmp_path: Path, paintings: Path) -> None:
    run_dir = tmp_path / "run"
    overrides = [o for o in train_overrides(run_dir, paintings, steps=2) if not o.startswith("model=")]
    result = run_script("train.py", "experiment=arbitrary_gpu", *overrides, "paintings.views=2")
    assert result.returncode == 0, result.stderr[-3000:]
    net, card = load_model(run_dir / "export" / "arbitrary.pt")
    assert isinstance(net, ArbitraryStyleNet) and card.network["channels"] == [32, 64, 128]
    assert card.network["num_res_blocks"] == 5 and card.train["steps"] == 2
    assert "experiment=arbitrary_gpu" in card.train["command"]
