"""Train a fast style network: ``python scripts/train.py style=starry_night``.

Composes configs/train.yaml (style, model, loss, data, optim, trainer, logger, perf, module, callbacks),
trains with Lightning, keeps checkpoints for resuming, and exports ``<run>/export/<style>.pt`` for single-pass inference.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only
from torch import nn

from fast_style.checkpoints import AtomicCheckpointIO, check_continues, find_resume
from fast_style.config import build, probe, run_or_exit, to_dict
from fast_style.errors import FastStyleError
from fast_style.losses import build_loss
from fast_style.model_io import FORMAT, export_model, load_model
from fast_style.settings import real, whole
from fast_style.style import load_style
from fast_style.temporal import stability_term
from fast_style.train_fast_path import train_precision


def start_from(transformer: nn.Module, path: str) -> None:
    """Load the weights of the model file ``path`` (fine-tuning); its network must be this run's ``model``."""
    net, meta = load_model(path)
    try:
        transformer.load_state_dict(net.state_dict())
    except RuntimeError as err:
        raise FastStyleError(f"init={path}: its network {meta['model']} is not this run's model; set the model "
                             "config it was trained with (e.g. model=small)") from err


def train(cfg: DictConfig) -> Path | None:
    """Run training; return the exported model path (on rank 0) or None (other ranks)."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    # Every setting is checked, cheapest first, before the photos are scanned and the VGG loaded.
    whole("trainer.max_steps", cfg.trainer.max_steps, low=1,
          hint="the number of training steps (an untrained network is not worth exporting)")
    pl.seed_everything(whole("seed", cfg.seed), workers=True)  # before the network's initial weights
    precision = train_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    callbacks = [build(f"callbacks.{name}", callback) for name, callback in cfg.callbacks.items()
                 if callback is not None]
    transformer = build("model", cfg.model)
    if cfg.init is not None:
        start_from(transformer, cfg.init)
    real("optim.lr", cfg.optim.get("lr"), above=0, hint="Adam's step size, e.g. 1e-3")
    optimizer = build("optim", cfg.optim)
    probe(optimizer, transformer, "optim", cfg.optim)
    checkpoints = next((Path(c.dirpath) for c in callbacks if isinstance(c, ModelCheckpoint)), run_dir / "checkpoints")
    ckpt_path, saved = find_resume(checkpoints, cfg.resume)
    datamodule = build("data", cfg.data)
    datamodule.setup("fit")

    style_image, style_info = load_style(cfg.style, cfg.assets_dir)
    criterion, vgg_info = build_loss(cfg.loss, style_image, cfg.assets_dir)
    criterion.check_side(f"data.image_size={datamodule.image_size}", datamodule.image_size)
    meta = {"format": FORMAT, "model": to_dict(cfg.model), "loss": to_dict(cfg.loss), "style": style_info, "vgg": vgg_info,
            "data": {"image_size": datamodule.image_size}}
    if ckpt_path is not None:
        check_continues(ckpt_path, saved, meta)
    stability = stability_term(cfg.stability)
    if cfg.init is not None:
        meta["init"] = str(cfg.init)
    if stability is not None:
        meta["stability"] = to_dict(cfg.stability)
    module = build("module", cfg.module)(transformer=transformer, criterion=criterion, optimizer=optimizer, meta=meta,
                                         stability=stability)
    trainer: pl.Trainer = build("trainer", cfg.trainer, logger=instantiate(cfg.logger), callbacks=callbacks,
                                precision=precision, plugins=[AtomicCheckpointIO()])

    say = rank_zero_only(print)  # DDP: one line per run, not one per process
    say(f"style: {style_info['name']} ({style_info['file']}, sha256 {style_info['sha256'][:12]})")
    say(f"VGG weights: {vgg_info['arch']} from {vgg_info['source']} (sha256 {vgg_info['sha256'][:12]})")
    if ckpt_path is not None:
        say(f"continuing from {ckpt_path} (step {saved['global_step']})")
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode")  # the frozen VGG, on purpose
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    if not trainer.is_global_zero:
        return None
    meta["train"] = {"steps": trainer.global_step}
    return export_model(run_dir / "export" / f"{style_info['name']}.pt", module.transformer, meta)


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg: DictConfig) -> None:
    path = run_or_exit(train, cfg)
    if path is not None:
        print(f"exported: {path}")


if __name__ == "__main__":
    main()
