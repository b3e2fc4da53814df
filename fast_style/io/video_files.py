"""Video files in and out with PyAV (FFmpeg's libraries): upright RGB frames with their timestamps from any
file FFmpeg reads, and an encoder that writes them back with the source's timing and audio.

Timestamps are carried frame by frame (variable frame rate survives), the display rotation is applied to
the pixels (the output is upright and carries no rotation), and the audio stream is copied packet for packet
when the output container can hold its codec, else re-encoded with the container's default audio codec.
A file that stops before its header says it ends is reported as truncated, not passed off as complete.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from fast_style.errors import FastStyleError
from fast_style.settings import whole

# Output container (FFmpeg muxer name) by file suffix; any of these is read as input too.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
VIDEO_EXTENSIONS = tuple(CONTAINERS)
# A stream that ends more than this many frame intervals (and 0.1 s) before the duration its header
# declares, or with more than this many frames fewer than it counts, is truncated; encoders and edit lists
# legitimately drop a frame or two.
END_SLACK_FRAMES = 2.5
MIN_SIDE = 2


def _pixel_format(name: str) -> bool:
    try:
        av.video.format.VideoFormat(name)
        return True
    except ValueError:
        return False


class UnreadableVideo(Exception):
    """This file cannot be decoded completely; the message says why (for the 'skipped' line)."""


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in CONTAINERS


@dataclass(frozen=True)
class VideoSettings:
    """How stylised films are encoded: FFmpeg encoder (``auto``: H.264 via libx264, VP9 for .webm), its
    constant-rate quality (CRF: lower is better, 18 is visually lossless for H.264), speed preset (x264/x265
    only) and pixel format (yuv420p plays everywhere)."""

    codec: str = "auto"
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str = "yuv420p"

    def __post_init__(self) -> None:
        whole("video.crf", self.crf, 0, 63, hint="constant-rate quality: 18 visually lossless, 23 x264's default")
        if not _pixel_format(self.pix_fmt):
            raise FastStyleError(f"video.pix_fmt={self.pix_fmt}: not a pixel format FFmpeg knows; use yuv420p")
        if self.codec != "auto":
            self.encoder(".mp4")  # an unknown or non-video encoder is refused before any work

    def encoder(self, suffix: str) -> str:
        """The encoder name for an output file with ``suffix``; an unknown encoder is a setting error."""
        name = self.codec if self.codec != "auto" else ("libvpx-vp9" if suffix.lower() == ".webm" else "libx264")
        try:
            codec = av.codec.Codec(name, "w")
        except av.codec.codec.UnknownCodecError:
            raise FastStyleError(f"video.codec={self.codec}: no such FFmpeg encoder here; use auto, libx264, "
                                 "libx265, libvpx-vp9 or mpeg4") from None
        if codec.type != "video":
            raise FastStyleError(f"video.codec={self.codec}: an FFmpeg {codec.type} encoder, not a video one; use "
                                 "auto, libx264, libx265, libvpx-vp9 or mpeg4")
        return codec.name

    def check(self, suffix: str) -> None:
        """Open the encoder for ``suffix`` once on a blank frame, so that options it refuses (a preset it does
        not know, a pixel format it cannot write) are one setting error before any film is stylised; a failure
        later is the film's own, and only that film is skipped."""
        encoder = self.encoder(suffix)
        try:
            with av.open(io.BytesIO(), mode="w", format=CONTAINERS[suffix.lower()]) as out:
                stream = out.add_stream(encoder, rate=24, options=self.options(encoder))
                stream.width, stream.height, stream.pix_fmt = 64, 64, self.pix_fmt
                out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")))
                out.mux(stream.encode(None))
        except (av.error.FFmpegError, ValueError) as err:
            raise FastStyleError(f"video.*: the {encoder} encoder refuses these settings for {suffix} files ({err}); "
                                 "check video.codec, video.preset, video.crf and video.pix_fmt") from None

    def options(self, encoder: str) -> dict[str, str]:
        """Encoder options for the quality setting: CRF (x264/x265/VP9) or a matching fixed quantiser."""
        if encoder in ("libx264", "libx265"):
            return {"crf": str(self.crf), "preset": self.preset}
        if encoder.startswith("libvpx"):
            return {"crf": str(self.crf), "b": "0"}
        return {"qscale": str(max(1, min(31, self.crf // 2)))}  # mpeg4 and others: 2..31, lower is better


@dataclass(frozen=True)
class VideoInfo:
    """What the header of a video says: upright size, display rotation (degrees counter-clockwise), frame
    rate, expected frame count (0: not stated) and duration in seconds (None: not stated)."""

    width: int
    height: int
    rotation: int
    rate: Fraction
    time_base: Fraction
    frames: int
    duration: float | None
    has_audio: bool


def _open(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise UnreadableVideo(f"cannot be decoded ({type(err).__name__}: {' '.join(str(err).split())})") from err
    if not container.streams.video:
        container.close()
        raise UnreadableVideo("holds no video stream")
    return container


def _rotation(container: av.container.InputContainer) -> int:
    """The display rotation of the first frame (the header only has it as side data on the frames)."""
    for frame in container.decode(video=0):
        return round(frame.rotation / 90) * 90 % 360  # players turn by quarter turns
    raise UnreadableVideo("holds no decodable video frame")


def probe(path: str | Path) -> VideoInfo:
    """Read the header (and the first frame, for its rotation); :class:`UnreadableVideo` if that fails."""
    with _open(Path(path)) as container:
        stream = container.streams.video[0]
        try:
            rotation = _rotation(container)
        except av.error.FFmpegError as err:
            raise UnreadableVideo(f"cannot be decoded ({type(err).__name__}: {err})") from err
        width, height = stream.codec_context.width, stream.codec_context.height
        if rotation in (90, 270):
            width, height = height, width
        if min(width, height) < MIN_SIDE:  # 4:2:0 chroma needs even sides of 2 or more
            raise UnreadableVideo(f"{width}x{height} px is too small to encode (at least {MIN_SIDE} px each side)")
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        time_base = stream.time_base or 1 / Fraction(rate)
        return VideoInfo(width, height, rotation, Fraction(rate), Fraction(time_base), stream.frames or 0, duration,
                         bool(container.streams.audio))


def upright(frame: av.VideoFrame, rotation: int) -> torch.Tensor:
    """``frame`` as RGB ``uint8 [3, H, W]``, turned as the display rotation says."""
    array = frame.to_ndarray(format="rgb24")
    if rotation:
        array = np.ascontiguousarray(np.rot90(array, k=rotation // 90))
    return torch.from_numpy(array).permute(2, 0, 1)


def read_frames(path: str | Path, info: VideoInfo) -> Iterator[tuple[float, torch.Tensor]]:
    """Yield (presentation time in seconds, upright ``uint8 [3, H, W]``) in display
    order. Raises :class:`UnreadableVideo` on a decoding error or when the stream ends early: fewer frames
    than the header counts, or a last frame well before the declared duration."""
    count, first, last = 0, None, 0.0
    step = float(1 / info.rate)
    with _open(Path(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                seconds = float(frame.pts * frame.time_base) if frame.pts is not None else count * step
                first = seconds if first is None else first
                last = seconds - first
                count += 1
                yield seconds, upright(frame, info.rotation)
        except av.error.FFmpegError as err:
            raise UnreadableVideo(f"corrupt after {count} frames ({type(err).__name__}: {err})") from err
    if info.frames and count + END_SLACK_FRAMES < info.frames:
        raise UnreadableVideo(f"truncated: {count} of the {info.frames} frames its header counts could be decoded")
    if info.duration is not None and count and last + step < info.duration - max(END_SLACK_FRAMES * step, 0.1):
        raise UnreadableVideo(f"truncated: its frames end at {last + step:.2f} s of the {info.duration:.2f} s its "
                              f"header declares ({count} frames decoded)")


class VideoWriter:
    """Encodes frames (``uint8 [H, W, 3]`` with their times in seconds) into ``path`` as the container of
    ``suffix`` (the file itself may have a temporary name), muxing the audio of ``audio_from`` in time order
    with the video so the muxer never buffers more than a moment of either."""

    def __init__(self, path: str | Path, suffix: str, info: VideoInfo, width: int, height: int,
                 settings: VideoSettings, audio_from: str | Path | None = None) -> None:
        self.output = av.open(str(path), mode="w", format=CONTAINERS[suffix.lower()])
        encoder = settings.encoder(suffix)
        self.video = self.output.add_stream(encoder, rate=info.rate, options=settings.options(encoder))
        self.video.width, self.video.height, self.video.pix_fmt = width, height, settings.pix_fmt
        # The source's time base: every source timestamp survives exactly (variable frame rates too);
        # AVI counts frames, not time, so there one tick is one frame.
        self.time_base = info.time_base if CONTAINERS[suffix.lower()] != "avi" else 1 / info.rate
        self.video.codec_context.time_base = self.time_base
        self.last_pts = -1
        self.audio_in = self.audio_out = None
        self.audio_packets: Iterator[av.Packet] = iter(())
        self.pending_audio: av.Packet | None = None
        if audio_from is not None and info.has_audio:
            self._add_audio(audio_from)

    def _add_audio(self, source: str | Path) -> None:
        self.audio_in = av.open(str(source))
        audio = self.audio_in.streams.audio[0]
        self.copy_audio = audio.codec_context.name in self.output.supported_codecs
        if self.copy_audio:
            self.audio_out = self.output.add_stream_from_template(audio)
            self.audio_packets = (p for p in self.audio_in.demux(audio) if p.dts is not None)
        else:
            encoder = self._audio_encoder()
            rate = audio.codec_context.sample_rate
            rates = av.codec.Codec(encoder, "w").audio_rates  # Opus (WebM) takes 48 kHz and a few others only
            if rates and rate not in rates:
                rate = min(rates, key=lambda r: (abs(r - rate), -r))
            self.audio_out = self.output.add_stream(encoder, rate=rate)
            self.audio_out.layout = audio.codec_context.layout
            self.audio_packets = self._reencoded(audio)

    def _audio_encoder(self) -> str:
        """The container's default audio encoder, or AAC where that one is not built in."""
        for name in (self.output.default_audio_codec, f"lib{self.output.default_audio_codec}", "aac"):
            try:
                codec = av.codec.Codec(name, "w")
            except av.codec.codec.UnknownCodecError:
                continue
            if codec.name in self.output.supported_codecs or codec.name.removeprefix("lib") in self.output.supported_codecs:
                return codec.name
        return "aac"

    def _reencoded(self, audio: av.audio.stream.AudioStream) -> Iterator[av.Packet]:
        """The source's audio decoded, resampled to what the encoder takes (rate, sample format, layout) and
        encoded."""
        context = self.audio_out.codec_context
        resampler = av.AudioResampler(format=context.format, layout=context.layout, rate=context.sample_rate)
        for frame in self.audio_in.decode(audio):
            frame.pts = None  # the encoder numbers samples itself; decoded timestamps may have gaps
            for resampled in resampler.resample(frame):
                yield from self.audio_out.encode(resampled)
        for resampled in resampler.resample(None):
            yield from self.audio_out.encode(resampled)
        yield from self.audio_out.encode(None)

    def _audio_until(self, seconds: float | None) -> None:
        """Mux the audio packets that start before ``seconds`` (all that remain for None)."""
        while True:
            packet = self.pending_audio or next(self.audio_packets, None)
            if packet is None:
                return
            start = packet.pts * packet.time_base if packet.pts is not None else None
            if seconds is not None and start is not None and start > seconds:
                self.pending_audio = packet
                return
            self.pending_audio = None
            if self.copy_audio:
                packet.stream = self.audio_out
            self.output.mux(packet)

    def write(self, seconds: float, image: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        # Strictly increasing timestamps, which encoders require.
        frame.pts = self.last_pts = max(round(seconds / self.time_base), self.last_pts + 1)
        frame.time_base = self.time_base
        self._audio_until(seconds)
        self.output.mux(self.video.encode(frame))

    def close(self) -> None:
        """Flush the encoder and the rest of the audio, and finish the file."""
        self.output.mux(self.video.encode(None))
        self._audio_until(None)
        self.output.close()
        if self.audio_in is not None:
            self.audio_in.close()

    def abort(self) -> None:
        """Release the files without finishing them (the caller deletes the partial output)."""
        for container in (self.output, self.audio_in):
            if container is not None:
                try:
                    container.close()
                except av.error.FFmpegError:
                    pass
