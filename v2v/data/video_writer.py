"""Writing videos: an encoded video file through PyAV (FFmpeg), or a folder of PNG frames.

:class:`VideoWriter` writes a video file in any container of :data:`OUTPUT_FORMATS` (``.mp4``,
``.mkv``, ``.mov``, ``.m4v``, ``.avi``, ``.webm``, ``.gif``, ``.mpg``, ``.ts``, ``.flv``), each with
its encoder: H.264 (``libx264``, ``yuv420p``; odd sizes ``yuv444p`` so no pixel is cropped or padded)
in MP4, MOV, MKV and MPEG-TS, falling back to MPEG-4 part 2 (``mpeg4``) when the FFmpeg build has
no H.264 encoder; MPEG-4 part 2 in AVI, VP9 in WebM, MPEG-2 in MPEG program streams, Flash video in
FLV, and GIF's 256 fixed colours (3-3-2 bits per channel). A name without an extension (or
``frames=True``) writes a folder of PNG frames ``000000.png, 000001.png, ...``; any other extension
is refused up front, so a typo never becomes a folder. It can carry the audio of a source video
across (a stream copy when the container accepts the codec, otherwise re-encoded to the container's
audio codec), cut at the end of the written video; a container without audio (GIF) says so in
:attr:`VideoWriter.audio_note`.

A writer writes to a hidden temporary name next to the destination and renames it into place only
when :meth:`VideoWriter.close` succeeds, so a failed or interrupted run never leaves a truncated
file (or half a frame folder) under the requested name; an existing destination is replaced only
then.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2

from v2v.fileio import AtomicTarget

from .video_io import DEFAULT_FOLDER_FPS, frame_to_uint8, open_container

__all__ = ["VideoWriter", "OutputFormat", "OUTPUT_FORMATS", "output_format"]

# Audio codecs the MP4/MOV muxers accept as a stream copy; others are re-encoded to AAC.
_MP4_AUDIO_COPY = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})


@dataclass(frozen=True)
class OutputFormat:
    """How a video file of one extension is written.

    Attributes:
        muxer: FFmpeg's container (format) name.
        encoders: video encoders in order of preference (the first the FFmpeg build has is used).
        audio_copy: audio codecs the container takes as they are (None: any).
        audio_encoder: the encoder of any other audio; None when the container holds no audio.
    """

    muxer: str
    encoders: tuple[str, ...]
    audio_copy: frozenset[str] | None
    audio_encoder: str | None


_H264 = ("libx264", "mpeg4")
OUTPUT_FORMATS: dict[str, OutputFormat] = {
    ".mp4": OutputFormat("mp4", _H264, _MP4_AUDIO_COPY, "aac"),
    ".m4v": OutputFormat("ipod", _H264, frozenset({"aac", "alac", "ac3"}), "aac"),
    ".mov": OutputFormat("mov", _H264, _MP4_AUDIO_COPY, "aac"),
    ".mkv": OutputFormat("matroska", _H264, None, "aac"),
    ".avi": OutputFormat("avi", ("mpeg4", "libx264"), frozenset({"mp3", "mp2", "ac3", "pcm_s16le"}), "mp2"),
    ".webm": OutputFormat("webm", ("libvpx-vp9", "libvpx"), frozenset({"opus", "vorbis"}), "libopus"),
    ".gif": OutputFormat("gif", ("gif",), frozenset(), None),
    ".mpg": OutputFormat("mpeg", ("mpeg2video", "mpeg1video"), frozenset({"mp2", "mp3", "ac3"}), "mp2"),
    ".mpeg": OutputFormat("mpeg", ("mpeg2video", "mpeg1video"), frozenset({"mp2", "mp3", "ac3"}), "mp2"),
    ".ts": OutputFormat("mpegts", ("libx264", "mpeg2video"), frozenset({"aac", "mp2", "mp3", "ac3", "opus"}), "aac"),
    ".flv": OutputFormat("flv", ("flv",), frozenset({"aac", "mp3"}), "aac"),
}
"""Every video-file extension :class:`VideoWriter` writes, and how."""


def _has_encoder(name: str) -> bool:
    try:
        av.Codec(name, "w")
        return True
    except Exception:  # PyAV raises its own error types for an unknown codec
        return False


def output_format(path: str | os.PathLike, frames: bool = False) -> OutputFormat | None:
    """How ``path`` is written: its :class:`OutputFormat`, or None for a folder of PNG frames (a
    name without an extension, an existing folder, or ``frames``).

    Raises:
        ValueError: an extension that is not a video format written here, or one whose encoders
            this FFmpeg build lacks (the message lists what works).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if frames or not suffix or path.is_dir():
        return None
    known = ", ".join(OUTPUT_FORMATS)
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(f"{path}: {suffix} is not a video format written here; use one of {known}, "
                         "or a name without an extension for a folder of PNG frames")
    spec = OUTPUT_FORMATS[suffix]
    if not any(_has_encoder(name) for name in spec.encoders):
        raise ValueError(f"{path}: this FFmpeg build has no encoder for {suffix} (tried {', '.join(spec.encoders)}); "
                         f"use another of {known}")
    return spec


