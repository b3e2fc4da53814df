"""Serve a site from ``export.py format=web`` locally: ``python scripts/serve.py site=site/``.

The command is fast_style/cli/serve.py (installed as ``fast-style-serve``); this file runs it from a checkout.
"""

from fast_style.cli.serve import main

if __name__ == "__main__":
    main()
