"""export.py format=web: the site's files, its 16-bit weights, and bad input refused in one line with nothing
half-written (no browser needed)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import onnx
import pytest
import torch

from conftest import run_script
from fast_style.inference.standalone import OnnxModel
from fast_style.model_card import load_model, save_model

RUNTIME = Path(os.environ.get("FAST_STYLE_ORT_WEB", Path(__file__).resolve().parents[2] / "node_modules" / "onnxruntime-web"))
pytestmark = [
    pytest.mark.slow,  # an ONNX export per case: the full suite, not the everyday tier
    pytest.mark.skipif(not (RUNTIME / "package.json").is_file(),
                       reason=f"no onnxruntime-web at {RUNTIME} (npm install onnxruntime-web, or FAST_STYLE_ORT_WEB)"),
]


def export(*args: str) -> object:
    return run_script("export.py", "format=web", f"web.runtime={RUNTIME}", *args)


def test_the_site_holds_page_runtime_networks_and_thumbnails(tmp_path: Path, styled_model: Path) -> None:
    site = tmp_path / "site"
    result = export(f"model={styled_model}", f"output={site}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert {"index.html", "app.js", "style.css", "site.json"} <= {p.name for p in site.iterdir()}
    assert sorted(p.name for p in (site / "ort").iterdir()) == [
        "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm", "ort.all.min.js"]
    card = json.loads((site / "site.json").read_text())
    assert card["networks"][0]["styles"] == [{"name": "starry_night", "thumbnail": "styles/styled-starry_night.jpg"}]
    assert (site / "styles" / "styled-starry_night.jpg").is_file()
    # 16-bit weights, float32 arithmetic: half the bytes of the plain export, the same output to float16 rounding
    model = site / "models" / "styled.onnx"
    weights = [t for t in onnx.load(str(model)).graph.initializer if t.dims]
    assert weights and not [t.name for t in weights if t.data_type == onnx.TensorProto.FLOAT]
    net = load_model(styled_model)[0]
    params = sum(p.numel() for p in net.parameters())
    assert model.stat().st_size < 2 * params + 200_000
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (OnnxModel(model, torch.device("cpu"))(x) - net(x)).abs().max() < 2e-3


def test_a_multi_style_file_is_one_network_with_its_styles(tmp_path: Path, styled_model: Path) -> None:
    net, card = load_model(styled_model)
    second = replace(card.style, name="second")
    model = save_model(tmp_path / "two.pt", net.add_styles(1),
                       replace(card, network={**card.network, "num_styles": 2}, styles=(card.style, second)))
    site = tmp_path / "site"
    result = export(f"models=[{model}]", f"output={site}")
    assert result.returncode == 0, result.stderr[-2000:]
    networks = json.loads((site / "site.json").read_text())["networks"]
    assert [[s["name"] for s in n["styles"]] for n in networks] == [["starry_night", "second"]]
    assert [i.name for i in onnx.load(str(site / networks[0]["file"])).graph.input] == ["image", "style"]


@pytest.mark.parametrize(("args", "message"), [
    (["models=[]", "output={out}"], "error: models=[]: give at least one model file"),
    (["model={notes}", "output={out}"], "error: models={notes}: refused, not a fast_style model file"),
    (["model={model}", "output={out}", "web.runtime={tmp}"], "error: web.runtime={tmp}: no onnxruntime-web package there"),
    (["model={model}"], "error: output=DIR is required with format=web"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, styled_model: Path, args: list[str],
                                                  message: str) -> None:
    (tmp_path / "notes.pt").write_text("not a model")
    values = {"out": tmp_path / "site", "notes": tmp_path / "notes.pt", "model": styled_model, "tmp": tmp_path}
    result = export(*(arg.format(**values) for arg in args))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(message.format(**values)), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.pt"]


def test_an_existing_folder_is_replaced_only_if_it_is_an_earlier_site(tmp_path: Path, styled_model: Path) -> None:
    taken = tmp_path / "photos"
    taken.mkdir()
    (taken / "holiday.jpg").write_bytes(b"a photo")
    result = export(f"model={styled_model}", f"output={taken}")
    assert result.returncode == 2 and "is a folder that is not an earlier site" in result.stderr
    assert sorted(p.name for p in taken.iterdir()) == ["holiday.jpg"]
    site = tmp_path / "site"
    assert export(f"model={styled_model}", f"output={site}").returncode == 0
    again = export(f"model={styled_model}", f"output={site}")
    assert again.returncode == 2 and "holds an earlier site; give overwrite=true" in again.stderr
    assert export(f"model={styled_model}", f"output={site}", "overwrite=true").returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "site"]  # no temporary folder left
