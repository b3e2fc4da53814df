"""The web page's speed in headless Chromium: milliseconds per webcam frame and per photo for each network,
WebAssembly with threads (served cross-origin isolated, as ``scripts/serve.py`` does) and with one thread (served
as a plain static host does), and what a visitor downloads.

``python scripts/benchmark.py bench=web`` exports a site of networks with fixed random weights (speed does not
depend on the weights), opens it once per server and times the page's own ``stylise`` (the photo to tensor, the
network, strength and colours, the canvas) on a picture of each size, after a warm-up.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bench.measure import model_config, random_model_file
from fast_style.errors import FastStyleError
from fast_style.styles import StyleInfo, load_style

# In the page: a noise picture of each size through stylise(), `warmup` untimed runs then `runs` timed ones.
TIME_SIZES = """async ([network, sizes, warmup]) => {
  selectStyle(network, 0);
  const times = [];
  for (const [width, height, runs] of sizes) {
    const canvas = Object.assign(document.createElement("canvas"), { width, height });
    const context = canvas.getContext("2d");
    const picture = context.createImageData(width, height);
    for (let i = 0; i < picture.data.length; i++) picture.data[i] = i % 4 === 3 ? 255 : (i * 2654435761) >>> 24;
    context.putImageData(picture, 0, 0);
    const ms = [];
    for (let i = 0; i < warmup + runs; i++) {
      const began = performance.now();
      await stylise(canvas);
      if (i >= warmup) ms.push(performance.now() - began);
    }
    times.push(ms);
  }
  return { times, backend: document.getElementById("backend").textContent };
}"""


@contextmanager
def _serving(site: Path, isolated: bool) -> Iterator[str]:
    from fast_style.web.serve import make_server

    httpd = make_server(site, "127.0.0.1", 0, isolated)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise FastStyleError("bench=web needs Chromium: apt-get install chromium")
    return path


def measure_web(cfg: DictConfig) -> dict[str, Any]:
    """Per network and thread setting: the median ms per picture of each size in ``bench.web``, and the bytes of
    each network's file and of the runtime."""
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        raise FastStyleError("bench=web drives Chromium with Playwright: pip install playwright") from None
    from fast_style.web.site import export_site

    spec = cfg.bench.web
    runtime = os.environ.get("FAST_STYLE_ORT_WEB", str(spec.runtime))
    sizes = [(int(w), int(h), int(spec.runs)) for w, h in spec.frames] + \
        [(int(w), int(h), int(spec.photo_runs)) for w, h in spec.photos]
    _, info = load_style(cfg.style, cfg.assets_dir)
    style = StyleInfo(**{k: info[k] for k in ("name", "file", "sha256", "size", "url")})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = [random_model_file(root / f"{name}.pt", model_config(name), style) for name in spec.networks]
        site = export_site(models, root / "site", runtime, assets_dir=cfg.assets_dir)
        runtime_bytes = sum(f.stat().st_size for f in (site / "ort").iterdir())
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
            for isolated in (True, False):
                with _serving(site, isolated) as url:
                    page = browser.new_page()
                    page.goto(url)
                    page.wait_for_function("(s => s === 'ready' || s.startsWith('error'))(document.body.dataset.state)",
                                           timeout=120_000)
                    for index, name in enumerate(spec.networks):
                        got = page.evaluate(TIME_SIZES, [index, sizes, int(spec.warmup)])
                        rows += [{"network": name, "backend": got["backend"], "width": w, "height": h,
                                  "runs": len(ms), "ms": statistics.median(ms), "min_ms": min(ms)}
                                 for (w, h, _), ms in zip(sizes, got["times"])]
                    page.close()
            browser.close()
        downloads = {name: (site / "models" / f"{name}.onnx").stat().st_size for name in spec.networks}
    return {"browser": "headless Chromium", "rows": rows, "network_bytes": downloads, "runtime_bytes": runtime_bytes}


def format_web(report: Mapping[str, Any]) -> str:
    """The web case as a table: ms and frames/s per network, backend and picture size; the download sizes."""
    lines = ["web (the page in headless Chromium, median of the timed runs):",
             f"  {'network':<8} {'backend':<36} {'picture':>9} {'ms':>8} {'frames/s':>8}"]
    for r in report["rows"]:
        lines.append(f"  {r['network']:<8} {r['backend']:<36} {r['width']:>4}x{r['height']:<4} {r['ms']:>8.0f} "
                     f"{1000 / r['ms']:>8.1f}")
    sizes = ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in report["network_bytes"].items())
    lines.append(f"  download: {sizes}; runtime {report['runtime_bytes'] / 1e6:.1f} MB once")
    return "\n".join(lines)
