"""Train a fast style network: ``python scripts/train.py style=starry_night``.

The command is fast_style/cli/train.py (installed as ``fast-style-train``); this file runs it from a checkout.
"""

from fast_style.cli.train import main

if __name__ == "__main__":
    main()