class VideoWriter:
    """Streaming writer of an encoded video file or a folder of PNG frames.

    Args:
        path: destination. A name ending in an extension of :data:`OUTPUT_FORMATS` writes an
            encoded video; a name without an extension a folder of PNG frames; any other
            extension is a ValueError.
        fps: frame rate (stored in a video file; ignored for frame folders).
        codec: video encoder; default the container's first that the FFmpeg build has.
        crf: H.264 constant rate factor (lower is better quality; 0 is lossless).
        audio_from: optional source video whose first audio stream is carried into the output
            (video files only), cut at the end of the written frames.
        overwrite: replace an existing destination on success (default); False raises
            FileExistsError up front.
        frames: write a folder of PNG frames whatever the name.
        threads: encoder threads (0: FFmpeg's choice, about one per core).

    Attributes:
        audio_note: why the source's audio is not in the output (a container without audio), or
            None; set when the first frame is written.

    Frames go in through :meth:`write` (see :func:`frame_to_uint8` for the accepted forms); all must
    share the first frame's size. Use as a context manager: leaving the block normally finishes and
    renames the output; an exception discards the temporary output.

    Convention:
        Frames are RGB. H.264 output uses ``yuv420p`` for even sizes, ``yuv444p`` for odd sizes.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float = DEFAULT_FOLDER_FPS,
        *,
        codec: str | None = None,
        crf: int = 18,
        audio_from: str | os.PathLike | None = None,
        overwrite: bool = True,
        frames: bool = False,
        threads: int = 0,
    ) -> None:
        self.path = Path(path)
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        self.fps = float(fps)
        self.format = output_format(self.path, frames)
        self.is_folder = self.format is None
        self.threads = int(threads)
        self.audio_note: str | None = None
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists (pass overwrite=True to replace it)")
        if self.path.exists() and self.is_folder != self.path.is_dir():
            raise ValueError(f"{self.path} exists as a {'folder' if self.path.is_dir() else 'file'}; "
                             "refusing to replace it with the other kind")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"the folder of {self.path} does not exist")
        if self.is_folder and audio_from is not None:
            raise ValueError("audio_from needs a video file destination, not a frame folder")
        self.codec = codec or (None if self.is_folder else next(name for name in self.format.encoders if _has_encoder(name)))
        if self.codec is not None:
            rates = av.Codec(self.codec, "w").frame_rates
            if rates and Fraction(self.fps).limit_denominator(1_000_000) not in rates:
                shown = ", ".join(f"{float(rate):g}" for rate in rates[:12])
                raise ValueError(f"{self.path}: the {self.codec} encoder of {self.path.suffix} stores only the frame rates {shown}, "
                                 f"not {self.fps:g} fps; choose another format (.mp4, .mkv)")
        self.crf = int(crf)
        self.audio_from = Path(audio_from) if audio_from is not None else None
        if self.audio_from is not None and not self.audio_from.is_file():
            raise FileNotFoundError(f"audio source not found: {self.audio_from}")
        self.frames_written = 0
        self.frame_size: tuple[int, int] | None = None
        self._closed = False
        # FFmpeg picks the container from the name: the temporary keeps the extension.
        self._target = AtomicTarget(self.path, directory=self.is_folder, keep_extension=True)
        self._tmp_path = self._target.temporary
        self._container = None
        self._stream = None
        self._audio = None  # (input container, input stream, output stream, packet iterator, copy?)

    # -- video file internals -------------------------------------------------------------
    def _open_video(self, height: int, width: int) -> None:
        rate = Fraction(self.fps).limit_denominator(1_000_000)
        self._time_base = 1 / rate
        self._container = av.open(str(self._tmp_path), mode="w", format=self.format.muxer)
        stream = self._container.add_stream(self.codec, rate=rate)
        stream.width, stream.height = width, height
        odd = height % 2 or width % 2
        if self.threads:
            stream.codec_context.thread_count = self.threads
        if self.codec in ("libx264", "h264"):
            stream.pix_fmt = "yuv444p" if odd else "yuv420p"
            stream.options = {"crf": str(self.crf)}
        elif self.codec == "gif":
            stream.pix_fmt = "rgb8"  # GIF's 256 colours; FFmpeg's gif encoder takes no rgb24
        else:
            if odd:
                raise ValueError(f"codec {self.codec!r} needs even frame sizes, got {height}x{width}")
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = max(1_000_000, int(width * height * self.fps * 0.2))
        stream.codec_context.time_base = self._time_base
        self._stream = stream
        if self.audio_from is not None:
            self._open_audio()

    def _open_audio(self) -> None:
        source = open_container(self.audio_from)
        if not source.streams.audio:
            source.close()
            return
        in_stream = source.streams.audio[0]
        name = in_stream.codec_context.name
        if self.format.audio_encoder is None:
            source.close()
            self.audio_note = f"the input's audio is not kept: {self.path.suffix.lower()} holds no audio"
            return
        copy = self.format.audio_copy is None or name in self.format.audio_copy
        if copy:
            if hasattr(self._container, "add_stream_from_template"):  # PyAV >= 14
                out_stream = self._container.add_stream_from_template(in_stream)
            else:
                out_stream = self._container.add_stream(template=in_stream)
        else:
            rate = in_stream.codec_context.sample_rate
            rates = av.Codec(self.format.audio_encoder, "w").audio_rates
            if rates and rate not in rates:  # e.g. Opus takes 48 kHz, not 44.1: PyAV resamples
                rate = 48000 if 48000 in rates else max(rates)
            out_stream = self._container.add_stream(self.format.audio_encoder, rate=rate,
                                                    layout=in_stream.codec_context.layout.name)
        packets = source.demux(in_stream)
        self._audio = {"source": source, "in": in_stream, "out": out_stream, "packets": packets,
                       "copy": copy, "pending": None, "done": False}

    def _mux_audio_until(self, seconds: float) -> None:
        """Mux the source's audio up to ``seconds`` (interleaved with the video as it is written)."""
        audio = self._audio
        if audio is None or audio["done"]:
            return
        while True:
            packet = audio["pending"]
            if packet is None:
                packet = next(audio["packets"], None)
                if packet is None or packet.dts is None and packet.size == 0:
                    audio["done"] = True
                    break
            if packet.pts is not None and float(packet.pts * packet.time_base) >= seconds:
                audio["pending"] = packet
                break
            audio["pending"] = None
            if packet.dts is None:
                continue
            if audio["copy"]:
                packet.stream = audio["out"]
                self._container.mux(packet)
            else:
                for frame in packet.decode():
                    for out_packet in audio["out"].encode(frame):
                        self._container.mux(out_packet)

    def _finish_video(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        if self._audio is not None:
            self._mux_audio_until(self.frames_written / self.fps)
            if not self._audio["copy"]:
                for packet in self._audio["out"].encode(None):
                    self._container.mux(packet)
        self._container.close()
        self._container = None
        self._close_audio_source()
        # A sanity read of the header: an unplayable file must not replace the destination.
        try:
            av.open(str(self._tmp_path)).close()
        except av.error.FFmpegError as error:
            raise RuntimeError(f"the encoded video {self._tmp_path} cannot be read back: {error}") from error

    def _close_audio_source(self) -> None:
        if self._audio is not None:
            self._audio["source"].close()
            self._audio = None

    # -- public API ---------------------------------------------------------------------------
    def write(self, frame) -> None:
        """Append one frame (uint8 ``[H, W, 3]`` numpy, float [0, 1] numpy, or torch ``[C, H, W]``)."""
        if self._closed:
            raise RuntimeError(f"VideoWriter for {self.path} is closed")
        image = frame_to_uint8(frame)
        size = (int(image.shape[0]), int(image.shape[1]))
        if self.frame_size is None:
            self.frame_size = size
            if not self.is_folder:
                self._open_video(*size)
        elif size != self.frame_size:
            raise ValueError(
                f"frame {self.frames_written} is {size[0]}x{size[1]}, the video {self.path} is "
                f"{self.frame_size[0]}x{self.frame_size[1]}: all frames must share one size"
            )
        if self.is_folder:
            target = self._tmp_path / f"{self.frames_written:06d}.png"
            if not cv2.imwrite(str(target), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                raise OSError(f"cannot write frame {target}")
        else:
            video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            video_frame.pts = self.frames_written
            video_frame.time_base = self._time_base
            for packet in self._stream.encode(video_frame):
                self._container.mux(packet)
            self._mux_audio_until((self.frames_written + 1) / self.fps)
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the output and move it to ``path``.

        Returns:
            The destination path.

        Raises:
            ValueError: no frame was written (nothing is created).
        """
        if self._closed:
            return self.path
        try:
            if self.frames_written == 0:
                raise ValueError(f"no frames were written to {self.path}; nothing was created")
            if not self.is_folder:
                self._finish_video()
            self._target.commit()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Discard the temporary output; the destination is left as it was."""
        self._closed = True
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass
            self._container = None
        try:
            self._close_audio_source()
        except Exception:
            self._audio = None
        self._target.discard()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # A writer dropped without close() leaves no temporary file behind.
        if not getattr(self, "_closed", True):
            try:
                self.abort()
            except Exception:
                pass
