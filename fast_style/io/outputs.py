"""Output settings checked before any work: a file where a folder is wanted (or a folder where a file is),
or a place that cannot be written, is one error naming the setting, not a traceback after the work is done."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fast_style.errors import FastStyleError


def check_output(name: str, value: Any, *, folder: bool) -> Path:
    """``name=value`` as a folder (``folder=True``) or a file that can be written; nothing is created.

    Refused: an existing file given as a folder or folder given as a file, a path below a file, and a
    nearest existing folder this process may not write in."""
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
    return path
