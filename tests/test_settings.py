"""Every class of setting a user types is checked where it is read: one error naming setting and value."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from PIL import Image

from fast_style.config import CONFIG_DIR, build, compose_config, probe, run_or_exit
from fast_style.errors import FastStyleError
from fast_style.losses.perceptual import build_loss
from fast_style.io.outputs import check_output
from fast_style.settings import flag, one_of, real, weights, whole
from fast_style.styles import load_style
from fast_style.training.fast_path import FastPath
from fast_style.nn.transformer import TransformerNet

from conftest import ASSETS, VGG_WEIGHTS


def compose_train(*overrides: str):
    return compose_config("train", overrides)


@pytest.mark.parametrize(("check", "message"), [
    (lambda: whole("n", 0, 1), r"^n=0: use a whole number from 1$"),
    (lambda: whole("n", 2.5, 1, 4), r"^n=2\.5: use a whole number from 1 to 4$"),
    (lambda: whole("n", True), r"^n=True: use a whole number$"),
    (lambda: whole("n", "abc", 0, hint="why"), r"^n=abc: use a whole number from 0; why$"),
    (lambda: real("x", 0, above=0), r"^x=0: use a number above 0$"),
    (lambda: real("x", float("nan"), 0), r"^x=nan: use a number at least 0$"),
    (lambda: real("x", "fast", 0, 1), r"^x=fast: use a number at least 0 and at most 1$"),
    (lambda: flag("overwrite", "maybe"), r"^overwrite=maybe: use true or false$"),
    (lambda: flag("overwrite", 1), r"^overwrite=1: use true or false$"),
    (lambda: one_of("format", "gif", ("png", "jpg")), r"^format=gif: use one of png, jpg$"),
    (lambda: weights("loss.style_layers", {}), r"^loss\.style_layers=\{\}: give a mapping"),
    (lambda: weights("loss.style_layers", {"relu1_2": -1}), r"^loss\.style_layers\.relu1_2=-1: use a number at least 0$"),
])
def test_each_kind_of_value_is_refused_with_one_line(check, message: str) -> None:
    with pytest.raises(FastStyleError, match=message):
        check()


def test_good_values_pass_through() -> None:
    assert whole("n", None, 1, optional=True) is None and whole("n", 3, 1, 4) == 3
    assert real("x", 2, above=0) == 2.0 and flag("b", False) is False
    assert weights("w", {"relu1_2": 1}) == {"relu1_2": 1.0}


@pytest.mark.parametrize(("overrides", "style", "content"), [
    (["loss.style_layers={relu1_2: 1, relu2_2: 1}"], {"relu1_2": 1, "relu2_2": 1}, {"relu2_2": 1.0}),
    (["loss.style_layers={relu5_1: 2}", "loss.content_layers={relu3_3: 1}"], {"relu5_1": 2}, {"relu3_3": 1}),
    (["loss=vgg19"], {f"relu{i}_1": 1.0 for i in range(1, 6)}, {"relu4_2": 1.0}),
])
def test_layer_overrides_replace_the_defaults(overrides: list[str], style: dict, content: dict) -> None:
    """The README's recipe: the layers given are the layers used, none merged in from the defaults."""
    resolved = OmegaConf.to_container(compose_train(*overrides).loss, resolve=True)
    assert resolved["style_layers"] == style and resolved["content_layers"] == content


def test_missing_required_setting_is_one_line(capsys) -> None:
    cfg = OmegaConf.create({"model": "???"})
    with pytest.raises(SystemExit) as exit_info:
        run_or_exit(lambda c: c.model, cfg)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: model=... is required; set it on the command line (model=VALUE)\n"


@pytest.mark.parametrize(("value", "folder", "message"), [
    ("a_file", True, r"^output=.*a_file is an existing file; give a folder \(created if missing\)$"),
    ("a_folder", False, r"^output=.*a_folder is an existing folder; give a file name$"),
    ("a_file/sub/x.png", False, r"^output=.*a_file/sub/x\.png: .*a_file is a file, not a folder; give a file name"),
    ("a_file/sub", True, r"^output=.*a_file/sub: .*a_file is a file, not a folder; give a folder"),
])
def test_output_that_cannot_be_written_is_refused_before_anything_is_created(tmp_path: Path, value: str,
                                                                             folder: bool, message: str) -> None:
    (tmp_path / "a_file").write_text("kept")
    (tmp_path / "a_folder").mkdir()
    with pytest.raises(FastStyleError, match=message):
        check_output("output", tmp_path / value, folder=folder)
    assert (tmp_path / "a_file").read_text() == "kept" and sorted(p.name for p in tmp_path.iterdir()) == [
        "a_file", "a_folder"]
    assert check_output("output", tmp_path / "new" / "x.png", folder=False) == tmp_path / "new" / "x.png"
    assert check_output("output", tmp_path / "a_folder", folder=True) == tmp_path / "a_folder"
    assert not (tmp_path / "new").exists()


