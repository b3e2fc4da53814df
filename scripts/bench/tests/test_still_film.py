"""The stand-in film of the measurements (scripts/make_film.py, scripts/bench/still_film.py): a camera move over a
photo that optical flow follows."""

from __future__ import annotations

import pytest

from pathlib import Path

from clips import read_clip
from conftest import COCO, run_script
from fast_style.evaluate.flicker import warping_error

pytestmark = pytest.mark.slow  # encodes and measures a film: the full suite, not the everyday tier


def test_stand_in_film_from_a_photo(tmp_path: Path) -> None:
    photo = sorted(COCO.rglob("*.jpg"))[1]
    film = tmp_path / "pan.mp4"
    result = run_script("make_film.py", f"photo={photo}", f"output={film}", "width=96", "height=64", "frames=12")
    assert result.returncode == 0, result.stderr[-2000:]
    info = read_clip(film)
    assert len(info["times"]) == 12 and info["size"] == (96, 64)
    moving = warping_error(zip(info["pixels"], info["pixels"]))
    assert 0 < moving.input < 0.05 and moving.valid_share > 0.8  # a smooth camera move the flow follows
    result = run_script("make_film.py", f"photo={photo}", f"output={tmp_path / 'pan.gif'}")
    assert result.returncode == 2 and "output=" in result.stderr and not (tmp_path / "pan.gif").exists()
