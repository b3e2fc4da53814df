"""The page in a real browser (headless Chromium driven by Playwright): a link stylises its photo as infer.py
does, the webcam mode runs live, and bad models, photos and styles end in a visible error state."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from conftest import COCO, run_script
from fast_style.inference.stylizer import Stylizer
from fast_style.io.images import find_images, read_tensor, save_image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
RUNTIME = Path(os.environ.get("FAST_STYLE_ORT_WEB", Path(__file__).resolve().parents[2] / "node_modules" / "onnxruntime-web"))
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
pytestmark = [
    pytest.mark.slow,  # a browser per module: the full suite, not the everyday tier
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (apt-get install chromium)"),
    pytest.mark.skipif(not (RUNTIME / "package.json").is_file(),
                       reason=f"no onnxruntime-web at {RUNTIME} (npm install onnxruntime-web, or FAST_STYLE_ORT_WEB)"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, styled_model: Path, assets: Path) -> Path:
    folder = tmp_path_factory.mktemp("web") / "site"
    result = run_script("export.py", "format=web", f"model={styled_model}", f"output={folder}",
                        f"web.runtime={RUNTIME}")
    assert result.returncode == 0, result.stderr[-2000:]
    photo = read_tensor(find_images(COCO)[0])[:, :96, :128]  # PNG: no resampling, no colour profile in the way
    save_image(photo, folder / "photo.png")
    (folder / "notes.png").write_text("not an image")
    return folder


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``folder`` served on a free local port in a background thread; yields its address."""
    from fast_style.web.serve import make_server

    httpd = make_server(folder, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    with serving(site) as address:
        yield address


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
        yield chromium
        chromium.close()


def final_state(page: object, url: str, wanted: str = "done") -> str:
    page.goto(url)
    page.wait_for_function(f"(s => s === '{wanted}' || s.startsWith('error'))(document.body.dataset.state)",
                           timeout=120_000)
    return page.evaluate("document.body.dataset.state")


def canvas_pixels(page: object) -> np.ndarray:
    data = page.evaluate("""() => { const c = document.getElementById('result');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""")
    height, width = page.evaluate("[document.getElementById('result').height, document.getElementById('result').width]")
    return np.array(data, dtype=np.float32).reshape(height, width, 4)[..., :3] / 255


def test_a_link_stylises_its_photo_as_infer_does(browser: object, server: str, site: Path, styled_model: Path) -> None:
    page = browser.new_page()
    assert final_state(page, f"{server}/?photo=photo.png&style=starry_night") == "done"
    assert page.evaluate("self.crossOriginIsolated") is True  # the server's headers: threads allowed
    assert "WebAssembly" in page.inner_text("#backend") or page.inner_text("#backend") == "WebGPU"
    got = canvas_pixels(page)
    photo = read_tensor(site / "photo.png")
    expected = Stylizer.from_file(styled_model, device="cpu", precision="float32")(photo[None])[0]
    expected = expected.mul(255).round().div(255).permute(1, 2, 0).numpy()
    assert got.shape == expected.shape
    assert np.abs(got - photo.permute(1, 2, 0).numpy()).mean() > 0.03  # stylised, not the photo
    assert np.abs(got - expected).mean() <= 2 / 255, np.abs(got - expected).mean()
    page.close()


def test_a_network_with_noise_channels_paints_the_same_texture_in_the_browser(
        browser: object, tmp_path_factory: pytest.TempPathFactory, styled_model: Path) -> None:
    """``model.noise_channels``: the page's onnxruntime-web computes the hashed noise in 64-bit integers as
    PyTorch does, so a flat photo gets the same texture as infer.py gives it."""
    import torch

    from dataclasses import replace

    from fast_style.model_card import load_model, save_model
    from fast_style.nn.transformer import TransformerNet

    folder = tmp_path_factory.mktemp("noise")
    torch.manual_seed(0)
    net = TransformerNet((4, 8, 8), 1, noise_channels=2, noise_std=0.3)
    torch.nn.init.normal_(net.out[1].weight, std=0.05)
    model = save_model(folder / "noisy.pt", net, replace(load_model(styled_model)[1], network=net.config()))
    result = run_script("export.py", "format=web", f"model={model}", f"output={folder / 'site'}",
                        f"web.runtime={RUNTIME}")
    assert result.returncode == 0, result.stderr[-2000:]
    photo = torch.full((3, 64, 96), 0.5)
    save_image(photo, folder / "site" / "flat.png")
    with serving(folder / "site") as address:
        page = browser.new_page()
        assert final_state(page, f"{address}/?photo=flat.png") == "done"
        got = canvas_pixels(page)
        page.close()
    expected = Stylizer.from_file(model, device="cpu", precision="float32")(photo[None])[0]
    expected = expected.mul(255).round().div(255).permute(1, 2, 0).numpy()
    assert expected.std() > 0.02  # the noise paints the flat photo; other noise would differ by about as much
    assert np.abs(got - expected).mean() <= 2 / 255, np.abs(got - expected).mean()


@pytest.mark.parametrize(("query", "message"), [
    ("?photo=notes.png", "error: photo notes.png: not an image this browser can read"),
    ("?photo=photo.png&style=monet", "error: style monet: not in this site; it holds starry_night"),
])
def test_a_bad_photo_or_style_is_a_visible_error(browser: object, server: str, query: str, message: str) -> None:
    page = browser.new_page()
    assert final_state(page, f"{server}/{query}") == message
    assert page.inner_text("#status") == message
    page.close()


def test_a_model_file_that_is_not_onnx_is_a_visible_error(browser: object, server: str, site: Path) -> None:
    model = site / "models" / "styled.onnx"
    original = model.read_bytes()
    model.write_bytes(b"not an onnx model")
    try:
        page = browser.new_page()
        state = final_state(page, f"{server}/?photo=photo.png")
        assert state.startswith("error: models/styled.onnx: not a network this page can run"), state
        page.close()
    finally:
        model.write_bytes(original)


def test_the_webcam_mode_stylises_live_frames(browser: object, server: str) -> None:
    page = browser.new_page()
    assert final_state(page, f"{server}/", wanted="ready") == "ready"
    page.click("#webcam")
    page.wait_for_function("Number(document.body.dataset.fps) > 0", timeout=120_000)
    assert float(page.evaluate("document.body.dataset.fps")) > 0
    assert page.evaluate("[document.getElementById('result').width, document.getElementById('result').height]") == [
        480, 270]
    page.close()
