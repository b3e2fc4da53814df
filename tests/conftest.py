"""Shared fixtures: the offline asset mirror and one tiny trained model for the whole session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ASSETS = Path(os.environ.get("FAST_STYLE_ASSETS") or REPO.parent / "shared" / "assets").resolve()
VGG_WEIGHTS = ASSETS / "weights" / "vgg16_hed_features.pth"
COCO = ASSETS / "datasets" / "coco128"


def run_script(script: str, *overrides: str, env: dict[str, str] | None = None, cwd: Path = REPO,
               timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/<script>`` with Hydra overrides from ``cwd``, offline, with the asset folder configured."""
    full_env = {**os.environ, "FAST_STYLE_ASSETS": str(ASSETS), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), *overrides], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def tiny_train_overrides(run_dir: Path, steps: int = 4) -> list[str]:
    """The training contract command: small model, 64 px, batch 2, a few steps."""
    return ["style=starry_night", f"data.root={COCO}", f"loss.weights={VGG_WEIGHTS}", "model=small",
            "data.image_size=64", "data.batch_size=2", "data.num_workers=0", f"trainer.max_steps={steps}",
            f"hydra.run.dir={run_dir}"]


@pytest.fixture(scope="session")
def assets() -> Path:
    assert ASSETS.is_dir(), f"offline assets not found at {ASSETS}; set FAST_STYLE_ASSETS"
    return ASSETS


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Path:
    """A run directory from the contract command (4 steps); holds export/starry_night.pt and checkpoints/."""
    run_dir = tmp_path_factory.mktemp("run1")
    result = run_script("train.py", *tiny_train_overrides(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="session")
def exported_model(trained_run: Path) -> Path:
    return trained_run / "export" / "starry_night.pt"


@pytest.fixture(scope="session")
def styled_model(tmp_path_factory: pytest.TempPathFactory, exported_model: Path) -> Path:
    """The trained model with its last conv set to fixed random weights: a 4-step model is nearly the
    identity, this one changes photos visibly and deterministically (same metadata, same format)."""
    import torch

    from fast_style.model_card import load_model, save_model

    net, card = load_model(exported_model)
    last = net.out[1]
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        last.weight.copy_(torch.randn(last.weight.shape, generator=generator) * 0.005 / net.output_gain)
    return save_model(tmp_path_factory.mktemp("styled") / "styled.pt", net, card)
