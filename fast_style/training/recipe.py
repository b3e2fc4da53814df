"""The recipe of ``python scripts/train.py``: a composed config turned into the network (fresh, fine-tuned from a
model file, or a multi-style network with styles added), the loss of its styles, the LightningModule, the photo
data and the Trainer; then training, and the model file with its card.

Every setting is checked, cheapest first, before the photos are scanned and the VGG loaded.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only

from fast_style.config import build, compose_config, group_options, probe, to_dict
from fast_style.errors import FastStyleError
from fast_style.losses.perceptual import build_loss
from fast_style.losses.stability import StabilityLoss, stability_term
from fast_style.io.outputs import inside, safe_name
from fast_style.model_card import ModelCard, build_network, load_model, save_model
from fast_style.inference.paintings import PaintingEncoder
from fast_style.nn.arbitrary import ArbitraryStyleNet
from fast_style.nn.transformer import TransformerNet
from fast_style.runtime import train_precision
from fast_style.settings import real, whole
from fast_style.styles import StyleInfo, check_style_list, load_style
from fast_style.training.paintings import Paintings, load_paintings
from fast_style.training.checkpoints import (AtomicCheckpointIO, RunLock, check_continues, find_resume, first_process,
                                             remove_checkpoint_leftovers)

# Overrides that choose the run's styles; these and Hydra's own settings are not applied to each style.
NOT_PER_STYLE = ("style", "styles")


@dataclass
class Styles:
    """What a run trains: each style's config (``style=<name>`` as this run would compose it), their names
    when ``styles=[...]`` asks for a multi-style network, and the trained network ``add_styles_to`` extends."""

    runs: list[DictConfig]
    names: list[str] | None = None
    base: tuple[TransformerNet, ModelCard] | None = None

    @property
    def held(self) -> list[str]:
        return self.base[1].names if self.base is not None else []


def style_runs(names: list[str]) -> list[DictConfig]:
    """Each style's training config as ``style=<name>`` with this run's other command-line overrides would
    compose it: its painting, size and recommended loss weights from ``configs/style/<name>.yaml``, with
    what the run sets for every style (``experiment=demo``, ``style.size=...``, ``loss.tv_weight=...``)."""
    keys = [(o, o.split("=", 1)[0].lstrip("+~")) for o in HydraConfig.get().overrides.task]
    overrides = [o for o, key in keys if key not in NOT_PER_STYLE and not key.startswith("hydra")]
    return [compose_config("train", [*overrides, f"style={name}"]) for name in names]


def choose_styles(cfg: DictConfig) -> Styles:
    """``style=`` (one network per painting), ``styles=[...]`` (one for several) or ``add_styles_to=PATH
    styles=[...]`` (styles added to a trained multi-style network, of which only their scale and shift learn)."""
    base = None
    if cfg.add_styles_to:
        base = load_model(cfg.add_styles_to, "add_styles_to")
        if len(base[1].styles) == 1:
            raise FastStyleError(f"add_styles_to={cfg.add_styles_to}: a single-style network ({base[1].names[0]}); "
                                 "give a multi-style model (trained with styles=[...])")
        if cfg.optim.get("weight_decay"):  # the held styles keep their parameters by getting zero gradients
            raise FastStyleError(f"optim.weight_decay={cfg.optim.weight_decay}: adding styles to a trained network "
                                 "trains without weight decay (it would change the styles held); leave it out")
        if cfg.styles is None:
            raise FastStyleError(f"add_styles_to={cfg.add_styles_to}: name the styles to add, e.g. 'styles=[udnie]'")
    if cfg.styles is None:
        return Styles([cfg])
    if arbitrary(cfg):
        raise FastStyleError(f"styles={cfg.styles}: an arbitrary-style network (model=arbitrary) trains on "
                             "paintings.root=DIR; leave styles= out")
    if cfg.init is not None:
        raise FastStyleError(f"init={cfg.init}: fine-tuning starts from a single-style network; leave styles= "
                             "out, or extend a multi-style network with add_styles_to=")
    names = check_style_list("styles", cfg.styles, [name for name in group_options("style") if name != "custom"])
    held = base[1].names if base is not None else []
    if again := [name for name in names if name in held]:
        raise FastStyleError(f"styles: {', '.join(again)} already held by add_styles_to={cfg.add_styles_to} "
                             f"({', '.join(held)}); list only styles to add")
    return Styles(style_runs(names), names, base)


def start_from(transformer: TransformerNet | ArbitraryStyleNet, path: str, cfg: DictConfig | None = None) -> None:
    """Load the weights of the model file ``path`` (fine-tuning); its network must be this run's ``model``. An
    arbitrary-style network given to a single-style run starts it from its prediction for the run's painting."""
    net, card = load_model(path, "init")
    if card.arbitrary and isinstance(transformer, TransformerNet):
        if cfg is None:
            raise FastStyleError(f"init={path}: an arbitrary-style network; fine-tuning from it needs the run's painting")
        image, _ = load_style(cfg.style, cfg.assets_dir)
        net = net.fold(PaintingEncoder.of(net, card, cfg.assets_dir, torch.device("cpu"))(image))
    elif isinstance(net, TransformerNet) and net.num_styles != 1:
        raise FastStyleError(f"init={path}: a multi-style network ({', '.join(card.names)}); fine-tuning starts "
                             "from a single-style one (extend a multi-style network with add_styles_to=)")
    try:
        transformer.load_state_dict(net.state_dict())
    except RuntimeError as err:
        raise FastStyleError(f"init={path}: its network {card.network} is not this run's model; set the model "
                             "config it was trained with (e.g. model=small)") from err


