"""Serve a site from ``export.py format=web`` locally: ``python scripts/serve.py site=site/ [port=8000]``.

Prints the address to open; Ctrl-C stops it.
"""

from __future__ import annotations

from omegaconf import DictConfig

from fast_style.config import MODEL_SCRIPTS_DIR, command, run_or_exit
from fast_style.settings import flag, whole


def serve(cfg: DictConfig) -> None:
    from fast_style.web.serve import make_server

    isolated = flag("isolated", cfg.isolated)
    server = make_server(cfg.site, str(cfg.host), whole("port", cfg.port, 0, 65535), isolated)
    host, port = server.server_address[:2]
    how = "cross-origin isolated: multi-threaded WebAssembly" if isolated else "as a plain static host: one thread"
    print(f"serving {cfg.site} at http://{host}:{port}/ ({how}); Ctrl-C stops it", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@command(MODEL_SCRIPTS_DIR, "serve")
def main(cfg: DictConfig) -> None:
    run_or_exit(serve, cfg)


if __name__ == "__main__":
    main()
