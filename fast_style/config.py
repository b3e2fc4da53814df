"""Hydra/OmegaConf helpers shared by the commands: where the configs are (inside the package, so an installed
fast_style runs from any folder), composing them, instantiating config groups, and turning a user's mistake
into one ``error:`` line."""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from fast_style.errors import FastStyleError
from fast_style.io.outputs import safe_name

T = TypeVar("T")

OmegaConf.register_new_resolver("stem", lambda path: Path(str(path)).stem, replace=True)
# A name from a setting (a style's name) as it may appear in a path: one file name, never ../
OmegaConf.register_new_resolver("safe", lambda name: safe_name(name), replace=True)
# Log every 10 steps, or more often in runs shorter than that, so even a 4-step run has loss curves.
OmegaConf.register_new_resolver("log_every", lambda max_steps: max(1, min(10, int(max_steps))) if int(max_steps) > 0 else 10,
                                replace=True)
# The run folder's name: the style, "multistyle" for a run of several, "arbitrary" for an arbitrary-style network.
OmegaConf.register_new_resolver(
    "run_name", lambda styles, style, model="": "arbitrary" if str(model).endswith("ArbitraryStyleNet")
    else "multistyle" if styles else safe_name(style), replace=True)
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


# The command line ----------------------------------------------------------------------------------------------

# Settings a ``+key=value`` may add because something reads whatever is there: the kwargs of an instantiated node
# (``+optim.weight_decay=0.01``, ``+trainer.gradient_clip_val=1``), a callback, Hydra's own settings.
ADDABLE_UNDER = ("callbacks", "hydra")


def command(config_dir: str, config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], None]]:
    """``hydra.main`` for a command whose command line is checked first (:func:`check_command_line`): a typo in
    a setting's name, an option that does not exist or a setting added that nothing reads is one ``error:`` line
    with exit status 2, not Hydra's traceback-like message and exit 1. Hydra's own flags (``--help``, ``-m``,
    ``--cfg job``) go to Hydra as they are."""
    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[], None]:
        hydra_main = hydra.main(version_base="1.3", config_path=config_dir, config_name=config_name)(task)

        @functools.wraps(task)
        def main() -> None:
            args = sys.argv[1:]
            if not any(arg.startswith("-") for arg in args):
                try:
                    check_command_line(config_dir, config_name, args)
                except FastStyleError as err:
                    print(f"error: {err}", file=sys.stderr)
                    sys.exit(2)
            hydra_main()

        return main

    return decorate


