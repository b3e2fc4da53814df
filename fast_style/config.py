"""Hydra/OmegaConf helpers shared by the scripts."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from fast_style.errors import FastStyleError

T = TypeVar("T")

OmegaConf.register_new_resolver("stem", lambda path: Path(str(path)).stem, replace=True)
# Log every 10 steps, or more often in runs shorter than that, so even a 4-step run has loss curves.
OmegaConf.register_new_resolver("log_every", lambda max_steps: max(1, min(10, int(max_steps))) if int(max_steps) > 0 else 10,
                                replace=True)
# DataLoader workers: up to 4, but never more than the machine has cores.
OmegaConf.register_new_resolver("workers", lambda: min(4, os.cpu_count() or 1), replace=True)

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")


def to_dict(cfg: DictConfig) -> dict[str, Any]:
    """A resolved plain-Python copy of a config node (what goes into model files and reports)."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def store_config(name: str) -> None:
    """Register ``configs/<name>.yaml`` on its own, for scripts run with ``config_path=None``: configs/
    holds train.py's ``model`` group, which would capture ``model=PATH`` if Hydra searched that folder."""
    ConfigStore.instance().store(name=name, node=OmegaConf.load(Path(CONFIG_DIR) / f"{name}.yaml"))


@contextmanager
def _hydra_on_configs() -> Iterator[GlobalHydra]:
    """Hydra initialised on configs/, also inside a running Hydra app, whose state is put back after."""
    running = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            yield GlobalHydra.instance()
    finally:
        GlobalHydra.instance().hydra = running


def compose_config(name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """``configs/<name>.yaml`` composed with command-line style ``overrides``, as that script gets it."""
    with _hydra_on_configs():
        return compose(config_name=name, overrides=list(overrides))


def group_options(group: str) -> list[str]:
    """The option names of a config group: ``configs/<group>/*.yaml``."""
    with _hydra_on_configs() as hydra:
        return hydra.config_loader().get_group_options(group)


def group_config(group: str, name: str) -> DictConfig | None:
    """Option ``name`` of config group ``group`` as Hydra composes it (defaults lists included), or None
    if the group has no such option."""
    with _hydra_on_configs() as hydra:
        if name not in hydra.config_loader().get_group_options(group):
            return None
        return compose(overrides=[f"+{group}={name}"])[group]


def run_or_exit(body: Callable[[DictConfig], T], cfg: DictConfig) -> T:
    """Run a script's body; a :class:`FastStyleError` becomes one ``error: ...`` line and exit status 2."""
    try:
        return body(cfg)
    except FastStyleError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
