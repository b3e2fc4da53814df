"""Stylise photos, folders and films: ``python scripts/infer.py model=PATH input=DIR output=OUT``.

The command is fast_style/cli/infer.py (installed as ``fast-style-infer``); this file runs it from a checkout.
"""

from fast_style.cli.infer import main

if __name__ == "__main__":
    main()
