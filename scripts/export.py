"""Write a standalone model: ``python scripts/export.py model=PATH format=torchscript|onnx``.

The command is fast_style/cli/export.py (installed as ``fast-style-export``); this file runs it from a checkout.
"""

from fast_style.cli.export import main

if __name__ == "__main__":
    main()
