"""Build a gallery: ``python scripts/gallery.py 'models=[a.pt,b.pt]' input=DIR output=gallery.jpg``.

The command is fast_style/cli/gallery.py (installed as ``fast-style-gallery``); this file runs it from a checkout.
"""

from fast_style.cli.gallery import main

if __name__ == "__main__":
    main()
