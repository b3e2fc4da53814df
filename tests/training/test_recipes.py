"""The shipped recipes: each experiment composes, the CPU hour and the GPU recipe hold back the validation photos,
and the GPU recipe's whole build (train, validate, zoo, gallery) runs on the CPU at tiny size."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ASSETS, REPO, VGG_WEIGHTS
from fast_style.config import CONFIG_DIR, compose_config
from fast_style.model_card import load_model
from fast_style.training.data import PhotoDataModule


EXPERIMENTS = Path(CONFIG_DIR) / "experiment"


@pytest.mark.parametrize("experiment", sorted(p.relative_to(EXPERIMENTS).with_suffix("").as_posix()
                                              for p in EXPERIMENTS.rglob("*.yaml")))
def test_every_experiment_composes(experiment: str) -> None:
    cfg = compose_config("train", [f"experiment={experiment}"])
    assert cfg.trainer.max_steps > 0 and cfg.data.image_size > 0


def test_the_held_back_photos_are_never_trained_on(assets: Path) -> None:
    cfg = compose_config("train", ["experiment=cpu_hour", f"assets_dir={assets}"])
    data = PhotoDataModule(cfg.data.root, 64, 2, 0, num_previews=0, exclude=list(cfg.data.exclude))
    data.setup()
    names = {path.name for path in data.train_set.files}
    assert len(cfg.data.exclude) == 10 and not names & set(cfg.data.exclude)
    assert len(names) == 1128 - 10
    with pytest.raises(Exception, match="data.exclude=a.jpg: give a list of file names"):
        PhotoDataModule(cfg.data.root, exclude="a.jpg")


def test_the_learning_rate_warms_up_then_decays_to_its_floor() -> None:
    from fast_style.nn.transformer import TransformerNet
    from fast_style.training.module import StyleTransferModule

    module = StyleTransferModule(TransformerNet([4, 4, 4], 1), criterion=None,
                                 optimizer=lambda p: torch.optim.SGD(p, lr=1.0), warmup_steps=10, lr_decay_to=0.1)
    module._trainer = type("T", (), {"max_steps": 110})()
    rate = module.configure_optimizers()["lr_scheduler"]["scheduler"].lr_lambdas[0]
    assert rate(0) == pytest.approx(0.1) and rate(9) == pytest.approx(1.0)
    assert rate(60) == pytest.approx(0.55) and rate(110) == pytest.approx(0.1)
    assert all(rate(s) >= rate(s + 1) for s in range(10, 110))


@pytest.mark.slow
def test_the_gpu_recipe_builds_the_zoo_and_gallery_on_the_cpu_at_tiny_size(tmp_path: Path) -> None:
    env = {**os.environ, "FAST_STYLE_ASSETS": str(ASSETS)}
    command = [sys.executable, str(REPO / "scripts" / "build_zoo.py"), "--experiment", "gpu_full",
               "--styles", "starry_night", "--runs", str(tmp_path / "runs"), "--zoo", str(tmp_path / "zoo"),
               "--gallery", str(tmp_path / "gallery.jpg"), "--validate-size", "48", "--validate-steps", "2",
               "--gallery-size", "64", "--", "trainer.max_steps=2", "data.image_size=64", "data.batch_size=2",
               "data.num_workers=0", f"loss.weights={VGG_WEIGHTS}", "style.size=128"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    net, card = load_model(tmp_path / "zoo" / "starry_night.pt")
    assert card.train["steps"] == 2 and card.network["channels"] == [32, 64, 128]   # Johnson's network
    assert "experiment=gpu_full" in card.train["command"]
    report = json.loads((tmp_path / "runs" / "gpu_full" / "starry_night" / "validation" / "report.json").read_text())
    assert report["summary"]["images"] == 10 and card.validation["images"] == 10
    assert (tmp_path / "gallery.jpg").is_file()


@pytest.mark.slow
def test_the_zoo_recipes_build_a_style_after_the_network_it_starts_from(tmp_path: Path) -> None:
    # mosaic's recipe starts from candy's network (init=candy). Asked for first, it is built second, from the candy
    # just built: at these channels the package's candy would not load into it.
    env = {**os.environ, "FAST_STYLE_ASSETS": str(ASSETS)}
    command = [sys.executable, str(REPO / "scripts" / "build_zoo.py"), "--experiment", "zoo",
               "--styles", "mosaic", "candy", "--runs", str(tmp_path / "runs"), "--zoo", str(tmp_path / "zoo"),
               "--gallery", str(tmp_path / "gallery.jpg"), "--validate-size", "48", "--validate-steps", "1",
               "--gallery-size", "64", "--", "trainer.max_steps=2", "data.image_size=64", "data.batch_size=2",
               "data.num_workers=0", f"loss.weights={VGG_WEIGHTS}", "style.size=128", "model.channels=[8,16,32]"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    steps = [line.split()[1:3] for line in result.stdout.splitlines() if line.startswith("+ ")]
    trained = [first for script, first in steps if script.endswith("train.py")]
    assert trained == ["experiment=zoo/candy", "experiment=zoo/mosaic"]
    _, card = load_model(tmp_path / "zoo" / "mosaic.pt")
    assert card.train["init"] == "candy" and card.network["channels"] == [8, 16, 32]
    assert "experiment=zoo/mosaic" in card.train["command"] and card.validation["images"] == 10
    assert sorted(p.name for p in (tmp_path / "zoo").glob("*.pt")) == ["candy.pt", "mosaic.pt"]


def test_recipes_that_start_from_each_other_stop_the_build(monkeypatch, capsys) -> None:
    build_zoo = _build_zoo()
    monkeypatch.setattr(build_zoo, "compose_config",
                        lambda name, overrides: type("C", (), {"init": "udnie" if "style=candy" in overrides
                                                               else "candy"})())
    with pytest.raises(SystemExit) as stop:
        build_zoo.recipes("cpu_hour", ["candy", "udnie"], [])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == ("error: experiment=cpu_hour: the recipes of candy and udnie start from "
                                               "each other (init=); break the cycle in configs/experiment")


def test_a_recipe_that_starts_from_its_own_zoo_network_needs_no_other_build() -> None:
    order = _build_zoo().recipes("cpu_hour", ["udnie", "candy"], ["init=udnie"])
    assert list(order) == ["udnie", "candy"] and order["udnie"][-1] == "init=udnie"


def _build_zoo():
    spec = importlib.util.spec_from_file_location("build_zoo", REPO / "scripts" / "build_zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_stops_with_one_line_when_the_held_back_photos_are_missing(tmp_path: Path) -> None:
    command = [sys.executable, str(REPO / "scripts" / "build_zoo.py"), "--experiment", "cpu_hour",
               "--runs", str(tmp_path / "runs"), "--zoo", str(tmp_path / "zoo")]
    result = subprocess.run(command, cwd=tmp_path, env={**os.environ, "FAST_STYLE_ASSETS": str(tmp_path)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: data.exclude: n0")
    assert "set FAST_STYLE_ASSETS" in result.stderr and list(tmp_path.iterdir()) == []
