"""Two CPU processes train together with Lightning DDP through scripts/train.py, as on several GPUs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fast_style.training.distributed import check_same_style_targets
from fast_style.errors import FastStyleError
from fast_style.losses.perceptual import PerceptualLoss
from fast_style.model_card import build_network, read_model_file, save_model
from fast_style.losses.vgg import VGGFeatures

from conftest import run_script, tiny_train_overrides

pytestmark = pytest.mark.slow


def test_two_process_cpu_ddp_trains_and_exports_once(tmp_path: Path, assets: Path) -> None:
    run_dir = tmp_path / "ddp"
    overrides = [o for o in tiny_train_overrides(run_dir, steps=2) if not o.startswith("data.image_size")]
    result = run_script("train.py", *overrides, "data.image_size=32", "trainer.accelerator=cpu",
                        "trainer.devices=2", "trainer.strategy=ddp", "module.preview_every=0", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    exported = run_dir / "export" / "starry_night.pt"
    assert lines[-1] == f"exported: {exported}"
    # Rank 0 alone prints, exports and logs; the style targets were compared across both ranks.
    assert sum(line.startswith("exported:") for line in lines) == 1
    assert sum(line.startswith("style: ") for line in lines) == 1
    assert sum(line.startswith("style targets identical on 2 processes") for line in lines) == 1
    assert [p.name for p in (run_dir / "export").iterdir()] == ["starry_night.pt"]
    assert len(list(run_dir.glob("**/events.out.tfevents.*"))) == 1

    # The export equals what one process exports from the same weights (those in the last checkpoint).
    card, weights = read_model_file(exported)
    checkpoint_card, checkpoint = read_model_file(run_dir / "checkpoints" / "last.ckpt")
    assert card.train["steps"] == 2
    net = build_network(checkpoint_card.network)
    net.load_state_dict(checkpoint)
    single_card, single = read_model_file(save_model(tmp_path / "single.pt", net, card))
    assert single_card == card and single.keys() == weights.keys()
    for name, tensor in single.items():
        assert torch.equal(weights[name], tensor), name
    assert any(not torch.equal(t, torch.zeros_like(t)) for t in weights.values())


def test_two_process_multi_style_training_compares_every_styles_targets(tmp_path: Path, assets: Path) -> None:
    run_dir = tmp_path / "ddp_multi"
    overrides = [o for o in tiny_train_overrides(run_dir, steps=2) if not o.startswith(("data.image_size", "style="))]
    result = run_script("train.py", *overrides, "styles=[starry_night,candy]", "data.image_size=32",
                        "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp", "module.preview_every=0",
                        timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == f"exported: {run_dir / 'export' / 'multistyle_2.pt'}"
    assert sum(line.startswith("style targets identical on 2 processes") for line in lines) == 1
    assert read_model_file(run_dir / "export" / "multistyle_2.pt")[0].names == ["starry_night", "candy"]


def _compare_targets(rank: int, store: str, same: bool, results: str) -> None:
    """One of two gloo processes: a loss whose painting is the same on both ranks, or differs on rank 1."""
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)  # the same (random) VGG on both ranks
        criterion = PerceptualLoss(VGGFeatures("vgg16", ["relu1_2", "relu2_2"]), {"relu2_2": 1.0}, {"relu1_2": 1.0})
        painting = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0 if same else rank))
        criterion.set_styles([painting])
        try:
            outcome = "same " + check_same_style_targets(criterion)
        except FastStyleError as err:
            outcome = "error " + str(err)
        Path(results, f"rank{rank}").write_text(outcome)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("same", [True, False])
def test_ranks_compare_their_style_targets(tmp_path: Path, same: bool) -> None:
    """Targets that differ between ranks stop every rank with the same one-line error, before training."""
    mp.spawn(_compare_targets, args=(str(tmp_path / "store"), same, str(tmp_path)), nprocs=2)
    outcomes = {(tmp_path / f"rank{rank}").read_text() for rank in range(2)}
    assert len(outcomes) == 1  # both ranks reach the same verdict
    (outcome,) = outcomes
    if same:
        assert outcome.startswith("same ") and len(outcome) == len("same ") + 64
    else:
        assert outcome.startswith("error style targets differ between the 2 training processes")
        assert "give every node the same style image" in outcome and "\n" not in outcome
