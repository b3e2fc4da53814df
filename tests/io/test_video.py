"""Videos through scripts/infer.py: frame count, timing, rotation and audio kept; broken files reported, never
left half-written; outputs never replace inputs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from clips import make_clip, pattern, read_clip
from conftest import run_script
from fast_style.errors import FastStyleError
from fast_style.io.folders import Job
from fast_style.inference.stylizer import Stylizer
from fast_style.model_card import load_model
from fast_style.io.films import plan_videos, stylize_video, stylize_videos
from fast_style.io.video_files import UnreadableVideo, VideoSettings

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def stylizer(styled_model: Path) -> Stylizer:
    return Stylizer(load_model(styled_model)[0].eval(), CPU)


def mean_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(x.astype(np.float64) - y).mean() / 255 for x, y in zip(a, b)]))


def test_contract_one_video_in_one_video_out(tmp_path: Path, styled_model: Path) -> None:
    clip = make_clip(tmp_path / "film.mp4", frames=36, width=96, height=64, rate=24)
    out = tmp_path / "styled" / "film_starry.mp4"
    result = run_script("infer.py", f"model={styled_model}", f"input={clip}", f"output={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1].startswith("stylized 1 videos (36 frames, ")
    assert "frame" in result.stderr  # the progress bar counts frames
    source, styled = read_clip(clip), read_clip(out)
    assert len(styled["times"]) == 36 and styled["times"] == source["times"]
    assert (styled["size"], styled["rate"], styled["codec"]) == ((96, 64), 24, "h264")
    assert styled["audio"] == source["audio"]  # copied packet for packet: same codec, duration and bytes
    assert mean_difference(source["pixels"], styled["pixels"]) > 0.03
    assert sorted(p.name for p in out.parent.iterdir()) == ["film_starry.mp4"]


def test_variable_rate_rotation_and_max_size(tmp_path: Path, styled_model: Path) -> None:
    times = [0.0, 0.04, 0.1, 0.12, 0.3, 0.31, 0.5, 0.55, 0.7, 1.0]  # a variable frame rate
    clip = make_clip(tmp_path / "phone.mov", width=128, height=96, rate=24, times=times, rotation=90)
    unchanged = Stylizer(load_model(styled_model)[0].eval(), CPU, strength=0)  # the frames as decoded
    stylize_video(unchanged, Job(clip, tmp_path / "out.mov"), VideoSettings(), batch_size=4)
    styled = read_clip(tmp_path / "out.mov")
    assert styled["times"] == times
    assert styled["size"] == (96, 128) and styled["rotation"] == 0  # turned upright, as a player shows it
    counter_clockwise = np.rot90(pattern(0, 128, 96))  # what a player shows for a rotation of +90 degrees
    assert mean_difference([styled["pixels"][0]], [counter_clockwise]) < 0.02
    assert mean_difference([styled["pixels"][0]], [counter_clockwise[::-1, ::-1]]) > 0.1
    stylize_video(unchanged, Job(clip, tmp_path / "small.mp4"), VideoSettings(crf=30), max_size=60)
    assert read_clip(tmp_path / "small.mp4")["size"] == (44, 60)  # 45 x 60, then even for 4:2:0 chroma


def test_audio_is_reencoded_when_the_container_cannot_hold_it(tmp_path: Path, stylizer: Stylizer) -> None:
    clip = make_clip(tmp_path / "film.mkv", audio="pcm_s16le")
    stylize_video(stylizer, Job(clip, tmp_path / "film.webm"), VideoSettings())
    styled = read_clip(tmp_path / "film.webm")
    assert (styled["codec"], styled["audio"]["codec"]) == ("vp9", "opus")
    assert styled["audio"]["seconds"] == pytest.approx(36 / 24, abs=0.05)
    assert len(styled["times"]) == 36


@pytest.mark.parametrize("name, options", [("film.mkv", None), ("film.mp4", {"movflags": "faststart"}),
                                           ("film.mp4", None)])
def test_a_clip_cut_in_half_is_reported_and_leaves_no_file(tmp_path: Path, stylizer: Stylizer, name: str,
                                                           options: dict | None) -> None:
    whole = make_clip(tmp_path / name, frames=36, options=options).read_bytes()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / name).write_bytes(whole[: len(whole) // 2])
    (tmp_path / "in" / "notes.mp4").write_text("not a video\n")
    jobs, _ = plan_videos(tmp_path / "in", tmp_path / "out")
    with pytest.raises(UnreadableVideo, match="truncated|cannot be decoded"):
        stylize_video(stylizer, jobs[0], VideoSettings())
    summary = stylize_videos(stylizer, jobs, VideoSettings(), progress=False)
    assert (summary.videos, summary.skipped) == (0, 2)
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))  # no output, no temporary file


def test_folder_with_photos_and_videos_is_mirrored(tmp_path: Path, styled_model: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "clips").mkdir(parents=True)
    make_clip(src / "clips" / "a.mp4", frames=12)
    make_clip(src / "b.webm", frames=10, codec="libvpx-vp9", audio="libopus")
    data = make_clip(tmp_path / "c.mkv", frames=24).read_bytes()
    (src / "clips" / "cut.mkv").write_bytes(data[: len(data) // 2])
    Image.fromarray(read_clip(src / "b.webm")["pixels"][0]).save(src / "still.png")
    result = run_script("infer.py", f"model={styled_model}", f"input={src}", f"output={out}", "progress=false",
                        "num_workers=0")
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert sum(bool(re.fullmatch(r"stylized 2 videos \(22 frames, [0-9.]+ frames/s; skipped 1\)", line))
               for line in lines) == 1
    assert lines[-1] == "stylized 1, skipped 0"
    assert [line.split(":")[0] for line in result.stderr.splitlines() if line.startswith("skipped")] == \
        [f"skipped {src / 'clips' / 'cut.mkv'}"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == \
        ["b.webm", "clips/a.mp4", "still.png"]
    assert len(read_clip(out / "b.webm")["times"]) == 10


def test_outputs_never_replace_inputs_and_bad_settings_are_named(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "film.mp4", frames=4, audio=None)
    with pytest.raises(FastStyleError, match="would overwrite the input"):
        plan_videos(clip, clip)
    with pytest.raises(FastStyleError, match="would overwrite the input"):
        plan_videos(tmp_path, tmp_path)
    assert plan_videos(clip, tmp_path / "out")[0] == [Job(clip, tmp_path / "out" / "film.mp4")]
    with pytest.raises(FastStyleError, match=r"^video\.crf=99: use a whole number from 0 to 63"):
        VideoSettings(crf=99)
    with pytest.raises(FastStyleError, match=r"^video\.codec=nope: no such FFmpeg encoder"):
        VideoSettings(codec="nope").encoder(".mp4")
    with pytest.raises(FastStyleError, match=r"^video\.pix_fmt=rgb99"):
        VideoSettings(pix_fmt="rgb99")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


def test_options_the_encoder_refuses_are_named_and_leave_no_file(tmp_path: Path, stylizer: Stylizer) -> None:
    clip = make_clip(tmp_path / "film.mp4", frames=4, audio=None)
    for settings in (VideoSettings(preset="bogus"), VideoSettings(pix_fmt="rgb48le")):
        with pytest.raises(FastStyleError, match=r"^cannot encode .*out\.mp4: .*check the video\.\* settings"):
            stylize_video(stylizer, Job(clip, tmp_path / "out" / "out.mp4"), settings)
        assert list((tmp_path / "out").iterdir()) == []


def test_a_preset_the_encoder_refuses_is_one_setting_error_before_any_film(tmp_path: Path, styled_model: Path) -> None:
    clip = make_clip(tmp_path / "film.mp4", frames=4, audio=None)
    result = run_script("infer.py", f"model={styled_model}", f"input={clip}", f"output={tmp_path / 'o.mp4'}",
                        "video.preset=bogus")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: video.*: the libx264 encoder refuses these "
                                                            "settings for .mp4 files")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


def test_bad_video_setting_exits_2_and_writes_nothing(tmp_path: Path, styled_model: Path) -> None:
    clip = make_clip(tmp_path / "film.mp4", frames=4, audio=None)
    result = run_script("infer.py", f"model={styled_model}", f"input={clip}", f"output={tmp_path / 'o.mp4'}",
                        "video.crf=-1")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: video.crf=-1: use a whole number from 0 to 63; constant-rate quality: " \
        "18 visually lossless, 23 x264's default"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


@pytest.mark.slow
def test_a_full_disk_when_a_film_is_finished_skips_that_film_only(tmp_path: Path, stylizer: Stylizer,
                                                                  monkeypatch) -> None:
    """The encoder's last packets and the container's index are written at close: a full disk there is the
    film's own failure (named, skipped, nothing left under its name); the next film goes on."""
    import errno

    from fast_style.io import video_files

    first, second = (make_clip(tmp_path / name, frames=4, audio=None) for name in ("a.mp4", "b.mp4"))
    close = video_files.VideoWriter.close
    calls = []

    def full_once(writer) -> None:
        calls.append(writer)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        close(writer)

    monkeypatch.setattr(video_files.VideoWriter, "close", full_once)
    out = tmp_path / "out"
    jobs = [Job(first, out / "a.mp4"), Job(second, out / "b.mp4")]
    summary = stylize_videos(stylizer, jobs, VideoSettings(), progress=False)
    assert (summary.videos, summary.skipped) == (1, 1)
    assert sorted(p.name for p in out.iterdir()) == ["b.mp4"]