def training_network(cfg: DictConfig, styles: Styles) -> TransformerNet:
    """The network to train: the configured one (from ``init`` if given), one of as many styles as
    ``styles=`` lists, or the ``add_styles_to`` network with the new styles added and all else frozen."""
    if styles.base is not None:
        base = styles.base[0]
        net = base.add_styles(len(styles.names))
        net.train_only_styles(range(base.num_styles, net.num_styles))
        return net
    if styles.names is not None:
        return build_network({**to_dict(cfg.model), "num_styles": len(styles.names)})
    layers = {"style_layers": list(cfg.loss.style_layers)} if arbitrary(cfg) and not cfg.model.style_layers else {}
    net = build("model", cfg.model, **layers)
    if cfg.init is not None:
        start_from(net, cfg.init, cfg)
    return net


def model_card(cfg: DictConfig, net: TransformerNet, styles: Styles, infos: list[dict[str, Any]],
               vgg: dict[str, str], image_size: int, stability: StabilityLoss | None) -> ModelCard:
    """The card of the network this run trains (its held styles first when styles are added)."""
    if styles.base is not None and vgg["sha256"] != (styles.base[1].vgg or {}).get("sha256"):
        raise FastStyleError(f"add_styles_to={cfg.add_styles_to} was trained with VGG weights "
                             f"{styles.base[1].vgg['file']} (sha256 {styles.base[1].vgg['sha256'][:12]}); "
                             "set loss.weights to that file")
    held = list(styles.base[1].styles) if styles.base is not None else []
    trained = [StyleInfo(**info, loss=to_dict(run.loss)) for run, info in zip(styles.runs, infos)]
    train = {"command": " ".join(HydraConfig.get().overrides.task)}
    if cfg.init is not None:
        train["init"] = str(cfg.init)
    if stability is not None:
        train["stability"] = to_dict(cfg.stability)
    size = styles.base[1].network if styles.base is not None else {
        k: v for k, v in to_dict(cfg.model).items() if not k.startswith("_")}
    return ModelCard(network={**size, "num_styles": net.num_styles}, styles=(*held, *trained), vgg=vgg, data={"image_size": image_size}, train=train)


def arbitrary(cfg: DictConfig) -> bool:
    """Whether the run trains an arbitrary-style network (``model=arbitrary``)."""
    return str(cfg.model.get("_target_", "")).endswith(ArbitraryStyleNet.__name__)


