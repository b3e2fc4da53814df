"""Find the files a run needs: local asset folder first, then the user cache, then a verified download.

The asset folder has the layout of the offline mirror (``styles/``, ``weights/``, ``datasets/``) and is
given by the ``assets_dir`` config key, which defaults to the ``FAST_STYLE_ASSETS`` environment variable.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from fast_style.io.atomic import atomic_write
from fast_style.errors import FastStyleError

ASSETS_ENV = "FAST_STYLE_ASSETS"


@dataclass(frozen=True)
class Asset:
    """A downloadable file, named by its place in the asset folder layout (e.g. ``styles/candy.jpg``)."""

    relpath: str
    url: str | None = None
    sha256: str | None = None


def cache_dir() -> Path:
    """Where downloads go: ``$FAST_STYLE_CACHE`` or a ``fast_style`` folder beside torch's hub cache."""
    return Path(os.environ.get("FAST_STYLE_CACHE") or Path(torch.hub.get_dir()).parent / "fast_style")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, sha256: str | None) -> Path:
    """Return ``path`` if its checksum matches; a mismatch is an error naming the file."""
    if sha256 is not None and (actual := file_sha256(path)) != sha256:
        raise FastStyleError(
            f"{path}: checksum {actual[:12]}... does not match the expected {sha256[:12]}...; "
            "delete the file to download it again, or replace it with the right one"
        )
    return path


def resolve(asset: Asset, assets_dir: str | Path | None = None) -> Path:
    """Local asset folder, then cache, then download (progress bar, checksum). Offline: a clear error."""
    folders = [Path(assets_dir)] if assets_dir else []
    folders.append(cache_dir())
    for folder in folders:
        if (candidate := folder / asset.relpath).is_file():
            return verify(candidate, asset.sha256)
    if asset.url is None:
        raise FastStyleError(f"{asset.relpath} not found in {' or '.join(map(str, folders))} and has no download URL")
    target = cache_dir() / asset.relpath
    try:
        with atomic_write(target) as tmp:
            torch.hub.download_url_to_file(asset.url, str(tmp), progress=True)
            verify(tmp, asset.sha256)
    except OSError as err:  # URLError, HTTPError and socket errors are all OSErrors
        raise FastStyleError(
            f"cannot download {asset.relpath} from {asset.url} ({err}); offline, put the file at "
            f"<assets>/{asset.relpath} and set {ASSETS_ENV}=<assets> (or assets_dir=<assets>)"
        ) from err
    return target
