"""scripts/export.py: standalone TorchScript and ONNX models that match PyTorch and run without fast_style."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from conftest import run_script
import fast_style.cli.export as cli_export
from fast_style.errors import FastStyleError
from fast_style.inference.standalone import open_model
from fast_style.inference.stylizer import Stylizer
from fast_style.model_card import load_model

CPU = torch.device("cpu")

# Runs in a fresh interpreter outside the repository: only torch / onnxruntime, never fast_style.
STANDALONE = """
import sys, numpy as np, torch, onnxruntime
x = np.load(sys.argv[1])
ts = torch.jit.load(sys.argv[2])
with torch.inference_mode():
    np.save(sys.argv[4], ts(torch.from_numpy(x)).numpy())
session = onnxruntime.InferenceSession(sys.argv[3], providers=["CPUExecutionProvider"])
np.save(sys.argv[5], session.run(None, {"image": x})[0])
assert not any(name.startswith("fast_style") for name in sys.modules), "standalone model imported fast_style"
"""


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory, styled_model: Path) -> dict[str, Path]:
    """Both standalone files of the styled model, written by the script (which checks them itself), run
    from the output folder with a relative output name: scripts work from any current directory."""
    out = tmp_path_factory.mktemp("exports")
    files = {}
    for fmt, name in (("torchscript", "styled.torchscript.pt"), ("onnx", "styled.onnx")):
        result = run_script("export.py", f"model={styled_model}", f"format={fmt}", f"output={name}", cwd=out)
        assert result.returncode == 0, result.stderr[-2000:]
        reported = re.search(r"max abs difference vs PyTorch on a random 96x128 image: (\S+)", result.stdout)
        assert reported and float(reported.group(1)) < 1e-4, result.stdout
        files[fmt] = out / name
    assert sorted(p.name for p in out.iterdir()) == ["styled.onnx", "styled.torchscript.pt"]  # no side files
    return files


@pytest.mark.slow
def test_standalone_models_match_pytorch_without_fast_style(tmp_path: Path, exports: dict[str, Path],
                                                             styled_model: Path) -> None:
    x = torch.rand(2, 3, 37, 53, generator=torch.Generator().manual_seed(1))  # batch and odd size: dynamic shapes
    np.save(tmp_path / "x.npy", x.numpy())
    result = subprocess.run([sys.executable, "-c", STANDALONE, str(tmp_path / "x.npy"), str(exports["torchscript"]),
                             str(exports["onnx"]), str(tmp_path / "ts.npy"), str(tmp_path / "onnx.npy")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    net = load_model(styled_model)[0]
    with torch.inference_mode():
        expected = net(x)
    assert (expected - x).abs().mean() > 0.03  # a model that visibly changes the input, so parity means something
    for fmt in ("ts", "onnx"):
        got = torch.from_numpy(np.load(tmp_path / f"{fmt}.npy"))
        assert got.shape == expected.shape
        assert (got - expected).abs().max() < 1e-4, fmt


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_infer_runs_standalone_models_with_tiling_and_metadata(exports: dict[str, Path], styled_model: Path,
                                                               fmt: str) -> None:
    model, card, kind = open_model(exports[fmt], CPU)
    assert (kind, card.style.name) == (fmt, "starry_night") and card.train["steps"] == 4
    x = torch.rand(1, 3, 96, 200, generator=torch.Generator().manual_seed(2))
    reference = Stylizer(load_model(styled_model)[0], CPU, tile=None)(x)
    assert (Stylizer(model, CPU, tile=None)(x) - reference).abs().max() < 1e-4
    # Standalone models keep per-tile instance-norm statistics: blended, close, not exact.
    tiled = Stylizer(model, CPU, tile=128, overlap=64)(x)
    assert (tiled - reference).abs().mean() < 0.5 * (reference - x).abs().mean()


def test_export_refuses_unknown_format(tmp_path: Path, styled_model: Path) -> None:
    result = run_script("export.py", f"model={styled_model}", "format=tflite", f"output={tmp_path / 'm.tflite'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: format=tflite: use one of torchscript, onnx, pt, web, zoo"
    assert not (tmp_path / "m.tflite").exists()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_failed_check_leaves_no_file(tmp_path: Path, styled_model: Path, exports: dict[str, Path], fmt: str,
                                     monkeypatch) -> None:
    script = cli_export
    monkeypatch.setattr(script, "TOLERANCE", -1.0)  # no export can pass: the check fails after writing
    # ONNX: the file the script wrote for this model before, instead of a second export of several seconds.
    monkeypatch.setattr(script, "export_onnx", lambda net, card, path: shutil.copy(exports["onnx"], path))
    output = tmp_path / "m.out"
    cfg = OmegaConf.create({"model": str(styled_model), "format": fmt, "output": str(output), "check_size": [16, 16]})
    with pytest.raises(FastStyleError, match=rf"m\.out: the {fmt} export differs from PyTorch .* nothing written"):
        script.export(cfg)
    assert list(tmp_path.iterdir()) == []


def test_output_that_cannot_be_written_is_refused_before_exporting(tmp_path: Path, styled_model: Path) -> None:
    script = cli_export
    (tmp_path / "a_file").write_text("kept")
    (tmp_path / "a_folder").mkdir()
    cfg = OmegaConf.create({"model": str(styled_model), "format": "torchscript", "output": "",
                            "check_size": [16, 16]})
    for output, message in ((tmp_path / "a_file" / "m.pt", r"a_file is a file, not a folder; give a file name elsewhere"),
                            (tmp_path / "a_folder", r" is an existing folder; give a file name")):
        cfg.output = str(output)
        with pytest.raises(FastStyleError, match=rf"^output={re.escape(str(output))}.*{message}$"):
            script.export(cfg)
    cfg.output, cfg.check_size = str(tmp_path / "m.pt"), [4, 4]
    with pytest.raises(FastStyleError, match=r"check_size\[0\]=4: use a whole number from 8"):
        script.export(cfg)
    assert (tmp_path / "a_file").read_text() == "kept" and sorted(p.name for p in tmp_path.iterdir()) == [
        "a_file", "a_folder"] and not any((tmp_path / "a_folder").iterdir())


@pytest.mark.slow
def test_standalone_exports_are_named_as_such_where_only_our_files_work(exports: dict[str, Path]) -> None:
    for fmt, kind in (("torchscript", "a TorchScript"), ("onnx", "an ONNX")):
        with pytest.raises(FastStyleError, match=rf"model=.*: {kind} export \(scripts/export\.py\), which only infer"):
            load_model(exports[fmt])


@pytest.mark.slow
def test_onnx_model_stylises_images_under_8_px(exports: dict[str, Path], styled_model: Path) -> None:
    model, _, _ = open_model(exports["onnx"], CPU)
    x = torch.rand(2, 3, 5, 3, generator=torch.Generator().manual_seed(3))
    reference = load_model(styled_model)[0](x)
    assert (model(x) - reference).abs().max() < 1e-4


def test_a_colour_map_with_hidden_units_exports_to_both_formats(tmp_path: Path) -> None:
    """``model.colour_hidden``: the hinges and their per-style rows travel in TorchScript and ONNX alike."""
    from fast_style.inference.standalone import OnnxModel, export_onnx, export_torchscript
    from fast_style.model_card import ModelCard
    from fast_style.nn.transformer import TransformerNet
    from fast_style.styles import StyleInfo

    torch.manual_seed(0)
    net = TransformerNet((4, 8, 8), 1, colour_hidden=8).eval()
    with torch.no_grad():
        net.colour.hidden_weight.normal_(std=0.3 / net.colour.gain)
    card = ModelCard({"channels": [4, 8, 8], "num_res_blocks": 1, "num_styles": 1, "colour_hidden": 8},
                     (StyleInfo("starry_night"),))
    x = torch.rand(1, 3, 21, 30)
    expected = net(x)
    assert (expected - x).abs().mean() > 0.01  # the residual starts at zero: the hinges alone change the photo
    scripted = torch.jit.load(str(export_torchscript(net, card, tmp_path / "net.torchscript.pt")))
    torch.testing.assert_close(scripted(x), expected, atol=1e-5, rtol=0)
    onnx_model = OnnxModel(export_onnx(net, card, tmp_path / "net.onnx"), CPU)
    torch.testing.assert_close(onnx_model(x), expected, atol=1e-4, rtol=0)
    assert onnx_model.card.network["colour_hidden"] == 8


def test_the_contrast_floor_travels_in_both_formats(tmp_path: Path) -> None:
    """``model.contrast_floor``: a low-contrast photo's strokes fade in TorchScript and ONNX as in PyTorch, per
    image of a batch."""
    from fast_style.inference.standalone import OnnxModel, export_onnx, export_torchscript
    from fast_style.model_card import ModelCard
    from fast_style.nn.transformer import TransformerNet
    from fast_style.styles import StyleInfo

    torch.manual_seed(0)
    net = TransformerNet((4, 8, 8), 1, contrast_floor=0.15).eval()
    torch.nn.init.normal_(net.out[1].weight, std=0.05)
    card = ModelCard({**net.config()}, (StyleInfo("starry_night"),))
    x = torch.rand(2, 3, 21, 30)
    x[1] = 0.4 + 0.2 * x[1]                                  # contrast about 0.06: its strokes fade
    expected = net(x)
    ungated = TransformerNet((4, 8, 8), 1).eval()
    ungated.load_state_dict(net.state_dict())
    assert torch.equal(expected[0], ungated(x)[0]) and (expected[1] - ungated(x)[1]).abs().max() > 0.01
    scripted = torch.jit.load(str(export_torchscript(net, card, tmp_path / "net.torchscript.pt")))
    torch.testing.assert_close(scripted(x), expected, atol=1e-5, rtol=0)
    onnx_model = OnnxModel(export_onnx(net, card, tmp_path / "net.onnx"), CPU)
    torch.testing.assert_close(onnx_model(x), expected, atol=1e-4, rtol=0)
    assert onnx_model.card.network["contrast_floor"] == 0.15


def test_noise_channels_travel_in_both_formats(tmp_path: Path) -> None:
    """``model.noise_channels``: TorchScript and ONNX compute the same hashed noise as PyTorch (64-bit integer
    arithmetic), so they paint the same texture, at an odd size and for a batch."""
    from fast_style.inference.standalone import OnnxModel, export_onnx, export_torchscript
    from fast_style.model_card import ModelCard
    from fast_style.nn.transformer import TransformerNet
    from fast_style.styles import StyleInfo

    torch.manual_seed(0)
    net = TransformerNet((4, 8, 8), 1, noise_channels=2, noise_std=0.3).eval()
    torch.nn.init.normal_(net.out[1].weight, std=0.05)
    card = ModelCard({**net.config()}, (StyleInfo("starry_night"),))
    x = torch.full((2, 3, 37, 53), 0.5)
    expected = net(x)
    assert expected.std() > 0.01                          # the noise paints the flat image
    scripted = torch.jit.load(str(export_torchscript(net, card, tmp_path / "net.torchscript.pt")))
    torch.testing.assert_close(scripted(x), expected, atol=1e-5, rtol=0)
    onnx_model = OnnxModel(export_onnx(net, card, tmp_path / "net.onnx"), CPU)
    torch.testing.assert_close(onnx_model(x), expected, atol=1e-4, rtol=0)
    assert onnx_model.card.network["noise_channels"] == 2
