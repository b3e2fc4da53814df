"""The package as users get it: the docstring's three lines stylise a photo, commands import only what they use,
and a plain (non-editable) install runs from any folder with the configs it ships."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fast_style
from fast_style.io.images import find_images, read_tensor

from conftest import COCO, REPO

TRAINING_ONLY = ("torchvision", "pytorch_lightning", "lightning_fabric", "tensorboard", "torch.utils.tensorboard")


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


def imported(code: str) -> list[str]:
    """The training-only libraries a fresh interpreter has imported after ``code``."""
    probe = f"{code}; import sys; print([m for m in {TRAINING_ONLY!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return eval(result.stdout.strip().splitlines()[-1])


def test_importing_the_network_does_not_load_training_or_config_libraries() -> None:
    assert imported("import fast_style.nn.transformer; import sys; assert 'hydra' not in sys.modules") == []


def test_importing_the_inference_package_and_the_infer_command_loads_no_training_library() -> None:
    assert imported("import fast_style.inference.stylizer, fast_style.cli.infer, fast_style.cli.export") == []


def test_infer_runs_without_torchvision_or_lightning(styled_model: Path, tmp_path: Path) -> None:
    """infer.py's start-up imports only what inference uses: torchvision alone would add over a second."""
    code = textwrap.dedent(f"""
        import sys
        from fast_style.cli.infer import infer
        from fast_style.config import MODEL_SCRIPTS_DIR, compose_config
        cfg = compose_config("infer", ["model={styled_model}", "input={find_images(COCO)[0]}", "output={tmp_path}",
                                       "device=cpu", "progress=false"], MODEL_SCRIPTS_DIR)
        status = infer(cfg)
        print(status, [m for m in {TRAINING_ONLY!r} if m in sys.modules])
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "0 []"
    assert (tmp_path / find_images(COCO)[0].name).is_file()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install .`` (a wheel built from a copy of the checkout, not an editable install) into a folder of its
    own; the dependencies are this environment's."""
    source, target = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("site")
    shutil.copytree(REPO, source, dirs_exist_ok=True, symlinks=True,
                    ignore=shutil.ignore_patterns(".venv", ".git", "outputs", "tests", "*.egg-info", "build", "node_modules"))
    result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                             "--target", str(target), str(source)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return target


def test_a_plain_install_stylises_a_photo_from_any_folder(installed: Path, styled_model: Path,
                                                          tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    where = subprocess.run([sys.executable, "-c", "import fast_style; print(fast_style.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=120)
    assert where.stdout.strip() == str(installed / "fast_style" / "__init__.py")  # not the checkout's
    photo = find_images(COCO)[0]
    result = subprocess.run([str(installed / "bin" / "fast-style-infer"), f"model={styled_model}", f"input={photo}",
                             "output=out", "progress=false"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "stylized 1, skipped 0" in result.stdout
    assert (read_tensor(tmp_path / "out" / photo.name) - read_tensor(photo)).abs().mean() > 0.03
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    for command in ("train", "export", "optimize", "validate", "gallery", "flicker"):
        assert (installed / "bin" / f"fast-style-{command}").is_file(), command
    configs = REPO / "fast_style" / "configs"   # every config ships, the zoo's recipes (experiment/zoo/) included
    shipped = installed / "fast_style" / "configs"
    assert {p.relative_to(shipped) for p in shipped.rglob("*.yaml")} == {p.relative_to(configs)
                                                                         for p in configs.rglob("*.yaml")}
