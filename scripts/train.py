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
from pytorch_lightning.utilities import rank_zero_only

from fast_style.config import run_or_exit, to_dict
from fast_style.errors import FastStyleError
from fast_style.losses import build_loss
from fast_style.model_io import FORMAT, export_model
from fast_style.style import load_style
from fast_style.train_fast_path import train_precision


def train(cfg: DictConfig) -> Path | None:
    """Run training; return the exported model path (on rank 0) or None (other ranks)."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if cfg.resume and not Path(cfg.resume).is_file():
        raise FastStyleError(f"resume={cfg.resume}: checkpoint not found; give a .ckpt from <run>/checkpoints/")
    pl.seed_everything(cfg.seed, workers=True)

    style_image, style_info = load_style(cfg.style, cfg.assets_dir)
    criterion, vgg_info = build_loss(cfg.loss, style_image, cfg.assets_dir)
    say = rank_zero_only(print)  # DDP: one line per run, not one per process
    say(f"style: {style_info['name']} ({style_info['file']}, sha256 {style_info['sha256'][:12]})")
    say(f"VGG weights: {vgg_info['arch']} from {vgg_info['source']} (sha256 {vgg_info['sha256'][:12]})")

    meta = {"format": FORMAT, "model": to_dict(cfg.model), "loss": to_dict(cfg.loss), "style": style_info, "vgg": vgg_info,
            "data": {"image_size": cfg.data.image_size}}
    module = instantiate(cfg.module)(transformer=instantiate(cfg.model), criterion=criterion,
                                     optimizer=instantiate(cfg.optim), meta=meta)
    datamodule = instantiate(cfg.data)
    callbacks = [instantiate(callback) for callback in cfg.callbacks.values() if callback is not None]
    precision = train_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=instantiate(cfg.logger), callbacks=callbacks,
                                      precision=precision)
    # Without resume=..., "last" continues a run whose hydra.run.dir already holds checkpoints.
    warnings.filterwarnings("ignore", message=r".*no last checkpoint available")
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode")  # the frozen VGG, on purpose
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.resume or "last")
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
