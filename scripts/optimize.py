"""Classic style transfer by pixel optimisation: ``python scripts/optimize.py content=photo.jpg``.

The command is fast_style/cli/optimize.py (installed as ``fast-style-optimize``); this file runs it from a checkout.
"""

from fast_style.cli.optimize import main

if __name__ == "__main__":
    main()
