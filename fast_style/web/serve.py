"""A local static server for a site from ``export.py format=web``, with the two headers that make a page
cross-origin isolated (``Cross-Origin-Opener-Policy: same-origin``, ``Cross-Origin-Embedder-Policy:
require-corp``), without which browsers give WebAssembly one thread. A plain static host serves the same files;
the page then runs single-threaded WebAssembly (or WebGPU), and says which."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from fast_style.errors import FastStyleError
from fast_style.web.site import MARKER


class StaticHandler(SimpleHTTPRequestHandler):
    """Static files with the MIME types the runtime needs, as a plain static host serves them."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript", ".wasm": "application/wasm",
                      ".onnx": "application/octet-stream"}

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: one line per file would bury the address


class IsolatedHandler(StaticHandler):
    """Static files with the cross-origin isolation headers as well."""

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()


def make_server(site: str | Path, host: str = "127.0.0.1", port: int = 8000, isolated: bool = True
                ) -> ThreadingHTTPServer:
    """The server for the site folder ``site`` (not yet serving: call ``serve_forever``); ``isolated=False``
    leaves the isolation headers out, as a plain static host does (the page then runs one thread)."""
    folder = Path(str(site)).expanduser()
    if not (folder / MARKER).is_file():
        raise FastStyleError(f"site={site}: not a site from export.py format=web (no {MARKER}); export one first")
    try:
        return ThreadingHTTPServer((host, port), functools.partial(IsolatedHandler if isolated else StaticHandler,
                                                                 directory=str(folder)))
    except OSError as err:
        raise FastStyleError(f"port={port}: cannot serve on {host}:{port} ({err.strerror or err}); give another "
                             "port=") from err
