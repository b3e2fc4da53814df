"""Atomic file writes: a killed run never leaves half a file, and a finished file gets the permissions
a plainly created one would (``mkstemp`` alone leaves 0600, unreadable to anyone else)."""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fast_style.errors import FastStyleError

# The umask can only be read by setting it; done once, at import, before any writer threads exist.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a writer that may still finish its file)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_leftovers(paths: Iterable[str | Path]) -> int:
    """Delete the temporary files that killed writers of ``paths`` left behind (``.<name>.<pid>.<random>.part``,
    see :func:`atomic_write`); one listing per folder. Files of writers still running (another run writing
    into the same folder) are left alone. Returns how many were deleted."""
    by_folder: dict[Path, set[str]] = defaultdict(set)
    for path in map(Path, paths):
        by_folder[path.parent].add(path.name)
    removed = 0
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for leftover in folder.glob(".*.part"):
            for name in names:
                middle = leftover.name[len(name) + 2:-len(".part")]  # "<pid>.<random>", or "<random>" (0.2)
                if not leftover.name.startswith(f".{name}.") or not middle:
                    continue
                pid, _, random = middle.partition(".")
                if not (random and pid.isdigit() and _alive(int(pid))):
                    leftover.unlink(missing_ok=True)
                    removed += 1
                break
    return removed


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (named by this process, so that another run's clean-up leaves it
    alone); if the block succeeds it replaces ``path``, otherwise it is deleted. Parent folders are created. A folder that cannot be written is one error naming it
    (errors raised by the block itself are the caller's to explain)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".part")
    except OSError as err:
        raise FastStyleError(f"cannot write {path}: {err.strerror or err}; choose a folder you can write to") from err
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
