"""One network, many styles, end to end: training, the model file, inference, export, adding a style,
resuming, validation and the gallery."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from clips import make_clip
from conftest import COCO, VGG_WEIGHTS, run_script
import fast_style.cli.gallery as cli_gallery
from fast_style.assets import file_sha256
from fast_style.training.checkpoints import check_continues, read_checkpoint
from fast_style.errors import FastStyleError
from fast_style.evaluate.validate import validate
from fast_style.inference.standalone import open_model
from fast_style.io.images import find_images
from fast_style.model_card import ModelCard, load_model, read_model_file, save_model
from fast_style.nn.layers import StyleNorm
from fast_style.nn.transformer import TransformerNet
from fast_style.training.module import StyleTransferModule
from fast_style.training.recipe import choose_styles

pytestmark = pytest.mark.slow  # multi-style runs end to end: the full suite, not the everyday tier

CPU = torch.device("cpu")
STYLES = ["starry_night", "candy"]


def overrides(run_dir: Path, steps: int = 4, styles: str = "[starry_night,candy]") -> list[str]:
    """The training contract command of tests/conftest.py with several styles."""
    return [f"styles={styles}", f"data.root={COCO}", f"loss.weights={VGG_WEIGHTS}", "model=small",
            "data.image_size=64", "data.batch_size=2", "data.num_workers=0", f"trainer.max_steps={steps}",
            "module.preview_every=0", f"hydra.run.dir={run_dir}"]


@pytest.fixture(scope="module")
def multi_run(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Path:
    run_dir = tmp_path_factory.mktemp("multi")
    result = run_script("train.py", *overrides(run_dir), "loss.tv_weight=2", "style.size=128")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == f"exported: {run_dir / 'export' / 'multistyle_2.pt'}"
    return run_dir


@pytest.fixture(scope="module")
def multi_model(multi_run: Path) -> Path:
    return multi_run / "export" / "multistyle_2.pt"


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for path in find_images(COCO)[:2]:
        shutil.copy(path, folder / path.name)
    return folder


def test_model_file_holds_every_style_with_its_own_settings(multi_model: Path, assets: Path) -> None:
    raw = torch.load(multi_model, weights_only=True)
    assert [entry["name"] for entry in raw["styles"]] == STYLES and raw["format"] == "fast_style/3"
    for entry in raw["styles"]:
        assert entry["sha256"] == file_sha256(assets / "styles" / f"{entry['name']}.jpg")
        assert entry["loss"]["tv_weight"] == 2 and entry["size"] == 128  # the run's overrides apply to all
    # each style keeps its recommended weights (configs/style/*.yaml: 3 for starry_night, 10 for candy)
    assert [entry["loss"]["style_weight"] for entry in raw["styles"]] == [3.0, 10.0]
    assert raw["network"] == {"channels": [16, 32, 64], "num_res_blocks": 3, "colour_hidden": 0, "colour_gain": 30.0,
                              "contrast_floor": 0.1, "noise_channels": 0, "noise_std": 0.1, "num_styles": 2}
    assert "styles=[starry_night,candy]" in raw["train"]["command"] and raw["train"]["steps"] == 4


def test_training_logs_each_style_and_previews_a_row_per_style(tmp_path: Path, assets: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_script("train.py", *overrides(run_dir, steps=2), "module.preview_every=1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("style: ")] == STYLES
    scalars = set(EventAccumulator(str(run_dir / "tensorboard")).Reload().Tags()["scalars"])
    assert {f"train/{name}/{term}" for name in STYLES for term in ("total", "style", "content")} <= scalars
    with Image.open(run_dir / "previews" / "step_000000.png") as grid:  # photos, then one row per style
        assert grid.height == 2 + 3 * (64 + 2)


def test_every_style_and_a_blend_stylise_from_the_reloaded_file(multi_model: Path, tmp_path: Path) -> None:
    net, card = load_model(multi_model)
    assert net.num_styles == 2
    x = torch.rand(1, 3, 48, 40, generator=torch.Generator().manual_seed(0))
    outputs = {}
    for name in STYLES:
        weights, chosen = card.select(name, "m")
        single = net.fold(weights)
        assert single.num_styles == 1 and chosen.style.name == name
        with torch.no_grad():
            outputs[name] = single(x)
            torch.testing.assert_close(outputs[name], net(x, torch.eye(2)[STYLES.index(name)]), atol=1e-5, rtol=0)
        assert not torch.allclose(outputs[name], x, atol=1e-4)  # trained
    assert not torch.equal(outputs["starry_night"], outputs["candy"])  # each style its own scale and shift
    # one style taken out is a single-style model file like any other
    weights, chosen = card.select("candy", "m")
    alone = save_model(tmp_path / "candy.pt", net.fold(weights), chosen)
    loaded, alone_card = load_model(alone)
    assert loaded.num_styles == 1 and alone_card.style.sha256 == card.styles[1].sha256
    with torch.no_grad():
        assert torch.equal(loaded(x), outputs["candy"])
    with torch.no_grad():
        blend = net.fold(card.select({"starry_night": 0.5, "candy": 0.5}, "m")[0])(x)
    assert not torch.equal(blend, outputs["candy"]) and not torch.equal(blend, outputs["starry_night"])


def test_infer_script_picks_a_style_and_names_the_ones_held(multi_model: Path, photos: Path, tmp_path: Path) -> None:
    result = run_script("infer.py", f"model={multi_model}", f"input={photos}", f"output={tmp_path / 'out'}",
                        "style={starry_night: 0.7, candy: 0.3}", "num_workers=0", "max_size=64")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "starry_night 0.7 + candy 0.3" in result.stdout and len(list((tmp_path / "out").iterdir())) == 2
    for bad, message in (("style=monet", "error: style: unknown style 'monet'; the model holds starry_night, candy"),
                         ("style=null", f"error: model={multi_model} is a multi-style network holding "
                                        "starry_night, candy; pick one with style=NAME")):
        result = run_script("infer.py", f"model={multi_model}", f"input={photos}", f"output={tmp_path / 'x'}", bad)
        assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith(message)
    assert not (tmp_path / "x").exists()


def test_flicker_command_measures_one_style_of_a_multi_style_model(multi_model: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "pan.mp4", frames=6, audio=None)
    result = run_script("flicker.py", f"model={multi_model}", f"input={clip}", "style=candy",
                        f"output={tmp_path / 'candy.json'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "candy.json").read_text())["warping_error"]["pairs"] == 5
    unnamed = run_script("flicker.py", f"model={multi_model}", f"input={clip}", f"output={tmp_path / 'none.json'}")
    assert unnamed.returncode == 2
    assert unnamed.stderr.strip().splitlines()[-1].startswith(
        f"error: model={multi_model} is a multi-style network holding starry_night, candy; pick one with style=NAME")
    assert not (tmp_path / "none.json").exists()


def test_single_style_checkpoint_and_multi_style_run_say_which_is_which(multi_run: Path, trained_run: Path) -> None:
    single = read_checkpoint(trained_run / "checkpoints" / "last.ckpt", "single")
    multi = read_checkpoint(multi_run / "checkpoints" / "last.ckpt", "multi")
    with pytest.raises(FastStyleError, match=r"trained with another kind of network: a single-style one "
                                             r"\(now a multi-style one\)"):
        check_continues(Path("last.ckpt"), single, ModelCard.from_dict(multi["fast_style"]))
    with pytest.raises(FastStyleError, match=r"style=candy: .*single-style network \(starry_night\); leave style out"):
        load_model(trained_run / "export" / "starry_night.pt")[1].select("candy", "model=s.pt")


def test_resume_continues_a_multi_style_run(multi_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(multi_run, run)
    result = run_script("train.py", *overrides(run, steps=5))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"continuing from {run / 'checkpoints' / 'last.ckpt'} (step 4)" in result.stdout
    assert read_model_file(run / "export" / "multistyle_2.pt")[0].train["steps"] == 5
    other = run_script("train.py", *overrides(run, steps=6, styles="[candy,starry_night]"))
    assert other.returncode == 2 and "was trained with another style starry_night" in other.stderr


@pytest.mark.parametrize(("styles", "message"), [
    ("[candy,starry_night,candy]", "error: styles=['candy', 'starry_night', 'candy']: candy given more than once"),
    ("[]", "error: styles=[]: give a list of style names"),
    ("[candy,monet]", "error: styles: unknown style 'monet'; use names among"),
])
def test_bad_style_lists_stop_training_with_one_line(tmp_path: Path, styles: str, message: str) -> None:
    result = run_script("train.py", *overrides(tmp_path / "run", styles=styles))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(message)
    assert list(tmp_path.iterdir()) == []


def test_fine_tuning_and_stability_training_say_they_are_single_style(exported_model: Path, tmp_path: Path) -> None:
    for extra, message in [(f"init={exported_model}", f"error: init={exported_model}: fine-tuning starts from a "
                            "single-style network"),
                           ("stability=compound", "error: stability: temporal-stability training is for "
                            "single-style networks")]:
        result = run_script("train.py", *overrides(tmp_path / "run"), extra)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1].startswith(message)
        assert not (tmp_path / "run").exists()


STANDALONE = """
import sys, numpy as np, torch, onnxruntime
x, style = np.load(sys.argv[1]), np.load(sys.argv[2])
with torch.inference_mode():
    np.save(sys.argv[5], torch.jit.load(sys.argv[3])(torch.from_numpy(x), torch.from_numpy(style)).numpy())
