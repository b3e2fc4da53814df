"""Bad input as a careful user and as an attacker would give it, one case per cause, through the commands
themselves: each ends in one ``error:`` line and exit status 2 with nothing written, or is skipped and named with
a non-zero exit, or behaves as documented, and no input is ever overwritten. ``pytest -s`` prints the count of
cases per outcome."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from clips import make_clip, read_clip
from conftest import ASSETS, COCO, VGG_WEIGHTS, run_script, tiny_train_overrides
from fast_style.io.images import find_images
from fast_style.model_card import load_model, save_model

pytestmark = pytest.mark.slow  # about forty commands, each a fresh process: the full suite, not the everyday tier

OUTCOMES: Counter[str] = Counter()


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` with its contents, to prove a command changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(result, message: str) -> None:
    """One ``error:`` line, the last, containing ``message`` (no traceback), exit status 2."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert [line for line in lines if line.startswith("error")] == lines[-1:], lines
    assert "Traceback" not in result.stderr and message in lines[-1], lines
    OUTCOMES["error line, exit 2"] += 1


@pytest.fixture()
def inputs(tmp_path: Path, styled_model: Path) -> Path:
    """A folder of inputs: two photos, a film, the model, a painting."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    for path in find_images(COCO)[:2]:
        shutil.copy(path, folder / path.name)
    make_clip(folder / "film.mp4", frames=6, audio=None)
    shutil.copy(styled_model, folder / "model.pt")
    shutil.copy(ASSETS / "styles" / "candy.jpg", folder / "painting.jpg")
    return folder


# 1. Names from files become paths --------------------------------------------------------------------------

def test_a_style_name_with_a_path_in_it_stays_inside_the_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = run_script("train.py", *tiny_train_overrides(run, steps=1), "style=custom",
                        f"style.image={ASSETS / 'styles' / 'candy.jpg'}", "style.name=../../escaped",
                        "module.preview_every=0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert [p.name for p in (run / "export").iterdir()] == ["_.._escaped.pt"]
    assert not any(tmp_path.parent.glob("escaped*")) and sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    OUTCOMES["as documented"] += 1


def test_validate_writes_a_style_named_like_a_path_inside_its_output(exported_model: Path, tmp_path: Path) -> None:
    net, card = load_model(exported_model)
    two = net.add_styles(1)
    style = card.styles[0]
    hostile = replace(card, network={**card.network, "num_styles": 2},
                      styles=(style, replace(style, name="../../hostile")))
    model = save_model(tmp_path / "two.pt", two, hostile)
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(find_images(COCO)[0], photos)
    out = tmp_path / "deep" / "val"
    result = run_script("validate.py", f"model={model}", f"input={photos}", f"output={out}", "style=../../hostile",
                        "optim.steps=1", "image_size=32")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "_.._hostile" / "report.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "photos", "two.pt"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["val"]
    OUTCOMES["as documented"] += 1


# 2. Outputs that would overwrite inputs ----------------------------------------------------------------------

@pytest.mark.parametrize(("script", "args"), [
    ("gallery.py", ["models=[{inputs}/model.pt]", "input={inputs}/000000000009.jpg", "output={inputs}/000000000009.jpg"]),
    ("gallery.py", ["models=[{inputs}/model.pt]", "input={inputs}", "output={inputs}/gallery.jpg"]),
    ("flicker.py", ["model={inputs}/model.pt", "input={inputs}/film.mp4", "output={inputs}/film.mp4"]),
    ("flicker.py", ["model={inputs}/model.pt", "input={inputs}/film.mp4", "output={inputs}/model.pt"]),
    ("optimize.py", ["content={inputs}/000000000009.jpg", "style=custom", "style.image={inputs}/painting.jpg",
                     "output={inputs}/painting.jpg"]),
    ("validate.py", ["model={inputs}/model.pt", "input={inputs}", "output={inputs}"]),
    ("export.py", ["model={inputs}/model.pt", "output={inputs}/model.pt"]),
])
def test_an_output_on_top_of_an_input_is_refused_before_any_work(inputs: Path, script: str, args: list[str]) -> None:
    before = files_under(inputs)
    extra = [f"loss.weights={VGG_WEIGHTS}"] if script == "optimize.py" else []
    result = run_script(script, *(arg.format(inputs=inputs) for arg in args), *extra)
    refused(result, "would overwrite or mix with the input")
    assert files_under(inputs) == before


# 3. Only the project decides what training continues ---------------------------------------------------------

def test_a_truncated_last_checkpoint_is_skipped_and_the_run_goes_on(trained_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04cut short")
    result = run_script("train.py", *tiny_train_overrides(run, steps=5), "module.preview_every=0")
    assert result.returncode == 0, result.stderr[-3000:]  # skipped with a warning; Lightning does not load it
    assert "skipping" in result.stdout and "last.ckpt" in result.stdout and "continuing from" not in result.stdout
    OUTCOMES["as documented"] += 1


def test_a_malicious_checkpoint_never_runs_even_when_the_environment_allows_pickles(trained_run: Path,
                                                                                    tmp_path: Path) -> None:
    import pickle

    class RunsCode:
        def __reduce__(self):
            return os.system, (f"touch '{tmp_path / 'pwned'}'",)

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    for name in ("last.ckpt", "interrupted.ckpt"):
        (run / "checkpoints" / name).write_bytes(pickle.dumps(RunsCode()))
    result = run_script("train.py", *tiny_train_overrides(run, steps=5), "module.preview_every=0",
                        env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "pwned").exists() and "continuing from" not in result.stdout
    OUTCOMES["as documented"] += 1


def test_a_run_folder_in_use_by_another_training_is_refused(trained_run: Path, tmp_path: Path) -> None:
    import fcntl

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    with open(run / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("process 4242")
        held.flush()
        before = files_under(run / "checkpoints")
        result = run_script("train.py", *tiny_train_overrides(run, steps=5), "style=candy")
    refused(result, f"hydra.run.dir={run} is in use by process 4242")
    assert files_under(run / "checkpoints") == before


def test_half_written_checkpoints_of_a_killed_run_are_removed(trained_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    dead = __import__("subprocess").Popen(["true"])
    dead.wait()
    leftover = run / "checkpoints" / f".step_0000005.ckpt.{dead.pid}.x1y2z3.part"
    leftover.write_bytes(b"half")
    result = run_script("train.py", *tiny_train_overrides(run, steps=4))
    assert result.returncode == 0, result.stderr[-2000:]
    assert not leftover.exists()
    OUTCOMES["as documented"] += 1


# 4. One line instead of a traceback --------------------------------------------------------------------------

@pytest.mark.parametrize(("override", "message"), [
    ("trainer.max_step=5", "trainer.max_step=5: no such setting; did you mean trainer.max_steps?"),
    ("data.imagesize=64", "data.imagesize=64: no such setting; did you mean data.image_size?"),
    ("model=huge", "model=huge: no such model; use one of arbitrary, johnson, small"),
    ("+data_root=x", "+data_root=x: nothing reads data_root"),
    ("seed=-1", "seed=-1: use a whole number from 0 to 4294967295"),
    ("seed=99999999999", "seed=99999999999: use a whole number from 0 to 4294967295"),
])
def test_training_settings_that_do_not_exist_or_fit_are_one_line(tmp_path: Path, override: str, message: str) -> None:
    result = run_script("train.py", *tiny_train_overrides(tmp_path / "run"), override)
    refused(result, message)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("override", "message"), [
    ("init={fixtures}/v2_multi.pt", "init={fixtures}/v2_multi.pt: a multi-style network (alpha, beta); fine-tuning"),
    ("add_styles_to={fixtures}/missing.pt", "add_styles_to={fixtures}/missing.pt: file not found"),
    ("add_styles_to={fixtures}/v2_single.ckpt", "add_styles_to={fixtures}/v2_single.ckpt: a single-style network"),
])
def test_model_files_given_to_training_are_named_by_their_setting(tmp_path: Path, override: str, message: str) -> None:
    fixtures = Path(__file__).parent / "fixtures"
    extra = ["styles=[candy]"] if override.startswith("add_styles_to") else []
    result = run_script("train.py", *tiny_train_overrides(tmp_path / "run"), override.format(fixtures=fixtures), *extra)
    refused(result, message.format(fixtures=fixtures))
    assert not (tmp_path / "run").exists()


def test_a_run_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("kept")
    result = run_script("train.py", *tiny_train_overrides(tmp_path / "taken"))
    refused(result, "is an existing file; give a folder for the run")
    assert (tmp_path / "taken").read_text() == "kept"


@pytest.mark.parametrize(("extra", "message"), [
    (["strenght=0.5"], "strenght=0.5: no such setting; did you mean strength?"),
    (["style={a: 1e308, b: 1e308}"], "no such"),  # a single-style model: style= is refused first
    (["video.codec=aac"], "video.codec=aac: an FFmpeg audio encoder, not a video one"),
    (["style={a: 0.5, a: 0.5}"], "style: a given more than once"),
])
def test_infer_settings_are_one_line(inputs: Path, tmp_path: Path, extra: list[str], message: str) -> None:
    result = run_script("infer.py", f"model={inputs / 'model.pt'}", f"input={inputs}", f"output={tmp_path / 'out'}",
                        *extra)
    if message == "no such":  # the blend reaches the model: a single-style file takes no style
        refused(result, "is a single-style network")
    else:
        refused(result, message)
    assert not (tmp_path / "out").exists()


def test_a_blend_that_overflows_is_one_line(tmp_path: Path) -> None:
    result = run_script("infer.py", f"model={Path(__file__).parent / 'fixtures' / 'v2_multi.pt'}",
                        "style={alpha: 1e308, beta: 1e308}", f"input={find_images(COCO)[0]}",
                        f"output={tmp_path / 'out'}")
    refused(result, "the weights overflow when summed")


def test_a_zip_with_a_bad_directory_given_as_a_model_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04" + b"\x00" * 64 + b"PK\x05\x06" + b"\xff" * 18)
    result = run_script("infer.py", f"model={tmp_path / 'model.pt'}", f"input={find_images(COCO)[0]}",
                        f"output={tmp_path / 'out'}")
    refused(result, "refused, not a fast_style model file that loads safely")


def test_a_setting_given_twice_is_warned_about(inputs: Path, tmp_path: Path) -> None:
    result = run_script("infer.py", f"model={inputs / 'model.pt'}", f"input={find_images(COCO)[0]}",
                        f"output={tmp_path / 'out'}", "strength=0.2", "strength=0.9", "progress=false")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warning: strength is given 2 times; the last one counts: strength=0.9" in result.stderr
    OUTCOMES["as documented"] += 1


# Films ------------------------------------------------------------------------------------------------------

def test_films_too_small_to_encode_are_skipped_and_the_folder_goes_on(inputs: Path, tmp_path: Path) -> None:
    make_clip(inputs / "dot.mp4", frames=3, width=1, height=1, audio=None, codec="mpeg4")
    make_clip(inputs / "sliver.mkv", frames=3, width=3, height=5, audio=None, codec="mpeg4")
    out = tmp_path / "out"
    result = run_script("infer.py", f"model={inputs / 'model.pt'}", f"input={inputs}", f"output={out}",
                        "progress=false", "max_size=64")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "dot.mp4: 1x1 px is too small to encode" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["000000000009.jpg", "000000000025.jpg", "film.mp4",
                                                     "painting.jpg", "sliver.mkv"]
    assert read_clip(out / "sliver.mkv")["size"] == (2, 4)  # even sides for 4:2:0, as documented
    OUTCOMES["skipped and named, exit 1"] += 1


def test_a_film_too_small_for_optical_flow_is_one_line(inputs: Path, tmp_path: Path) -> None:
    film = make_clip(tmp_path / "small.mp4", frames=4, width=8, height=8, audio=None)
    result = run_script("flicker.py", f"model={inputs / 'model.pt'}", f"input={film}", f"output={tmp_path / 'r.json'}")
    refused(result, "too small to measure the motion between them")
    assert not (tmp_path / "r.json").exists()


def test_audio_at_44_1_khz_into_webm_is_resampled(inputs: Path, tmp_path: Path) -> None:
    import clips

    rate, clips.SAMPLE_RATE = clips.SAMPLE_RATE, 44100
    try:
        film = make_clip(tmp_path / "cd.mp4", frames=6, audio="aac")
    finally:
        clips.SAMPLE_RATE = rate
    result = run_script("infer.py", f"model={inputs / 'model.pt'}", f"input={film}", f"output={tmp_path / 'out.webm'}",
                        "progress=false")
    assert result.returncode == 0, result.stderr[-2000:]
    assert clips.read_clip(tmp_path / "out.webm")["audio"]["rate"] == 48000
    OUTCOMES["as documented"] += 1


def test_zz_outcome_counts() -> None:
    """The tally of the cases above (run with ``pytest -s``)."""
    print("\nreliability cases by outcome: " + ", ".join(f"{n} {k}" for k, n in sorted(OUTCOMES.items())))
    assert sum(OUTCOMES.values()) > 0
