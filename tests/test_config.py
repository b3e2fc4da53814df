"""Hydra composition: every style composes and resolves; unknown styles list what exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf

from fast_style.config import compose_config, group_options

STYLES = [name for name in group_options("style") if name != "custom"]


def compose_train(*overrides: str) -> DictConfig:
    return compose_config("train", overrides)


def test_the_five_styles_exist() -> None:
    assert STYLES == ["candy", "mosaic", "rain_princess", "starry_night", "udnie"]


@pytest.mark.parametrize("style", STYLES)
def test_every_style_composes(style: str, assets: Path) -> None:
    cfg = compose_train(f"style={style}", "model=small")
    OmegaConf.resolve(cfg.loss)
    assert cfg.style.name == style and cfg.style.url.startswith("https://")
    assert (assets / "styles" / cfg.style.file).is_file() and len(cfg.style.sha256) == 64
    assert cfg.loss.style_weight == cfg.style.style_weight  # the style's recommended weight by default
    assert cfg.model.channels == [16, 32, 64]


def test_loss_weight_override_beats_the_style_recommendation() -> None:
    cfg = compose_train("style=candy", "loss.style_weight=3.5", "loss=vgg19")
    assert cfg.loss.style_weight == 3.5 and cfg.loss.arch == "vgg19"


def test_custom_style_is_named_after_its_image() -> None:
    cfg = compose_train("style=custom", "style.image=/paintings/the_scream.jpg")
    assert cfg.style.name == "the_scream"


def test_trainer_settings_pass_through() -> None:
    cfg = compose_train("trainer.max_steps=7", "trainer.precision=bf16-mixed", "trainer.strategy=ddp",
                        "trainer.devices=2", "trainer.accelerator=cpu")
    assert (cfg.trainer.max_steps, cfg.trainer.precision, cfg.trainer.strategy) == (7, "bf16-mixed", "ddp")


def test_unknown_style_lists_the_available_ones() -> None:
    with pytest.raises(MissingConfigException, match="style/sunflowers") as info:
        compose_train("style=sunflowers")
    assert all(name in str(info.value) for name in STYLES)


def test_module_and_callback_settings_have_groups_of_their_own() -> None:
    cfg = compose_train("experiment=demo", "callbacks.on_exception_checkpoint=null")
    assert (cfg.module.warmup_steps, cfg.module.preview_every) == (50, 50)
    assert cfg.callbacks.model_checkpoint.every_n_train_steps == 100
    assert cfg.callbacks.on_exception_checkpoint is None
    assert list(cfg.callbacks) == ["model_checkpoint", "on_exception_checkpoint", "fast_path", "same_style_targets"]