session = onnxruntime.InferenceSession(sys.argv[4], providers=["CPUExecutionProvider"])
np.save(sys.argv[6], session.run(None, {"image": x, "style": style})[0])
assert not any(name.startswith("fast_style") for name in sys.modules), "standalone model imported fast_style"
"""


def test_standalone_exports_take_the_style_weights_and_match_pytorch(multi_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "multi.pt"
    net, card = load_model(multi_model)
    with torch.no_grad():  # visibly different styles, so that parity means something
        for i, norm in enumerate(m for m in net.modules() if isinstance(m, StyleNorm)):
            norm.bias[1].add_(0.3 * (-1) ** i)
        net.out[1].weight.normal_(0, 0.005 / net.output_gain, generator=torch.Generator().manual_seed(0))
    save_model(model, net, card)
    files = {}
    for fmt, suffix in (("torchscript", ".torchscript.pt"), ("onnx", ".onnx")):
        result = run_script("export.py", f"model={model}", f"format={fmt}")
        assert result.returncode == 0, result.stderr[-2000:]
        assert float(re.search(r"random 96x128 image: (\S+)", result.stdout).group(1)) < 1e-4
        files[fmt] = tmp_path / f"multi{suffix}"
    x = torch.rand(2, 3, 37, 53, generator=torch.Generator().manual_seed(1))
    style = torch.tensor([0.25, 0.75])
    np.save(tmp_path / "x.npy", x.numpy())
    np.save(tmp_path / "style.npy", style.numpy())
    result = subprocess.run([sys.executable, "-c", STANDALONE, *(str(tmp_path / n) for n in ("x.npy", "style.npy")),
                             str(files["torchscript"]), str(files["onnx"]), str(tmp_path / "ts.npy"),
                             str(tmp_path / "onnx.npy")], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    with torch.inference_mode():
        expected = net(x, style)
        assert (expected - net(x, torch.tensor([1.0, 0.0]))).abs().mean() > 0.01  # the style weights matter
    for name in ("ts", "onnx"):
        assert (torch.from_numpy(np.load(tmp_path / f"{name}.npy")) - expected).abs().max() < 1e-4, name
    # infer.py's loader picks a style of a standalone file the same way
    for fmt in files:
        loaded, chosen, _ = open_model(files[fmt], CPU, "candy")
        assert chosen.style.name == "candy"
        assert (loaded(x) - net(x, torch.tensor([0.0, 1.0]))).abs().max() < 1e-4, fmt


def test_adding_a_style_trains_only_its_own_rows(multi_model: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "added"
    result = run_script("train.py", *[o for o in overrides(run_dir, steps=3, styles="[mosaic]") if o != "model=small"],
                        f"add_styles_to={multi_model}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "adding 1 style(s) to" in result.stdout
    before, before_state = read_model_file(multi_model)
    after, after_state = read_model_file(run_dir / "export" / "multistyle_3.pt")
    assert after.names == [*STYLES, "mosaic"]
    assert after.styles[:2] == before.styles and after.network["channels"] == before.network["channels"]
    per_style = 0
    for name, old in before_state.items():
        new = after_state[name]
        if name.endswith(("norm.weight", "norm.bias", "colour.weight", "colour.bias")):  # the held rows as they were
            per_style += 1
            assert torch.equal(new[:2], old), name
            assert not torch.equal(new[2], old.mean(0)), name  # the new style's row trained from the mean
        else:
            assert torch.equal(new, old), name
    assert per_style == 2 * len(TransformerNet((16, 32, 64), 3, 1).per_style())
    again = run_script("train.py", *overrides(tmp_path / "again", styles="[candy]"), f"add_styles_to={multi_model}")
    assert again.returncode == 2 and "error: styles: candy already held by add_styles_to=" in again.stderr


def test_validate_reports_each_style(multi_model: Path, photos: Path, assets: Path, tmp_path: Path) -> None:
    report = validate(multi_model, photos, tmp_path / "val", image_size=32, steps=1, assets_dir=assets)
    assert list(report["styles"]) == STYLES
    for name in STYLES:
        single = json.loads((tmp_path / "val" / name / "report.json").read_text())
        assert single["style"]["name"] == name and single["summary"]["images"] == 2
        assert report["styles"][name] == single["summary"]
    assert report["styles"]["candy"]["network_style"] != report["styles"]["starry_night"]["network_style"]
    assert "| candy | 2 |" in (tmp_path / "val" / "report.md").read_text()
    one = validate(multi_model, photos, tmp_path / "one", image_size=32, steps=1, assets_dir=assets, style="candy")
    assert list(one["styles"]) == ["candy"] and sorted(p.name for p in (tmp_path / "one").iterdir()) == [
        "candy", "report.json", "report.md"]
    with pytest.raises(FastStyleError, match=r"^style=\{'candy': 1\}: give the name of one style to validate"):
        validate(multi_model, photos, tmp_path / "blend", image_size=32, steps=1, assets_dir=assets,
                 style={"candy": 1})


def test_gallery_shows_each_style_and_a_blend_row(multi_model: Path, photos: Path, assets: Path,
                                                  tmp_path: Path) -> None:
    script = cli_gallery
    cfg = OmegaConf.create({"models": [str(multi_model)], "input": str(photos), "output": str(tmp_path / "g.png"),
                            "blend": ["starry_night", "candy"], "blend_steps": 4, "max_size": 64, "tile_height": 24,
                            "tile_width": 32, "quality": 90, "device": "cpu", "precision": "float32", "max_pixels": None,
                            "assets_dir": str(assets), "style_distance": False})
    assert script.run(cfg) == 0
    with Image.open(tmp_path / "g.png") as sheet:  # paintings + 2 photos + the blend row; photo + 4 blend steps
        assert sheet.size == (4 + 5 * 36, 15 + 4 * 28 + 4)
    cfg.blend = ["starry_night"]
    with pytest.raises(FastStyleError, match=r"^blend=\['starry_night'\]: give two style names"):
        script.run(cfg)


def test_styles_are_added_only_to_a_multi_style_network_and_without_weight_decay(exported_model: Path,
                                                                                 multi_model: Path) -> None:
    def settings(base: Path, weight_decay: float) -> OmegaConf:
        return OmegaConf.create({"add_styles_to": str(base), "styles": None, "init": None,
                                 "optim": {"lr": 1e-3, "weight_decay": weight_decay}})

    with pytest.raises(FastStyleError, match=rf"^add_styles_to={exported_model}: a single-style network "
                                             r"\(starry_night\); give a multi-style model"):
        choose_styles(settings(exported_model, 0))
    with pytest.raises(FastStyleError, match=r"^optim\.weight_decay=0\.01: adding styles to a trained network"):
        choose_styles(settings(multi_model, 0.01))
    with pytest.raises(FastStyleError, match=r"^add_styles_to=.*: name the styles to add"):  # weight decay 0 is fine
        choose_styles(settings(multi_model, 0))


def test_each_style_pulls_on_the_shared_weights_in_proportion_to_its_own_loss() -> None:
    module = StyleTransferModule(TransformerNet((4, 4, 4), 0, 3), SimpleNamespace(names=["a", "b", "c"]),
                                 torch.optim.Adam)
    losses = torch.tensor([2.0, 200.0], requires_grad=True)
    module.objective({"a/total": losses[0], "b/total": losses[1], "total": losses.mean()}).backward()  # no "c"
    assert (losses.grad * losses.detach()).tolist() == pytest.approx([0.5, 0.5])  # the same relative pull
