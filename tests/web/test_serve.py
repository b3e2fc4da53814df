"""scripts/serve.py's server: the cross-origin isolation headers (threads in the page), or none, as a plain
static host (the web benchmark's one-thread case)."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import pytest

from fast_style.errors import FastStyleError
from fast_style.web.serve import make_server
from fast_style.web.site import MARKER


@pytest.mark.parametrize("isolated", [True, False])
def test_the_isolation_headers_are_sent_only_when_asked(tmp_path: Path, isolated: bool) -> None:
    (tmp_path / MARKER).write_text("{}")
    (tmp_path / "app.wasm").write_bytes(b"\0asm")
    httpd = make_server(tmp_path, "127.0.0.1", 0, isolated)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{httpd.server_address[1]}/app.wasm") as response:
            headers = response.headers
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert headers["Content-Type"] == "application/wasm"
    assert (headers["Cross-Origin-Opener-Policy"] == "same-origin") is isolated
    assert (headers["Cross-Origin-Embedder-Policy"] == "require-corp") is isolated


def test_a_folder_that_is_not_a_site_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FastStyleError, match="not a site from export.py format=web"):
        make_server(tmp_path, "127.0.0.1", 0)
