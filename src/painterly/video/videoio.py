"""Video files in and out with PyAV: probe and check a clip, decode its frames, encode the stylised ones
with the source's frame rate and a copy of its audio track, atomically."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import PainterlyError
from ..files import atomic_path
from ..images import check_output as check_image_output

# output suffix -> (container format, video codecs to try in order, pixel format)
OUTPUT_FORMATS: dict[str, tuple[str, tuple[str, ...], dict[str, str]]] = {
    ".mp4": ("mp4", ("libx264", "mpeg4"), {"crf": "18"}),
    ".mov": ("mov", ("libx264", "mpeg4"), {"crf": "18"}),
    ".mkv": ("matroska", ("libx264", "mpeg4"), {"crf": "18"}),
    ".webm": ("webm", ("libvpx-vp9",), {"crf": "30", "b": "0"}),
}
INSTALL_HINT = "painterly video needs PyAV and OpenCV: pip install 'painterly[video]'"


def require() -> None:
    """Raise a one-line PainterlyError saying how to install the video extra if it is missing."""
    try:
        import av  # noqa: F401
        import cv2  # noqa: F401
    except ImportError:
        raise PainterlyError(INSTALL_HINT) from None


@dataclass(frozen=True)
class VideoInfo:
    """What the frame loop needs to know about an input clip."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int  # packets of the video stream: the frame count without decoding
    codec: str
    audio: bool

    def frame_range(self, start: float, end: float, max_frames: int) -> range:
        """0-based indices of the frames shown from ``start`` to ``end`` seconds (0: the end), at most
        ``max_frames`` of them (0: all)."""
        first = min(self.frames, round(start * self.fps))
        last = self.frames if end <= 0 else min(self.frames, round(end * self.fps))
        if max_frames > 0:
            last = min(last, first + max_frames)
        return range(first, last)


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        raise PainterlyError(f"{path} is not a readable video") from None


def probe(path: str | os.PathLike) -> VideoInfo:
    """Check that ``path`` is a decodable video with frames and a frame rate; describe it."""
    import av

    path = Path(path).expanduser()
    if not path.exists():
        raise PainterlyError(f"input video not found: {path}")
    if path.is_dir():
        raise PainterlyError(f"input video is a folder: {path}")
    with _open(path) as container:
        if not container.streams.video:
            raise PainterlyError(f"{path} has no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or rate <= 0:
            raise PainterlyError(f"{path} has no frame rate (0 fps); re-encode it with a fixed rate")
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise PainterlyError(
                f"cannot decode the {codec} video in {path}: {exc.strerror or exc}"
            ) from None
        if first is None:
            raise PainterlyError(f"{path} has no frames")
        audio = bool(container.streams.audio)
    with _open(path) as container:
        frames = sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)
    return VideoInfo(
        path=path,
        width=first.width,
        height=first.height,
        fps=Fraction(rate),
        frames=frames,
        codec=codec,
        audio=audio,
    )


def read_frames(info: VideoInfo, frames: range) -> Iterator[tuple[int, Image.Image]]:
    """(0-based index, RGB image) for each frame in ``frames``, decoded in order."""
    import av

    with _open(info.path) as container:
        stream = container.streams.video[0]
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index >= frames.stop:
                    return
                if index >= frames.start:
                    yield index, frame.to_image().convert("RGB")
        except av.error.FFmpegError as exc:
            raise PainterlyError(f"cannot decode {info.path}: {exc.strerror or exc}") from None


def check_output(path: str | os.PathLike, source: VideoInfo) -> Path:
    """Fail before any work if ``path`` is not a writable video path other than the input, or if the
    input's audio cannot be copied into that container."""
    out = check_image_output(path, [str(source.path)], formats=tuple(OUTPUT_FORMATS), what="output video")
    with _output(io.BytesIO(), out, source.fps, (16, 16), source if source.audio else None) as (container, _):
        container.start_encoding()  # writes the header: refuses an audio codec the container cannot hold
    return out


class _output:
    """An output container with a video stream and, when the source has audio, a copied audio stream."""

    def __init__(
        self, target: Any, out: Path, fps: Fraction, size: tuple[int, int], audio: VideoInfo | None
    ) -> None:
        self.target, self.out, self.fps, self.size, self.audio_source = target, out, fps, size, audio
        self.inputs: list[Any] = []

    def __enter__(self) -> tuple[Any, Any]:
        import av

        fmt, codecs, options = OUTPUT_FORMATS[self.out.suffix.lower()]
        codec = next((c for c in codecs if c in av.codecs_available), None)
        if codec is None:
            raise PainterlyError(
                f"this PyAV build has no encoder for {self.out.suffix} ({', '.join(codecs)})"
            )
        self.container = av.open(self.target, "w", format=fmt)
        try:
            video = self.container.add_stream(codec, rate=self.fps)
            video.width, video.height = self.size
            video.pix_fmt = "yuv420p"
            video.options = dict(options)
            if self.audio_source is not None:
                self.inputs.append(_open(self.audio_source.path))
                self.container.add_stream_from_template(self.inputs[0].streams.audio[0])
        except (av.error.FFmpegError, ValueError) as exc:
            self.__exit__(type(exc), exc, None)
            raise PainterlyError(f"cannot write {self.out.suffix} video: {exc}") from None
        return self.container, video

    def __exit__(self, *exc: object) -> None:
        import av

        try:
            self.container.close()
        except av.error.FFmpegError as error:
            if exc[0] is None:
                raise PainterlyError(f"cannot write {self.out.suffix} video: {error}") from None
        finally:
            for container in self.inputs:
                container.close()


def write_video(
    out: Path,
    frames: Iterable[Image.Image],
    fps: Fraction,
    size: tuple[int, int],
    audio: VideoInfo | None = None,
    shown: range = range(0),
) -> int:
    """Encode ``frames`` (all of ``size``, even sides) at ``fps`` into ``out`` atomically; with ``audio``,
    copy that clip's audio from the stretch of time its frames ``shown`` play. Returns the frame count."""
    import av

    audio = audio if audio is not None and audio.audio else None
    count = 0
    try:
        with atomic_path(out) as tmp, _output(str(tmp), out, fps, size, audio) as (container, video):
            for count, image in enumerate(frames, start=1):
                frame = av.VideoFrame.from_image(image.convert("RGB"))
                frame.pts = count - 1
                container.mux(video.encode(frame))
            container.mux(video.encode(None))
            if audio is not None:
                _copy_audio(audio, container, shown)
    except av.error.FFmpegError as exc:
        raise PainterlyError(f"cannot write {out}: {exc.strerror or exc}") from None
    return count


def _copy_audio(source: VideoInfo, container: Any, shown: range) -> None:
    """Copy (without re-encoding) the audio packets that play while the ``shown`` frames do."""
    audio_out = container.streams.audio[0]
    with _open(source.path) as reader:
        stream = reader.streams.audio[0]
        base = stream.time_base
        begin, end = shown.start / source.fps, shown.stop / source.fps
        offset = round(begin / base)
        for packet in reader.demux(stream):
            if packet.pts is None or packet.dts is None or not packet.size:
                continue
            at = packet.pts * base
            if at >= end or (at < begin and shown.start > 0):  # from the start: keep the encoder priming
                continue
            packet.pts -= offset
            packet.dts -= offset
            packet.stream = audio_out
            container.mux(packet)
