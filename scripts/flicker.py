"""How much a network makes a film flicker: ``python scripts/flicker.py model=PATH input=clip.mp4``.

The command is fast_style/cli/flicker.py (installed as ``fast-style-flicker``); this file runs it from a checkout.
"""

from fast_style.cli.flicker import main

if __name__ == "__main__":
    main()
