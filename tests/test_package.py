"""The public API: the package docstring's three lines stylise a photo; importing one module stays light."""

from __future__ import annotations

import subprocess
import textwrap
import sys
from pathlib import Path

import fast_style
from fast_style.image_io import find_images, read_tensor

from conftest import COCO, REPO


def test_the_three_line_snippet_stylises_a_photo(styled_model: Path, tmp_path: Path) -> None:
    snippet = textwrap.dedent(fast_style.__doc__.split("::")[1].split("\n\n")[1])
    assert len(snippet.strip().splitlines()) == 3
    photo, output = find_images(COCO)[0], tmp_path / "photo_starry.png"
    code = snippet.replace('"starry_night.pt"', repr(str(styled_model))).replace('"photo.jpg"', repr(str(photo)))
    exec(code.replace('"photo_starry.png"', repr(str(output))), {})
    original, stylised = read_tensor(photo), read_tensor(output)
    assert stylised.shape == original.shape and (stylised - original).abs().mean() > 0.03


def test_public_names_resolve() -> None:
    assert set(fast_style.__all__) <= set(dir(fast_style))
    for name in fast_style.__all__:
        assert getattr(fast_style, name).__name__ == name
    assert callable(fast_style.optimize)  # the function, not its module of the same name


def test_importing_the_network_does_not_load_training_or_config_libraries() -> None:
    code = ("import sys, fast_style.transformer; "
            "print([m for m in ('torchvision', 'pytorch_lightning', 'hydra') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_infer_runs_without_torchvision_or_lightning(styled_model: Path, tmp_path: Path) -> None:
    """infer.py's start-up imports only what inference uses: torchvision alone would add over a second."""
    code = textwrap.dedent(f"""
        import runpy, sys
        from fast_style.config import MODEL_SCRIPTS_DIR, compose_config
        infer = runpy.run_path({str(REPO / "scripts" / "infer.py")!r}, run_name="infer")["infer"]
        cfg = compose_config("infer", ["model={styled_model}", "input={find_images(COCO)[0]}", "output={tmp_path}",
                                       "device=cpu", "progress=false"], MODEL_SCRIPTS_DIR)
        status = infer(cfg)
        print(status, [m for m in ("torchvision", "pytorch_lightning") if m in sys.modules])
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "0 []"
    assert (tmp_path / find_images(COCO)[0].name).is_file()
