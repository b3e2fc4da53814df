"""Training checkpoints that never cost a run its progress.

Three ways a run used to lose its steps: a checkpoint cut short by a full disk (now every checkpoint is
written to a temporary file and renamed), an error before the checkpoint was restored writing
``interrupted.ckpt`` with fresh step-0 weights that the next rerun then continued from (now that file is
written only once training has started from the restored state), and a rerun that picked a broken file
(now the checkpoint to continue from is chosen here, readable ones only, and checked against the run's
settings before any work starts). And the project alone decides what is resumed: Lightning is handed that
checkpoint or none (it would otherwise load the run folder's ``last.ckpt`` by itself, past these checks), loads it
with ``weights_only=True`` whatever the environment says, and a run folder is trained in by one run at a time.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from fast_style.errors import FastStyleError, load_failure
from fast_style.io.atomic import atomic_write, remove_leftovers
from fast_style.model_card import FORMAT, UPGRADABLE, ModelCard

log = logging.getLogger(__name__)

# The run's latest progress; the step_*.ckpt files are the fallback when neither is readable.
LATEST = ("last.ckpt", "interrupted.ckpt")
STEP_FILE = re.compile(r"step_(\d+)\.ckpt$")


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into a temporary file beside the target, then rename: a full disk or a kill leaves
    the previous checkpoint as it was, never a truncated one."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        try:
            with atomic_write(path) as tmp:
                torch.save(checkpoint, tmp)
        except (OSError, RuntimeError) as err:  # a full disk surfaces from torch.save as a RuntimeError
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err).splitlines()[0]
            raise FastStyleError(f"cannot write checkpoint {path} ({reason}); free some space or fix the "
                                 "folder's permissions, then rerun to continue from the last one written") from err

    def load_checkpoint(self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
                        ) -> dict[str, Any]:
        """Only plain tensors and values, even with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` set (which turns an
        unspecified ``weights_only`` into an unpickler that runs the file's code)."""
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)


class ProgressCheckpoint(pl.Callback):
    """Saves ``interrupted.ckpt`` when a run dies or is stopped, but only once training has started from
    the restored checkpoint: an error before that (a bad setting, an unreadable photo folder) has no
    progress to save, and a file written then would hold fresh weights that a rerun takes for the run's.
    A plain callback, not Lightning's ``OnExceptionCheckpoint``: with one of those, Lightning resumes from the
    run folder's latest checkpoint by itself whenever it is handed none."""

    def __init__(self, dirpath: str | Path, filename: str = "interrupted") -> None:
        self.ckpt_path = str(Path(dirpath) / f"{filename}.ckpt")
        self.started = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = True

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if not self.started:
            return
        try:
            trainer.save_checkpoint(self.ckpt_path)
        except FastStyleError as err:  # the disk that stopped the run may refuse this one too
            log.warning("could not save %s: %s", self.ckpt_path, err)


def read_checkpoint(path: Path, name: str) -> dict[str, Any]:
    """A fast_style training checkpoint, loaded safely; anything else is one error naming ``name``."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated, empty, not a torch file, or unsafe to unpickle
        raise FastStyleError(f"{name}: cannot be read as a training checkpoint ({load_failure(err)}); give a "
                             ".ckpt from <run>/checkpoints/") from err
    if isinstance(raw, dict) and raw.get("format") in (FORMAT, *UPGRADABLE):
        raise FastStyleError(f"{name}: an exported model, not a training checkpoint; give its run's "
                             "checkpoints/last.ckpt to continue training")
    if not (isinstance(raw, dict) and isinstance(raw.get("fast_style"), dict) and "state_dict" in raw
            and "global_step" in raw):
        raise FastStyleError(f"{name}: not a fast_style training checkpoint; give a .ckpt from <run>/checkpoints/")
    return raw


def _readable(path: Path) -> dict[str, Any] | None:
    try:
        return read_checkpoint(path, str(path))
    except FastStyleError as err:
        log.warning("skipping %s", err)
        return None


def find_resume(checkpoints: Path, resume: str | None) -> tuple[Path | None, dict[str, Any] | None]:
    """The checkpoint a run continues from and its contents: ``resume`` if given (it must be readable),
    else the furthest of the run folder's ``last.ckpt``/``interrupted.ckpt``, else its newest readable
    ``step_*.ckpt``; (None, None) for a fresh run. Unreadable files are skipped with a warning."""
    if resume:
        path = Path(resume).expanduser()
        if not path.is_file():
            raise FastStyleError(f"resume={resume}: checkpoint not found; give a .ckpt from <run>/checkpoints/")
        return path, read_checkpoint(path, f"resume={resume}")
    latest = [(path, raw) for path in (checkpoints / name for name in LATEST) if path.is_file()
              if (raw := _readable(path)) is not None]
    if latest:
        return max(latest, key=lambda item: (item[1]["global_step"], item[0].stat().st_mtime))
    steps = sorted(checkpoints.glob("step_*.ckpt"), reverse=True,
                   key=lambda p: int(m.group(1)) if (m := STEP_FILE.search(p.name)) else -1)
    for path in steps:
        if (raw := _readable(path)) is not None:
            return path, raw
    return None, None


def check_continues(path: Path, saved: Mapping[str, Any], card: ModelCard) -> None:
    """Refuse to continue a checkpoint trained for another network, painting or VGG than this run's
    settings: the result would be labelled with the new style but carry the old one's training."""
    old_format = saved["fast_style"].get("format", "fast_style/1")
    if old_format != card.format:
        hint = " (its network still loads: fine-tune it with init=<checkpoint>)" if old_format in UPGRADABLE else ""
        raise FastStyleError(f"{path} was written by an earlier fast_style ({old_format}, now {card.format}), whose "
                             f"training state this version cannot continue{hint}; or start fresh in a new "
                             "hydra.run.dir=...")
    old = ModelCard.from_dict(saved["fast_style"])
    differences = []
    if old.kind() != card.kind():
        differences.append(f"kind of network: {old.kind()} one (now {card.kind()} one)")
    elif old.network != card.network:
        differences.append(f"model {old.network} (now {card.network})")
    if [s.sha256 for s in old.styles] != [s.sha256 for s in card.styles]:
        differences.append(f"style {', '.join(s.describe() for s in old.styles)} "
                           f"(now {', '.join(s.describe() for s in card.styles)})")
    if (old.vgg or {}).get("sha256") != (card.vgg or {}).get("sha256"):
        differences.append(f"VGG weights {_vgg(old.vgg or {})} (now {_vgg(card.vgg or {})})")
    if differences:
        raise FastStyleError(f"{path} was trained with another {'; '.join(differences)}; rerun with the "
                             "settings it was trained with, or start fresh in a new hydra.run.dir=...")


def first_process() -> bool:
    """Whether this is the first (or only) process of a run: Lightning's DDP launcher, torchrun and SLURM give
    the others a non-zero ``RANK``, ``LOCAL_RANK``, ``NODE_RANK`` or ``SLURM_PROCID``."""
    return all(int(os.environ.get(name, 0)) == 0 for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


class RunLock:
    """The run folder held by one training at a time: ``<run>/.lock`` (an ``flock``, released by the system
    however the process ends) names the process holding it. Two runs in one folder would continue each
    other's checkpoints and export one style's network under the other's name."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        self.file: Any = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "a+")
        except OSError as err:
            raise FastStyleError(f"hydra.run.dir={self.path.parent}: cannot write there ({err.strerror or err}); "
                                 "choose a folder you can write to") from err
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise FastStyleError(f"hydra.run.dir={self.path.parent} is in use by {holder}; wait for that training "
                                 "to end, or give this one another hydra.run.dir=...") from None
        self.file.truncate(0)
        self.file.write(f"process {os.getpid()}")
        self.file.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)  # while still holding it: a failed start leaves the folder as it was
        self.file.close()


def remove_checkpoint_leftovers(checkpoints: Path) -> int:
    """The hidden half-written checkpoints of killed runs (their writers are gone); the rest is kept."""
    names = [p.name[1:].split(".ckpt.")[0] + ".ckpt" for p in checkpoints.glob(".*.ckpt.*.part")]
    return remove_leftovers(checkpoints / name for name in names)


def _vgg(info: Mapping[str, Any]) -> str:
    return f"{info.get('file')} (sha256 {str(info.get('sha256'))[:12]})"
