"""Train a fast style network: ``python scripts/train.py style=starry_night``, or one network for several
styles: ``styles='[starry_night,candy]'`` (``add_styles_to=multi.pt`` adds styles to a trained one).

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
from fast_style.losses import MultiStyleLoss, build_losses
from fast_style.model_io import FORMAT, export_model, load_model
from fast_style.multistyle import style_names
from fast_style.multistyle_training import (MULTI_STYLE_TARGET, check_no_weight_decay, multi_style_network,
                                            new_style_names, read_base, style_runs)
from fast_style.settings import real, whole
from fast_style.style import load_style
from fast_style.temporal import stability_term
from fast_style.train_fast_path import train_precision

MULTI_STYLE_MODULE = "fast_style.lightning_module.MultiStyleTransferModule"


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
    base_net, base = read_base(cfg.add_styles_to) if cfg.add_styles_to else (None, None)
    if base is not None and cfg.styles is None:
        raise FastStyleError(f"add_styles_to={cfg.add_styles_to}: name the styles to add, e.g. 'styles=[udnie]'")
    if base is not None:
        check_no_weight_decay(cfg.optim)
    held = style_names(base) if base is not None else []
    names = new_style_names(cfg.styles, held, cfg.add_styles_to) if cfg.styles is not None else None
    stability = stability_term(cfg.stability)
    if names is None:
        transformer = build("model", cfg.model)
        if cfg.init is not None:
            start_from(transformer, cfg.init)
        runs = [cfg]
    else:
        if cfg.init is not None:
            raise FastStyleError(f"init={cfg.init}: fine-tuning starts from a single-style network; leave styles= "
                                 "out, or extend a multi-style network with add_styles_to=")
        if stability is not None:
            raise FastStyleError("stability: temporal-stability training is for single-style networks so far; "
                                 "leave styles= out or set stability=none")
        model_cfg = base["model"] if base is not None else {**to_dict(cfg.model), "_target_": MULTI_STYLE_TARGET}
        transformer = multi_style_network(model_cfg, len(names), base_net)
        runs = style_runs(names)
    real("optim.lr", cfg.optim.get("lr"), above=0, hint="Adam's step size, e.g. 1e-3")
    optimizer = build("optim", cfg.optim)
    probe(optimizer, transformer, "optim", cfg.optim)
    checkpoints = next((Path(c.dirpath) for c in callbacks if isinstance(c, ModelCheckpoint)), run_dir / "checkpoints")
    ckpt_path, saved = find_resume(checkpoints, cfg.resume)
    datamodule = build("data", cfg.data)
    datamodule.setup("fit")

    styles = [load_style(run.style, cfg.assets_dir) for run in runs]
    losses, vgg_info = build_losses([run.loss for run in runs], [image for image, _ in styles], cfg.assets_dir)
    criterion = losses[0] if names is None else MultiStyleLoss(losses, names)
    criterion.check_side(f"data.image_size={datamodule.image_size}", datamodule.image_size)
    if base is not None and vgg_info["sha256"] != base["vgg"]["sha256"]:
        raise FastStyleError(f"add_styles_to={cfg.add_styles_to} was trained with VGG weights {base['vgg']['file']} "
                             f"(sha256 {base['vgg']['sha256'][:12]}); set loss.weights to that file")
    meta = {"format": FORMAT, "vgg": vgg_info, "data": {"image_size": datamodule.image_size}}
    if names is None:
        meta.update(model=to_dict(cfg.model), loss=to_dict(cfg.loss), style=styles[0][1])
    else:
        entries = [{"style": info, "loss": to_dict(run.loss)} for run, (_, info) in zip(runs, styles)]
        meta.update(model={**model_cfg, "num_styles": transformer.num_styles},
                    styles=(base["styles"] if base is not None else []) + entries)
    if ckpt_path is not None:
        check_continues(ckpt_path, saved, meta)
    if cfg.init is not None:
        meta["init"] = str(cfg.init)
    if stability is not None:
        meta["stability"] = to_dict(cfg.stability)
    parts = {"transformer": transformer, "criterion": criterion, "optimizer": optimizer, "meta": meta,
             "stability": stability}
    if names is None:
        module = build("module", cfg.module)(**parts)
    else:
        module = build("module", cfg.module, _target_=MULTI_STYLE_MODULE)(
            **parts, trained=list(range(len(held), transformer.num_styles)))
    trainer: pl.Trainer = build("trainer", cfg.trainer, logger=instantiate(cfg.logger), callbacks=callbacks,
                                precision=precision, plugins=[AtomicCheckpointIO()])

    say = rank_zero_only(print)  # DDP: one line per run, not one per process
    for _, info in styles:
        say(f"style: {info['name']} ({info['file']}, sha256 {info['sha256'][:12]})")
    if base is not None:
        say(f"adding {len(names)} style(s) to {cfg.add_styles_to} ({', '.join(held)}); only their scale and "
            "shift train")
    say(f"VGG weights: {vgg_info['arch']} from {vgg_info['source']} (sha256 {vgg_info['sha256'][:12]})")
    if ckpt_path is not None:
        say(f"continuing from {ckpt_path} (step {saved['global_step']})")
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode")  # the frozen VGG, on purpose
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    if not trainer.is_global_zero:
        return None
    meta["train"] = {"steps": trainer.global_step}
    name = styles[0][1]["name"] if names is None else f"multistyle_{transformer.num_styles}"
    return export_model(run_dir / "export" / f"{name}.pt", module.transformer, meta)


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg: DictConfig) -> None:
    path = run_or_exit(train, cfg)
    if path is not None:
        print(f"exported: {path}")


if __name__ == "__main__":
    main()