def check_command_line(config_dir: str, config_name: str, args: Sequence[str]) -> None:
    """Refuse what Hydra would refuse, or silently keep, in one line naming the setting: an override that does
    not parse, a setting or option that does not exist (with the closest that does), ``+key=value`` for a key
    nothing reads, a blend naming a style twice, a run folder that is a file. A setting given twice is
    warned about (the last one counts, as in Hydra)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    try:
        overrides = OverridesParser.create().parse_overrides(list(args))
    except OverrideParseException as err:
        raise FastStyleError(f"{_first_line(err)}; write settings as key=value") from None
    keys = [o.key_or_group for o in overrides]
    for key in dict.fromkeys(k for k in keys if keys.count(k) > 1):
        last = [a for a, k in zip(args, keys) if k == key][-1]
        print(f"warning: {key} is given {keys.count(key)} times; the last one counts: {last}", file=sys.stderr)
    for arg, override in zip(args, overrides):
        _refuse_repeated_keys(arg, override.key_or_group)
    try:  # composed once, with Hydra's own node, for every check below
        with _hydra_on_configs(config_dir):
            cfg = compose(config_name=config_name, overrides=list(args), return_hydra_config=True)
    except MissingConfigException as err:
        raise FastStyleError(_missing_option(err, overrides)) from None
    except ConfigCompositionException as err:
        raise FastStyleError(_unknown_setting(err, config_dir, config_name, overrides)) from None
    for arg, override in zip(args, overrides):
        key = override.key_or_group
        if override.is_add() and not _read_by_someone(cfg, key):
            raise FastStyleError(f"{arg}: nothing reads {key}{_closest(cfg, key)}; leave it out")
    _check_run_dir(str(cfg.hydra.run.dir))


def _refuse_repeated_keys(arg: str, key: str) -> None:
    """A blend written with a style twice (``style={a: 0.5, a: 0.5}``), which parsing would quietly turn into
    its last entry."""
    import yaml

    value = arg.split("=", 1)[1] if "=" in arg else ""
    if not value.lstrip().startswith("{"):
        return

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        names = [loader.construct_object(k) for k, _ in node.value]
        if twice := sorted({str(n) for n in names if names.count(n) > 1}):
            raise FastStyleError(f"{key}: {', '.join(twice)} given more than once in {value}; give each once")
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        yaml.load(value, Loader=Strict)
    except yaml.YAMLError:
        return  # not YAML; Hydra's parser has accepted it and says what it means


def _read_by_someone(cfg: DictConfig, key: str) -> bool:
    """Whether a key added with ``+`` lands where something reads it: inside an instantiated node (its
    constructor takes the key), a new callback, or Hydra's settings."""
    parts = key.split(".")
    if parts[0] in ADDABLE_UNDER:
        return True
    for depth in range(len(parts) - 1, 0, -1):
        node = OmegaConf.select(cfg, ".".join(parts[:depth]))
        if isinstance(node, DictConfig) and "_target_" in node:
            return True
    return False


def _closest(cfg: DictConfig, key: str) -> str:
    """``; did you mean data.image_size?`` for the existing setting closest to ``key``, else nothing."""
    import difflib

    parent, _, name = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, DictConfig):
        return ""
    match = difflib.get_close_matches(name, [str(k) for k in node.keys() if str(k) != name], n=1, cutoff=0.6)
    return f"; did you mean {parent + '.' if parent else ''}{match[0]}?" if match else ""


def _missing_option(err: Exception, overrides: Sequence[Any]) -> str:
    """``model=huge: no such model; use johnson or small``."""
    import difflib

    options = list(getattr(err, "options", None) or [])
    text = str(err)
    bad = next((o for o in reversed(overrides) if f"'{o.key_or_group}/{o.value()}'" in text), None)
    if bad is None:
        return _first_line(err)
    group, value = bad.key_or_group, bad.value()
    match = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
    hint = f"; did you mean {group}={match[0]}?" if match else ""
    return f"{group}={value}: no such {group}; use one of {', '.join(options)}{hint}"


def _unknown_setting(err: Exception, config_dir: str, config_name: str, overrides: Sequence[Any]) -> str:
    """``trainer.max_step=5: no such setting; did you mean trainer.max_steps?``, or Hydra's first line."""
    text = _first_line(err)
    bad = next((o for o in reversed(overrides) if f"override '{o.key_or_group}'" in text), None)
    if bad is None:
        return text.rstrip(".")
    others = [o.input_line for o in overrides if o is not bad and not o.is_add()]
    try:
        cfg = compose_config(config_name, others, config_dir)
    except Exception:  # noqa: BLE001 - another override is also wrong; name this one without a suggestion
        cfg = OmegaConf.create()
    return f"{bad.input_line}: no such setting{_closest(cfg, bad.key_or_group)}"


def _check_run_dir(run_dir: str) -> None:
    """A run folder (``hydra.run.dir``) that is an existing file, or lies where nothing can be written."""
    path = Path(run_dir).expanduser()
    if run_dir in (".", ""):
        return
    if path.exists() and not path.is_dir():
        raise FastStyleError(f"hydra.run.dir={run_dir} is an existing file; give a folder for the run")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise FastStyleError(f"hydra.run.dir={run_dir}: cannot write in {existing}; choose a folder you can "
                             "write to")
