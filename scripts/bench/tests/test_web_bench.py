"""bench=web: the page timed in headless Chromium, at tiny sizes (proves it runs; no figure is asserted)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import REPO, run_script

RUNTIME = Path(os.environ.get("FAST_STYLE_ORT_WEB", REPO / "node_modules" / "onnxruntime-web"))


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("chromium"), reason="no Chromium here (apt-get install chromium)")
@pytest.mark.skipif(not (RUNTIME / "package.json").is_file(), reason=f"no onnxruntime-web at {RUNTIME}")
def test_the_web_case_times_each_network_picture_and_thread_setting(tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    out = tmp_path / "bench.json"
    result = run_script("benchmark.py", "bench=web", "bench.web.networks=[small]", "bench.web.frames=[[32,24]]",
                        "bench.web.photos=[[40,32]]", "bench.web.runs=2", "bench.web.photo_runs=1",
                        "bench.web.warmup=0", f"bench.web.runtime={RUNTIME}", f"output={out}",
                        f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    web = json.loads(out.read_text())["web"]
    assert len(web["rows"]) == 4                       # 2 pictures x (cross-origin isolated, plain host)
    isolated, plain = web["rows"][:2], web["rows"][2:]
    assert all(r["backend"] == "WebAssembly (SIMD, 1 thread)" for r in plain)   # no isolation: one thread
    assert [(r["width"], r["height"], r["runs"]) for r in isolated] == [(32, 24, 2), (40, 32, 1)]
    assert all(r["ms"] > 0 for r in web["rows"])
    assert web["network_bytes"]["small"] > 0 and web["runtime_bytes"] > 1e6
    assert "web (the page in headless Chromium" in result.stdout
