"""The benchmark (scripts/benchmark.py, scripts/bench/measure.py) runs end to end at tiny sizes and reports every
figure; its baseline is the same loss."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import benchmark
from bench.measure import CONFIGS, TextbookLoss, cases, classic_stylize, format_table, ratios, styled_transformer
from fast_style.config import compose_config
from fast_style.errors import FastStyleError
from fast_style.io.images import find_images, read_tensor, save_image
from fast_style.inference.stylizer import Stylizer
from fast_style.losses.perceptual import PerceptualLoss, TermWeights
from fast_style.losses.vgg import VGGFeatures

from conftest import COCO, VGG_WEIGHTS, run_script


@pytest.mark.slow
def test_quick_benchmark_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = run_script("benchmark.py", "bench=quick", "bench.infer.sizes=[32]", "bench.infer.batch_size=1",
                        f"loss.weights={VGG_WEIGHTS}", f"data_root={COCO}", f"hydra.run.dir={tmp_path}", f"output={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == f"wrote: {out}"
    report = json.loads(out.read_text())
    assert report["machine"]["cpu"] and report["machine"]["device"] == "cpu"
    kinds = {(r["kind"], r["variant"]) for r in report["results"]}
    assert kinds == {(k, v) for k in ("train", "infer", "optimize", "data") for v in ("baseline", "ours")} | {
        ("video", "ours")}
    for r in report["results"]:
        assert r["items_per_s"] > 0 and r["ms_per_item"] > 0 and r["peak_memory_mb"] > 0, r
        assert r["model_name"] == ("-" if r["kind"] == "data" else "small")
        assert r["size"] == ("64x36" if r["kind"] == "video" else 32)
    assert {r["kind"] for r in report["ratios"]} == {"train", "infer", "optimize", "data"}
    assert all(r["speedup"] > 0 for r in report["ratios"])
    assert "x base" in result.stdout
    folder = report["folder"]  # the first 2 photos of data_root through infer.py, the classic loop, the forward pass
    assert (folder["model_name"], folder["photos"]) == ("small", 2)
    for key in ("classic_loop_s", "classic_process_s", "forward_s", "infer_wall_s", "infer_loop_images_per_s",
                "whole_vs_classic_process", "whole_vs_classic_loop", "forward_vs_infer_loop"):
        assert folder[key] > 0, key
    assert "target >= 3x" in result.stdout and "target <= 1.3" in result.stdout
    startup = report["startup"]  # infer.py on one photo, whole process
    assert startup["photo"] == "64x48" and startup["runs"] == 1 and startup["wall_s"] > 0
    assert startup["peak_memory_mb"] > 50 and "startup  small: infer.py on one 64x48 photo" in result.stdout


def test_unknown_model_is_named_and_exits_2(tmp_path: Path) -> None:
    result = run_script("benchmark.py", "bench=quick", "bench.models=[tiny]", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: bench.models: unknown model 'tiny'")
    assert list(tmp_path.iterdir()) == []  # no benchmark.json, nor Hydra's .hydra/ and log, nor the run folder


def test_output_that_cannot_be_written_is_refused_before_measuring(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("kept")
    cfg = compose_config("benchmark", ["bench=quick", f"output={tmp_path / 'a_file' / 'benchmark.json'}"], CONFIGS)
    with pytest.raises(FastStyleError, match=r"^output=.*a_file/benchmark\.json: .*a_file is a file, not a folder"):
        benchmark.run(cfg)
    assert [p.name for p in tmp_path.iterdir()] == ["a_file"] and (tmp_path / "a_file").read_text() == "kept"


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_photo_folder_without_images_is_named(tmp_path: Path, make: str) -> None:
    photos = tmp_path / "photos"
    if make == "empty":
        photos.mkdir()
    cfg = compose_config("benchmark", ["bench=quick", f"data_root={photos}"], CONFIGS)
    with pytest.raises(FastStyleError, match=re.escape(f"data_root={photos}: no images there; point it at a folder")):
        cases(cfg)


def test_cases_pair_each_measurement_with_its_baseline() -> None:
    cfg = compose_config("benchmark", ["bench=quick", f"data_root={COCO}"], CONFIGS)
    todo = cases(cfg)
    assert [(c["kind"], c["variant"]) for c in todo[:2]] == [("train", "baseline"), ("train", "ours")]
    assert {c["kind"] for c in todo} == {"train", "infer", "optimize", "data", "video"}
    assert all(c["model"]["channels"] == [16, 32, 64] for c in todo if c["kind"] != "data")
    # Films have no textbook counterpart: ours only, WIDTHxHEIGHT, the frame count as the batch.
    assert [(c["variant"], c["size"], c["batch_size"]) for c in todo if c["kind"] == "video"] == [("ours", "64x36", 4)]
    assert len(cases(compose_config("benchmark", ["bench=quick", "baseline=false", "data_root=null"], CONFIGS))) == 7
    assert cases(compose_config("benchmark", ["bench=folder", f"data_root={COCO}"], CONFIGS)) == []  # the folder case alone


def test_textbook_baseline_computes_the_same_loss() -> None:
    """The baseline differs only in how VGG is scheduled (full depth over the input too), not in the loss."""
    torch.manual_seed(0)
    content, style = {"relu2_2": 1.0}, {"relu1_2": 1.0, "relu2_2": 1.0, "relu3_3": 1.0}
    criterion = PerceptualLoss(VGGFeatures("vgg16", [*content, *style]), content, style, [TermWeights(1.0, 5.0, 0.1)])
    criterion.set_styles([torch.rand(1, 3, 40, 40)])
    output, photo = torch.rand(2, 3, 32, 32, requires_grad=True), torch.rand(2, 3, 32, 32)
    ours, textbook = criterion(output, photo), TextbookLoss(criterion)(output, photo)
    for name in ("content", "style", "tv", "total"):
        torch.testing.assert_close(textbook[name], ours[name])
    assert ours["total"] > 0


def test_ratio_pairs_each_case_with_its_baseline() -> None:
    row = {"kind": "infer", "model_name": "small", "size": 64, "batch_size": 1, "precision": "float32",
           "ms_per_item": 1.0, "peak_memory_mb": 10.0}
    results = [{**row, "variant": "baseline", "items_per_s": 2.0},
               {**row, "variant": "ours", "items_per_s": 5.0, "peak_memory_mb": 5.0},
               {**row, "size": 128, "variant": "ours", "items_per_s": 1.0}]  # no baseline: no ratio
    assert ratios(results) == [{"kind": "infer", "model_name": "small", "size": 64, "batch_size": 1,
                                "speedup": 2.5, "memory_ratio": 0.5}]
    assert "2.50x" in format_table(results)


def test_classic_loop_writes_each_photo_stylised_under_its_name(tmp_path: Path) -> None:
    net = styled_transformer({"channels": [8, 16, 32], "num_res_blocks": 1}).eval()
    photos = []
    for i, size in enumerate([(40, 30), (27, 35)]):  # PNG in, PNG out: no JPEG loss in the comparison
        photos.append(tmp_path / f"p{i}.png")
        save_image(read_tensor(find_images(COCO)[i])[:, :size[1], :size[0]], photos[-1])
    classic_stylize(net, photos, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png"]
    for path in photos:
        ours = Stylizer(net, torch.device("cpu"))(read_tensor(path)[None])[0]
        classic = read_tensor(tmp_path / "out" / path.name)
        assert classic.shape == ours.shape and (classic - ours).abs().max() <= 1.01 / 255  # truncated to 8 bits
