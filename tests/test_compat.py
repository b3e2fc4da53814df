"""Model files written by earlier versions (tests/fixtures, written by fast_style 0.2.0) load and give the outputs
that version gave: exported single- and multi-style files, training checkpoints, TorchScript and ONNX exports."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fast_style.inference.standalone import open_model
from fast_style.model_card import FORMAT, load_model, read_model_file, save_model

from conftest import run_script

FIXTURES = Path(__file__).parent / "fixtures"
CPU = torch.device("cpu")
# float32 round-off: inference now normalises with group norm's kernel (the same function as instance norm)
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def expected() -> dict[str, torch.Tensor]:
    return torch.load(FIXTURES / "v2_expected.pt", weights_only=True)


@pytest.mark.parametrize("name", ["v2_single.pt", "v2_single.ckpt", "v2_single.torchscript.pt"])
def test_single_style_files_give_the_outputs_they_gave(name: str, expected: dict[str, torch.Tensor]) -> None:
    model, card, _ = open_model(FIXTURES / name, CPU)
    assert card.names == ["alpha"] and card.style.loss["style_weight"] == 3.0 and card.vgg["file"]
    with torch.no_grad():
        torch.testing.assert_close(model(expected["photo"]), expected["single"], atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", ["v2_multi.pt", "v2_multi.onnx"])
def test_multi_style_files_give_the_outputs_they_gave(name: str, expected: dict[str, torch.Tensor]) -> None:
    for style, key in (("alpha", "multi_alpha"), ({"alpha": 0.3, "beta": 0.7}, "multi_folded_blend")):
        model, card, _ = open_model(FIXTURES / name, CPU, style)
        with torch.no_grad():
            torch.testing.assert_close(model(expected["photo"]), expected[key], atol=TOLERANCE, rtol=0)
    net, card = load_model(FIXTURES / "v2_multi.pt")
    assert card.names == ["alpha", "beta"] and card.network["num_styles"] == 2
    with torch.no_grad():  # the style weights as an input, as training runs the network
        assert torch.equal(net(expected["photo"], torch.tensor([0.3, 0.7])), expected["multi_blend"])


def test_an_upgraded_file_is_saved_in_todays_format_with_the_same_network(tmp_path: Path,
                                                                           expected: dict[str, torch.Tensor]) -> None:
    net, card = load_model(FIXTURES / "v2_single.pt")
    again = load_model(save_model(tmp_path / "again.pt", net, card))[0]
    assert read_model_file(tmp_path / "again.pt")[0].format == FORMAT
    with torch.no_grad():
        assert torch.equal(again(expected["photo"]), net(expected["photo"]))


def test_infer_stylises_with_an_earlier_multi_style_file(tmp_path: Path) -> None:
    from fast_style.io.images import save_image

    save_image(torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0)), tmp_path / "photo.png")
    result = run_script("infer.py", f"model={FIXTURES / 'v2_multi.pt'}", "style=beta", f"input={tmp_path / 'photo.png'}",
                        f"output={tmp_path / 'out.png'}", "progress=false")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(fast_style, beta)" in result.stdout and (tmp_path / "out.png").is_file()
