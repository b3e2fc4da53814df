"""What a multi-style training run trains: its styles' settings, and the network, fresh or a trained
multi-style network with styles added (``add_styles_to=PATH``) of which only the new styles' scale and shift
learn."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from fast_style.config import compose_config, group_options
from fast_style.errors import FastStyleError
from fast_style.model_io import build_transformer, load_model
from fast_style.multistyle import check_style_list, style_names
from fast_style.transformer import MultiStyleTransformerNet

MULTI_STYLE_TARGET = f"{MultiStyleTransformerNet.__module__}.{MultiStyleTransformerNet.__name__}"
# Overrides that choose the run's styles; these and Hydra's own settings are not applied to each style.
NOT_PER_STYLE = ("style", "styles")


def style_runs(names: list[str]) -> list[DictConfig]:
    """Each style's training config as ``style=<name>`` with this run's other command-line overrides would
    compose it: its painting, size and recommended loss weights from ``configs/style/<name>.yaml``, with
    what the run sets for every style (``experiment=demo``, ``style.size=...``, ``loss.tv_weight=...``)."""
    keys = [(o, o.split("=", 1)[0].lstrip("+~")) for o in HydraConfig.get().overrides.task]
    overrides = [o for o, key in keys if key not in NOT_PER_STYLE and not key.startswith("hydra")]
    return [compose_config("train", [*overrides, f"style={name}"]) for name in names]


def read_base(path: str) -> tuple[MultiStyleTransformerNet, dict[str, Any]]:
    """``add_styles_to=PATH``: the trained multi-style network (an exported ``.pt``) and its metadata."""
    net, meta = load_model(path)
    if style_names(meta) is None:
        raise FastStyleError(f"add_styles_to={path}: a single-style network "
                             f"({meta.get('style', {}).get('name')}); give a multi-style model (trained with styles=[...])")
    return net, meta


def new_style_names(value: Any, held: list[str], base: str | None) -> list[str]:
    """``styles``: the styles to train (with ``add_styles_to=base``, those to add: none of the ``held``)."""
    options = [name for name in group_options("style") if name != "custom"]
    names = check_style_list("styles", value, options)
    if again := [name for name in names if name in held]:
        raise FastStyleError(f"styles: {', '.join(again)} already held by add_styles_to={base} "
                             f"({', '.join(held)}); list only styles to add")
    return names


def multi_style_network(model: Mapping[str, Any], count: int, base: MultiStyleTransformerNet | None
                        ) -> MultiStyleTransformerNet:
    """A fresh network of ``model``'s size holding ``count`` styles, or ``base`` with ``count`` styles added
    and everything but their scale and shift frozen."""
    if base is None:
        return build_transformer({**model, "num_styles": count})
    net = base.add_styles(count)
    net.train_only_styles(range(base.num_styles, net.num_styles))
    return net


def check_no_weight_decay(optim: Mapping[str, Any]) -> None:
    """Adding styles keeps the held styles' parameters by giving them zero gradients; weight decay would
    still move them."""
    if optim.get("weight_decay"):
        raise FastStyleError(f"optim.weight_decay={optim['weight_decay']}: adding styles to a trained network "
                             "trains without weight decay (it would change the styles held); leave it out")
