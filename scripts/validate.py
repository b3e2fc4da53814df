"""Check a trained network against L-BFGS on its own loss: ``python scripts/validate.py model=PATH input=DIR``.

The command is fast_style/cli/validate.py (installed as ``fast-style-validate``); this file runs it from a checkout.
"""

from fast_style.cli.validate import main

if __name__ == "__main__":
    main()
