"""Asset resolution: local folder, then cache, then a checked download; offline gives a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from fast_style.assets import Asset, file_sha256, resolve
from fast_style.errors import FastStyleError
from fast_style.styles import load_style


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("FAST_STYLE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_local_folder_wins(assets: Path, cache: Path) -> None:
    sha = file_sha256(assets / "styles" / "candy.jpg")
    assert resolve(Asset("styles/candy.jpg", "http://unused.invalid/x", sha), assets) == assets / "styles" / "candy.jpg"


def test_download_goes_to_cache_with_checksum(tmp_path: Path, cache: Path, assets: Path) -> None:
    source = assets / "styles" / "udnie.jpg"
    asset = Asset("styles/udnie.jpg", source.as_uri(), file_sha256(source))
    path = resolve(asset, tmp_path / "empty_assets")
    assert path == cache / "styles" / "udnie.jpg" and file_sha256(path) == asset.sha256
    assert resolve(Asset("styles/udnie.jpg", None, asset.sha256)) == path  # second time: from the cache


def test_download_with_wrong_checksum_leaves_nothing(cache: Path, assets: Path) -> None:
    asset = Asset("styles/mosaic.jpg", (assets / "styles" / "mosaic.jpg").as_uri(), "0" * 64)
    with pytest.raises(FastStyleError, match="does not match"):
        resolve(asset)
    assert not list(cache.rglob("*.jpg")) and not list(cache.rglob("*.part"))


def test_offline_with_nothing_local_names_the_file_and_where_to_put_it(tmp_path: Path, cache: Path) -> None:
    asset = Asset("styles/starry_night.jpg", "http://127.0.0.1:9/starry.jpg", None)
    with pytest.raises(FastStyleError) as info:
        resolve(asset, tmp_path)
    message = str(info.value)
    assert "styles/starry_night.jpg" in message and "FAST_STYLE_ASSETS" in message and "\n" not in message


def test_style_image_path_overrides_the_asset(tmp_path: Path, assets: Path) -> None:
    style = {"name": "x", "file": "missing.jpg", "url": None, "sha256": None, "image": str(assets / "styles" / "candy.jpg"),
             "size": 64}
    image, info = load_style(style)
    assert image.shape[0] == 1 and max(image.shape[-2:]) == 64 and info["file"] == "candy.jpg"
    with pytest.raises(FastStyleError, match="style.image=.*not found"):
        load_style({**style, "image": str(tmp_path / "nope.jpg")})
