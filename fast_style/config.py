"""Hydra/OmegaConf helpers shared by the commands: where the configs are (inside the package, so an installed
fast_style runs from any folder), composing them, instantiating config groups, and turning a user's mistake
into one ``error:`` line."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from fast_style.errors import FastStyleError

T = TypeVar("T")

OmegaConf.register_new_resolver("stem", lambda path: Path(str(path)).stem, replace=True)
# Log every 10 steps, or more often in runs shorter than that, so even a 4-step run has loss curves.
OmegaConf.register_new_resolver("log_every", lambda max_steps: max(1, min(10, int(max_steps))) if int(max_steps) > 0 else 10,
                                replace=True)
# The run folder's name: the style, or "multistyle" for a run of several.
OmegaConf.register_new_resolver("run_name", lambda styles, style: "multistyle" if styles else style, replace=True)
# DataLoader workers: up to 4, but never more than the machine has cores.
OmegaConf.register_new_resolver("workers", lambda: min(4, os.cpu_count() or 1), replace=True)

# The top-level configs/ of a checkout is a link to this folder: users edit the configs the package runs.
CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")
# infer, export, validate and gallery take ``model=<a model file>``: their configs live apart from train.py's
# ``model`` group, which Hydra would otherwise read ``model=PATH`` as an option of.
MODEL_SCRIPTS_DIR = str(Path(CONFIG_DIR) / "model_scripts")


def to_dict(cfg: DictConfig) -> dict[str, Any]:
    """A resolved plain-Python copy of a config node (what goes into model files and reports)."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def build(group: str, node: DictConfig, **kwargs: Any) -> Any:
    """``instantiate`` a config group; a constructor that refuses its settings becomes one error naming
    the group (a :class:`FastStyleError` from the constructor passes through as it is)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate  # imported here: only training instantiates, and it costs start-up

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__ or err
        if isinstance(cause, FastStyleError):
            raise cause from None
        raise FastStyleError(f"{group}: {_first_line(cause)}; check the {group}.* settings") from err


def probe(factory: Callable[..., Any], module: Any, group: str, node: DictConfig) -> None:
    """Call a partial optimiser factory once on ``module``'s parameters, so that a setting it refuses
    (``optim.lr=-1``) is reported before training starts instead of inside it."""
    try:
        factory(module.parameters())
    except (ValueError, TypeError) as err:
        settings = ", ".join(f"{group}.{k}={v}" for k, v in to_dict(node).items() if not k.startswith("_"))
        raise FastStyleError(f"{settings}: refused ({_first_line(err)}); check the {group}.* settings") from err


@contextmanager
def _hydra_on_configs(config_dir: str = CONFIG_DIR) -> Iterator[GlobalHydra]:
    """Hydra initialised on ``config_dir``, also inside a running Hydra app, whose state is put back after."""
    running = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            yield GlobalHydra.instance()
    finally:
        GlobalHydra.instance().hydra = running


def compose_config(name: str, overrides: Sequence[str] = (), config_dir: str = CONFIG_DIR) -> DictConfig:
    """``<config_dir>/<name>.yaml`` composed with command-line style ``overrides``, as that script gets it."""
    with _hydra_on_configs(config_dir):
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


def _discard_hydra_files() -> None:
    """Delete what Hydra wrote into the run folder before the script began (``.hydra/``, the job's log)
    if the folder holds nothing else, and then the folder itself: a start refused for a bad setting leaves
    nothing behind, while a folder holding anything of a run (checkpoints, previews, ...) is left as it is."""
    hydra_cfg = HydraConfig.instance().cfg
    output_dir = OmegaConf.select(hydra_cfg, "hydra.runtime.output_dir") if hydra_cfg else None
    if not output_dir:  # not inside a Hydra run (a test calling the body, a composed config)
        return
    run_dir = Path(output_dir)
    written = {run_dir / name for key in ("hydra.output_subdir", "hydra.job_logging.handlers.file.filename")
               if (name := OmegaConf.select(hydra_cfg, key))}
    if not written or not run_dir.is_dir() or not set(run_dir.iterdir()) <= written:
        return
    for path in written:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    if run_dir.resolve() != Path.cwd().resolve():
        run_dir.rmdir()


def exit_now(status: int) -> None:
    """End the process with ``status`` once its output is flushed, skipping the interpreter's teardown: tearing
    torch down takes about a third of a second, a quarter of a one-photo ``infer.py`` run. Only for commands
    whose work is complete when they return (every file closed, every writer thread joined)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def run_or_exit(body: Callable[[DictConfig], T], cfg: DictConfig) -> T:
    """Run a script's body; a :class:`FastStyleError` (or a required setting left out) becomes one
    ``error: ...`` line and exit status 2, and Hydra's files go again from a run folder they are alone in."""
    try:
        return body(cfg)
    except MissingMandatoryValue as err:
        message = f"{err.full_key}=... is required; set it on the command line ({err.full_key}=VALUE)"
    except FastStyleError as err:
        message = str(err)
    _discard_hydra_files()
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
