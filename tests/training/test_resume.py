"""A run never loses its progress: failed reruns, full disks, broken and foreign checkpoints."""

from __future__ import annotations

import errno
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from fast_style.model_card import ModelCard
from fast_style.styles import StyleInfo
from fast_style.training.checkpoints import (AtomicCheckpointIO, ProgressCheckpoint, check_continues, find_resume,
                                             read_checkpoint)
from fast_style.errors import FastStyleError



@pytest.fixture()
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A copy of the 4-step run folder, free to break."""
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def test_checkpoint_write_that_fails_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 1}, target)

    def disk_full(obj: object, path: Path) -> None:
        Path(path).write_bytes(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(FastStyleError, match=r"cannot write checkpoint .*last\.ckpt \(No space left on device\)"):
        AtomicCheckpointIO().save_checkpoint({"global_step": 2}, target)
    assert torch.load(target, weights_only=True) == {"global_step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_truncated_and_empty_checkpoints_are_skipped_for_the_newest_good_one(run_copy: Path, caplog) -> None:
    checkpoints = run_copy / "checkpoints"
    shutil.copy(checkpoints / "last.ckpt", checkpoints / "step_0000004.ckpt")
    shutil.copy(checkpoints / "last.ckpt", checkpoints / "step_0000002.ckpt")
    data = (checkpoints / "last.ckpt").read_bytes()
    (checkpoints / "last.ckpt").write_bytes(data[: len(data) // 2])
    (checkpoints / "interrupted.ckpt").write_bytes(b"")
    path, saved = find_resume(checkpoints, None)
    assert path == checkpoints / "step_0000004.ckpt" and saved["global_step"] == 4
    assert "last.ckpt" in caplog.text and "interrupted.ckpt: cannot be read" in caplog.text


def test_the_furthest_of_last_and_interrupted_wins(run_copy: Path, tmp_path: Path) -> None:
    """A step-0 interrupted.ckpt newer than last.ckpt (what failed reruns used to leave) is not picked."""
    checkpoints = run_copy / "checkpoints"
    stale = torch.load(checkpoints / "last.ckpt", weights_only=True)
    stale["global_step"] = 0
    torch.save(stale, checkpoints / "interrupted.ckpt")
    assert find_resume(checkpoints, None)[0] == checkpoints / "last.ckpt"
    assert find_resume(tmp_path / "fresh" / "checkpoints", None) == (None, None)


@pytest.mark.parametrize(("make", "message"), [
    (lambda p, run: p.write_bytes(b""), r"cannot be read as a training checkpoint \(empty or cut short\)"),
    (lambda p, run: p.write_bytes((run / "checkpoints" / "last.ckpt").read_bytes()[:5000]), "cannot be read"),
    (lambda p, run: p.write_text("not a checkpoint"), "cannot be read as a training checkpoint"),
    (lambda p, run: torch.save({"weights": torch.zeros(2)}, p), "not a fast_style training checkpoint"),
    (lambda p, run: shutil.copy(run / "export" / "starry_night.pt", p), "an exported model, not a training"),
])
def test_resume_from_a_file_that_is_no_checkpoint_is_one_error(run_copy: Path, tmp_path: Path, make, message: str
                                                              ) -> None:
    bad = tmp_path / "bad.ckpt"
    make(bad, run_copy)
    with pytest.raises(FastStyleError, match=rf"^resume={bad}: {message}"):
        find_resume(run_copy / "checkpoints", str(bad))
    with pytest.raises(FastStyleError, match="checkpoint not found"):
        find_resume(run_copy / "checkpoints", str(tmp_path / "missing.ckpt"))


@pytest.mark.parametrize(("change", "message"), [
    ({"styles": (StyleInfo("candy", "candy.jpg", "1af09b2c18a6" + "0" * 52),)},
     r"another style starry_night .* \(now candy \(candy\.jpg"),
    ({"vgg": {"file": "vgg16-397923af.pth", "sha256": "397923af8e79" + "0" * 52}},
     r"another VGG weights vgg16_hed_features\.pth .* \(now vgg16-397923af\.pth"),
    ({"network": {"channels": [32, 64, 128], "num_res_blocks": 5, "num_styles": 1}},
     r"another model .*'num_res_blocks': 3"),
])
def test_continuing_with_another_style_vgg_or_model_is_refused(run_copy: Path, change: dict, message: str) -> None:
    path = run_copy / "checkpoints" / "last.ckpt"
    saved = read_checkpoint(path, str(path))
    card = ModelCard.from_dict(saved["fast_style"])
    check_continues(path, saved, card)  # the run's own settings continue
    with pytest.raises(FastStyleError, match=rf"{message}.*start fresh in a new hydra\.run\.dir"):
        check_continues(path, saved, replace(card, **change))


def test_a_checkpoint_of_an_earlier_version_is_refused_and_says_how_to_keep_its_network() -> None:
    path = Path(__file__).parent.parent / "fixtures" / "v2_single.ckpt"
    saved = read_checkpoint(path, str(path))
    card = ModelCard.from_dict(saved["fast_style"])
    with pytest.raises(FastStyleError, match=r"written by an earlier fast_style \(fast_style/2, now fast_style/3\).*"
                                             r"fine-tune it with init=<checkpoint>"):
        check_continues(path, saved, replace(card, format="fast_style/3"))


class _Tiny(pl.LightningModule):
    """One linear layer; ``fail_in`` names the hook that raises."""

    def __init__(self, fail_in: str) -> None:
        super().__init__()
        self.layer, self.fail_in = torch.nn.Linear(2, 1), fail_in

    def setup(self, stage: str) -> None:
        if self.fail_in == "setup":
            raise RuntimeError("before the restore")

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.fail_in == "training_step" and self.global_step == 1:
            raise RuntimeError("during training")
        return self.layer(batch[0]).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.rand(8, 2)), batch_size=2)


@pytest.mark.parametrize(("fail_in", "saved"), [("setup", False), ("training_step", True)])
def test_interrupted_checkpoint_only_once_training_has_started(tmp_path: Path, fail_in: str, saved: bool) -> None:
    trainer = pl.Trainer(max_steps=3, callbacks=[ProgressCheckpoint(tmp_path)], logger=False, enable_progress_bar=False,
                         default_root_dir=tmp_path / "root",
                         enable_model_summary=False, accelerator="cpu")
    with pytest.raises(RuntimeError):
        trainer.fit(_Tiny(fail_in))
    assert (tmp_path / "interrupted.ckpt").exists() == saved
    if saved:
        assert torch.load(tmp_path / "interrupted.ckpt", weights_only=True)["global_step"] == 1


def test_a_full_disk_while_writing_a_checkpoint_is_one_error_and_keeps_the_last_good_one(tmp_path: Path,
                                                                                        monkeypatch) -> None:
    """torch.save reports a full disk as a RuntimeError ("PytorchStreamWriter failed writing file")."""
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1}, path)

    def disk_full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(FastStyleError, match=r"^cannot write checkpoint .*last\.ckpt \(.*failed writing file\); free"):
        io.save_checkpoint({"global_step": 2}, path)
    monkeypatch.undo()
    assert io.load_checkpoint(path)["global_step"] == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