def _inside_hydra_run(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hydra's state as train.py sees it in ``run_dir`` (restored after the test)."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", return_hydra_config=True)
    OmegaConf.set_readonly(cfg.hydra, False)
    cfg.hydra.runtime.output_dir, cfg.hydra.job.name = str(run_dir), "train"
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)
    HydraConfig.instance().set_config(cfg)


def _refused(cfg: object) -> None:
    raise FastStyleError("data.root=/typo is not a folder")


@pytest.mark.parametrize("progress", [None, "checkpoints/last.ckpt", "previews/step_000000.png"])
def test_refused_start_takes_hydras_files_only_from_a_folder_holding_nothing_else(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, progress: str | None) -> None:
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (run / "train.log").write_text("")
    if progress:
        (run / progress).parent.mkdir()
        (run / progress).write_bytes(b"a run's progress")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    _inside_hydra_run(run, monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        run_or_exit(_refused, OmegaConf.create())
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: data.root=/typo is not a folder\n"
    if progress:
        assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    else:
        assert list(tmp_path.iterdir()) == []


def test_constructor_refusals_name_the_group(tmp_path: Path) -> None:
    cfg = compose_train("trainer.accelerator=gpu", "trainer.devices=1")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(FastStyleError, match=r"^trainer: .*; check the trainer\.\* settings$"):
        build("trainer", cfg.trainer, logger=False, default_root_dir=str(tmp_path))
    optimizer = build("optim", compose_train("optim.lr=-1").optim)
    with pytest.raises(FastStyleError, match=r"^optim\.lr=-1: refused \(Invalid learning rate: -1\)"):
        probe(optimizer, torch.nn.Linear(1, 1), "optim", compose_train("optim.lr=-1").optim)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"channels": [16, 32]}, r"model\.channels=\[16, 32\]: give the three widths"),
    ({"channels": [16, 0, 64]}, r"model\.channels\[1\]=0: use a whole number from 1"),
    ({"num_res_blocks": -1}, r"model\.num_res_blocks=-1: use a whole number from 0"),
])
def test_model_settings_are_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(FastStyleError, match=message):
        TransformerNet(**kwargs)


@pytest.mark.parametrize(("perf", "message"), [
    ({"loss_precision": "bogus"}, r"perf\.loss_precision='bogus'"),
    ({"channels_last": "maybe"}, r"perf\.channels_last='maybe'"),
    ({"compile": "yes"}, r"perf\.compile=yes: use true or false"),
])
def test_perf_settings_are_checked_before_training(perf: dict, message: str) -> None:
    defaults = OmegaConf.to_container(OmegaConf.load(Path(CONFIG_DIR) / "perf" / "default.yaml"))
    with pytest.raises(FastStyleError, match=message):
        FastPath({**defaults, **perf})


def test_style_image_too_small_or_too_large(tmp_path: Path, monkeypatch) -> None:
    style = {"name": "tiny", "image": str(ASSETS / "styles" / "candy.jpg"), "size": 4}
    image, _ = load_style(style)
    loss_cfg = {"arch": "vgg16", "weights": str(VGG_WEIGHTS), "content_layers": {"relu2_2": 1},
                "style_layers": {"relu4_3": 1}, "content_weight": 1, "style_weight": 1, "tv_weight": 1, "range_weight": 0}
    with pytest.raises(FastStyleError, match=r"the style image: \d+x4 px is too small; .*relu4_3.* at least 8 px"
                                             r".*raise style\.size"):
        build_loss([loss_cfg], [image])
    with pytest.raises(FastStyleError, match=r"style\.size=0: use a whole number from 1"):
        load_style({**style, "size": 0})
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a bomb: over twice the limit
    with pytest.raises(FastStyleError, match=r"style image .*candy\.jpg cannot be read .*decompression bomb"):
        load_style({**style, "size": 512})
