"""Where outputs may go, checked before any work: a file where a folder is wanted (or a folder where a file is), a
place that cannot be written, an output that would replace or mix with an input, and names that come from files
or settings (style names, painting names) turned into file names that stay inside the folder the user named."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fast_style.errors import FastStyleError

UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def check_output(name: str, value: Any, *, folder: bool, inputs: Iterable[str | Path | None] = ()) -> Path:
    """``name=value`` as a folder (``folder=True``) or a file that can be written; nothing is created.

    Refused: an existing file given as a folder or folder given as a file, a path below a file, a nearest
    existing folder this process may not write in, and an output that is one of ``inputs`` (files or folders the
    command reads: photos, films, models, paintings), lies inside an input folder or holds an input."""
    path = Path(str(value)).expanduser()
    wanted = "a folder (created if missing)" if folder else "a file name"
    if path.exists() and path.is_dir() != folder:
        raise FastStyleError(f"{name}={value} is an existing {'file' if folder else 'folder'}; give {wanted}")
    existing = next(p for p in (path if folder else path.parent, *path.parents) if p.exists())
    if not existing.is_dir():
        raise FastStyleError(f"{name}={value}: {existing} is a file, not a folder; give {wanted} elsewhere")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FastStyleError(f"{name}={value}: cannot write in {existing} (permission denied); "
                             "choose a folder you can write to")
    target = path.resolve()
    for source in (Path(str(p)).expanduser() for p in inputs if p is not None and str(p)):
        if not source.exists():
            continue
        source = source.resolve()
        if target == source or source.is_relative_to(target) or (source.is_dir() and target.is_relative_to(source)):
            raise FastStyleError(f"{name}={value} would overwrite or mix with the input {source}; choose an "
                                 f"output outside the inputs")
    return path


def safe_name(text: str) -> str:
    """``text`` (a style or painting name from a model file or a setting) as one file name: letters, digits and
    ``._+-`` kept, anything else (``/``, ``..``, spaces) replaced by ``_``, no leading dot; never empty."""
    name = UNSAFE.sub("_", str(text)).lstrip(".")
    return name or "unnamed"


def inside(folder: Path, *parts: str) -> Path:
    """``folder / parts`` after checking it lands inside ``folder`` (links followed), else one error: the last
    line of defence for every path built from a name that came from a file."""
    path = folder.joinpath(*parts)
    if not path.resolve().is_relative_to(folder.resolve()):
        raise FastStyleError(f"{path}: would be written outside {folder}; refused")
    return path
