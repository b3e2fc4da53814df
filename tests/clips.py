"""Tiny synthetic video clips made with PyAV for the video tests: a moving colour pattern over a textured
background and a sine tone, with known frame count, rate, timestamps and rotation."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

TONE_HZ = 440
SAMPLE_RATE = 16000


def pattern(index: int, width: int, height: int, speed: float = 3.0) -> np.ndarray:
    """Frame ``index``: smooth colours (so stylisation shows) with a bright bar moving ``speed`` px a frame."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    rgb = np.stack([128 + 80 * np.sin(x / 9 + 0.1 * index), 128 + 80 * np.cos(y / 7),
                    60 + 140 * (x + y) / (width + height)], axis=-1)
    left = int(index * speed) % width
    rgb[:, left:left + max(2, width // 10)] = (240, 230, 40)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def make_clip(path: Path, frames: int = 36, width: int = 96, height: int = 64, rate: int = 24,
              audio: str | None = "aac", rotation: int = 0, times: list[float] | None = None,
              codec: str = "libx264", static: bool = False, options: dict[str, str] | None = None) -> Path:
    """Write a clip: ``frames`` frames at ``rate`` (or at ``times`` in seconds, for variable rates), a tone
    in ``audio`` codec (None: silent), display rotation ``rotation`` degrees; ``static`` repeats frame 0."""
    # Ticks of 1/(100 rate) s: frame times of any variable-rate test fall on them exactly.
    time_base = Fraction(1, 100 * rate)
    times = times if times is not None else [i / rate for i in range(frames)]
    with av.open(str(path), "w", options=options or {}) as out:
        video = out.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = time_base if codec != "mpeg4" else Fraction(1, rate)
        if rotation:
            video.set_display_rotation(rotation)
        sound = None
        if audio is not None:
            sound = out.add_stream(audio, rate=SAMPLE_RATE)
            sound.layout = "mono"
        for index, seconds in enumerate(times):
            frame = av.VideoFrame.from_ndarray(pattern(0 if static else index, width, height), format="rgb24")
            frame.time_base = video.codec_context.time_base
            frame.pts = round(seconds / frame.time_base)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            t = np.arange(round(SAMPLE_RATE * (times[-1] + 1 / rate))) / SAMPLE_RATE
            tone = (0.3 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)[None]
            samples = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            samples.sample_rate, samples.pts = SAMPLE_RATE, 0
            out.mux(sound.encode(samples))
            out.mux(sound.encode(None))
    return path


def read_clip(path: Path) -> dict:
    """What a test compares: frame times and pixels, size, rate, audio codec, duration and packets."""
    with av.open(str(path)) as clip:
        stream = clip.streams.video[0]
        frames = list(clip.decode(stream))
        info = {"times": [round(float(f.pts * f.time_base), 4) for f in frames],
                "pixels": [f.to_ndarray(format="rgb24") for f in frames],
                "rotation": frames[0].rotation if frames else 0,
                "size": (stream.codec_context.width, stream.codec_context.height), "rate": stream.average_rate,
                "codec": stream.codec_context.name, "audio": None}
        if clip.streams.audio:
            audio = clip.streams.audio[0]
            clip.seek(0)
            packets = [p for p in clip.demux(audio) if p.size]
            info["audio"] = {"codec": audio.codec_context.name, "rate": audio.codec_context.sample_rate,
                             "seconds": round(float(sum(p.duration for p in packets) * audio.time_base), 3),
                             "payload": b"".join(bytes(p) for p in packets)}
    return info
