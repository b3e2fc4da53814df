"""The model zoo: networks by name, stored small, each with its card and validation summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from conftest import COCO, run_script
from fast_style import zoo
from fast_style.io.images import find_images, read_tensor
from fast_style.inference.stylizer import Stylizer
from fast_style.model_card import load_model


@pytest.fixture(scope="module")
def validation(tmp_path_factory: pytest.TempPathFactory, styled_model: Path) -> Path:
    """validate.py's report on the styled model, on one photo, L-BFGS for two iterations."""
    out = tmp_path_factory.mktemp("validation")
    photo = out / "photos" / find_images(COCO)[0].name
    photo.parent.mkdir()
    shutil.copy(find_images(COCO)[0], photo)
    result = run_script("validate.py", f"model={styled_model}", f"input={photo.parent}", f"output={out / 'report'}",
                        "optim.steps=2", "image_size=48", "style_distance=false")
    assert result.returncode == 0, result.stderr[-2000:]
    return out / "report" / "report.json"


@pytest.fixture(scope="module")
def own_zoo(tmp_path_factory: pytest.TempPathFactory, styled_model: Path, validation: Path) -> Path:
    folder = tmp_path_factory.mktemp("zoo")
    result = run_script("export.py", "format=zoo", f"model={styled_model}", f"validation={validation}",
                        f"output={folder}", "name=starry_test")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "infer.py model=starry_test" in result.stdout
    return folder


def test_a_zoo_network_is_small_and_carries_its_card_and_validation(own_zoo: Path, styled_model: Path,
                                                                     validation: Path) -> None:
    file = own_zoo / "starry_test.pt"
    raw = torch.load(file, weights_only=True)
    assert {v.dtype for v in raw["state_dict"].values() if v.is_floating_point()} == {torch.float16}
    assert file.stat().st_size < 0.6 * styled_model.stat().st_size
    net, card = load_model(file)
    original, original_card = load_model(styled_model)
    assert card.style.sha256 == original_card.style.sha256 and card.vgg == original_card.vgg
    assert card.train["command"] == original_card.train["command"]
    summary = json.loads(validation.read_text())["summary"]
    assert card.validation["lbfgs_iterations_to_match"] == summary["lbfgs_iterations_to_match"]
    heading, _, body = (own_zoo / "starry_test.md").read_text().partition("\n")
    assert heading == "# Validation of the zoo's `starry_test`"
    assert body == validation.with_name("report.md").read_text().partition("\n")[2]
    photo = torch.rand(1, 3, 32, 48)
    with torch.inference_mode():
        assert (net(photo) - original(photo)).abs().max() < 1e-2   # 16-bit weights, float32 arithmetic


def test_infer_resolves_a_zoo_name_and_lists_the_zoo(own_zoo: Path, validation: Path, tmp_path: Path,
                                                    monkeypatch) -> None:
    env = {"FAST_STYLE_ZOO": str(own_zoo)}
    photo = find_images(COCO)[0]
    out = tmp_path / "out.jpg"
    result = run_script("infer.py", "model=starry_test", f"input={photo}", f"output={out}", "max_size=64", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.is_file() and "model: starry_test" in result.stdout
    listing = run_script("infer.py", "model=list", env=env)
    assert listing.returncode == 0 and listing.stdout.startswith("starry_test: starry_night;")
    summary = json.loads(validation.read_text())["summary"]
    assert f"validation: L-BFGS iterations to match {summary['lbfgs_iterations_to_match']:.3g}, " in listing.stdout
    assert f"blown out {summary['blown_out']:.2%}, photos 1" in listing.stdout   # a share, as a percentage
    monkeypatch.setenv("FAST_STYLE_ZOO", str(own_zoo))
    stylizer = Stylizer.from_file("starry_test", device="cpu", precision="float32")
    assert stylizer(read_tensor(photo, max_size=48)[None]).shape[1] == 3


def test_an_unknown_name_lists_the_zoo(own_zoo: Path, tmp_path: Path) -> None:
    photo = find_images(COCO)[0]
    result = run_script("infer.py", "model=no_such_name", f"input={photo}", f"output={tmp_path / 'o.jpg'}",
                        env={"FAST_STYLE_ZOO": str(own_zoo)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: model=no_such_name: no such file, and the zoo holds no network of that name (it holds: starry_test); "
        "give a model file or a zoo name (infer.py model=list lists them)"]
    assert not (tmp_path / "o.jpg").exists()


@pytest.mark.parametrize(("overrides", "message"), [
    ([], "validation=PATH is required with format=zoo"),
    (["validation=missing.json"], "validation=missing.json: not a report.json of validate.py"),
])
def test_bad_zoo_exports_write_nothing(styled_model: Path, tmp_path: Path, overrides: list[str], message: str) -> None:
    result = run_script("export.py", "format=zoo", f"model={styled_model}", f"output={tmp_path}", *overrides,
                        cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {message}"), result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_zoo_network_is_kept_without_overwrite(own_zoo: Path, styled_model: Path, validation: Path) -> None:
    before = (own_zoo / "starry_test.pt").read_bytes()
    result = run_script("export.py", "format=zoo", f"model={styled_model}", f"validation={validation}",
                        f"output={own_zoo}", "name=starry_test")
    assert result.returncode == 2 and "holds starry_test already; give overwrite=true" in result.stderr
    assert (own_zoo / "starry_test.pt").read_bytes() == before


@pytest.mark.parametrize("name", zoo.names())
def test_every_shipped_network_loads_safely_with_its_card(name: str) -> None:
    file = zoo.zoo_dir() / f"{name}.pt"
    raw = torch.load(file, weights_only=True)
    net, card = load_model(name)
    assert card.style.sha256 and card.vgg and card.train.get("command")
    assert card.validation.get("lbfgs_iterations_to_match") is not None or card.validation.get("images")
    assert (file.with_suffix(".md")).is_file()
    assert raw["state_dict"] and net(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_a_report_of_another_style_is_refused(styled_model: Path, validation: Path, tmp_path: Path) -> None:
    report = json.loads(validation.read_text())
    report["style"]["sha256"] = "0" * 64
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "report.json").write_text(json.dumps(report))
    (tmp_path / "val" / "report.md").write_text("# another style")
    result = run_script("export.py", "format=zoo", f"model={styled_model}", f"validation={tmp_path / 'val' / 'report.json'}",
                        f"output={tmp_path / 'zoo'}")
    assert result.returncode == 2 and "that report is of another style" in result.stderr
    assert not (tmp_path / "zoo").exists()