def arbitrary_card(cfg: DictConfig, net: ArbitraryStyleNet, paintings: Paintings, vgg: dict[str, str],
                   image_size: int) -> ModelCard:
    """The card of an arbitrary-style network: its one style stands for the paintings it was trained on."""
    train = {"command": " ".join(HydraConfig.get().overrides.task),
             "paintings": [path.name for path in paintings.files], "views": len(paintings.views) // len(paintings.files)}
    if cfg.init is not None:
        train["init"] = str(cfg.init)
    return ModelCard(network=net.config(), styles=(paintings.style(to_dict(cfg.loss)),), vgg=vgg,
                     data={"image_size": image_size}, train=train)


def train(cfg: DictConfig) -> Path | None:
    """Run training in the run folder, held by this run alone; return the model file written (on rank 0) or
    None (other ranks)."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with RunLock(run_dir) if first_process() else nullcontext():
        return train_in(cfg, run_dir)


def train_in(cfg: DictConfig, run_dir: Path) -> Path | None:
    """:func:`train`, once the run folder is this run's."""
    whole("trainer.max_steps", cfg.trainer.max_steps, low=1,
          hint="the number of training steps (an untrained network is not worth exporting)")
    # seed_everything takes what NumPy's generator takes
    pl.seed_everything(whole("seed", cfg.seed, 0, 2**32 - 1), workers=True)  # before the network's initial weights
    precision = train_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    callbacks = [build(f"callbacks.{name}", callback) for name, callback in cfg.callbacks.items()
                 if callback is not None]
    styles = choose_styles(cfg)
    stability = stability_term(cfg.stability)
    if stability is not None and (styles.names is not None or arbitrary(cfg)):
        raise FastStyleError("stability: temporal-stability training is for single-style networks so far; "
                             "leave styles= out or set stability=none")
    transformer = training_network(cfg, styles)
    real("optim.lr", cfg.optim.get("lr"), above=0, hint="Adam's step size, e.g. 1e-3")
    optimizer = build("optim", cfg.optim)
    probe(optimizer, transformer, "optim", cfg.optim)
    checkpoints = next((Path(c.dirpath) for c in callbacks if isinstance(c, ModelCheckpoint)), run_dir / "checkpoints")
    if first_process():
        remove_checkpoint_leftovers(checkpoints)  # hidden half-written checkpoints of killed runs
    ckpt_path, saved = find_resume(checkpoints, cfg.resume)
    datamodule = build("data", cfg.data)
    datamodule.setup("fit")

    if isinstance(transformer, ArbitraryStyleNet):
        collection = load_paintings(cfg.paintings, cfg.seed)
        criterion, vgg_info = build_loss([cfg.loss] * len(collection.views), collection.views, collection.names,
                                         cfg.assets_dir)
        encoder = PaintingEncoder(criterion.vgg, transformer.style_layers)
        statistics = torch.cat([encoder(view) for view in collection.views])
        transformer.predictor.standardise(statistics)
        card = arbitrary_card(cfg, transformer, collection, vgg_info, datamodule.image_size)
    else:
        paintings = [load_style(run.style, cfg.assets_dir) for run in styles.runs]
        criterion, vgg_info = build_loss([run.loss for run in styles.runs], [image for image, _ in paintings],
                                         [info["name"] for _, info in paintings], cfg.assets_dir)
        card = model_card(cfg, transformer, styles, [info for _, info in paintings], vgg_info,
                          datamodule.image_size, stability)
        statistics = None
    criterion.check_side(f"data.image_size={datamodule.image_size}", datamodule.image_size)
    if ckpt_path is not None:
        check_continues(ckpt_path, saved, card)
    module = build("module", cfg.module)(transformer=transformer, criterion=criterion, optimizer=optimizer,
                                         card=card, stability=stability,
                                         paintings=statistics, trained=None if statistics is not None else
                                         range(len(styles.held), transformer.num_styles))
    trainer: pl.Trainer = build("trainer", cfg.trainer, logger=instantiate(cfg.logger), callbacks=callbacks,
                                precision=precision, plugins=[AtomicCheckpointIO()])
    announce(card, styles, cfg, ckpt_path, saved)
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode")  # the frozen VGG, on purpose
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    if not trainer.is_global_zero:
        return None
    card.train["steps"] = trainer.global_step
    name = ("arbitrary" if card.arbitrary else safe_name(card.styles[0].name) if styles.names is None
            else f"multistyle_{transformer.num_styles}")
    return save_model(inside(run_dir / "export", f"{name}.pt"), module.transformer, card)


@rank_zero_only  # DDP: one line per run, not one per process
def announce(card: ModelCard, styles: Styles, cfg: DictConfig, ckpt_path: Path | None, saved: dict | None) -> None:
    """What the run trains, measured by which VGG, continued from where."""
    for style in card.styles[len(styles.held):]:
        print(f"style: {style.describe()}")
    if styles.base is not None:
        print(f"adding {len(styles.names)} style(s) to {cfg.add_styles_to} ({', '.join(styles.held)}); only their "
              "scale and shift train")
    vgg = card.vgg
    print(f"VGG weights: {vgg['arch']} from {vgg['source']} (sha256 {vgg['sha256'][:12]})")
    if ckpt_path is not None:
        print(f"continuing from {ckpt_path} (step {saved['global_step']})")
