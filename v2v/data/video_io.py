"""Streaming video IO: video files through PyAV (FFmpeg) and folders of PNG/JPEG frames.

Readers yield one frame at a time as ``numpy.uint8`` ``[H, W, 3]`` RGB, so memory does not grow with
the video's length; writers encode (or save) each frame as it arrives.

- :func:`open_video_reader` opens a video file (``.mp4``, ``.mov``, ``.mkv``, ``.avi``, ``.webm``,
  ``.m4v``) or a frame folder and returns a reader with ``fps``, ``frame_size`` and ``num_frames``
  (None when a file does not say), and for files ``audio_stream_info``.
- :class:`VideoWriter` writes an H.264 ``.mp4`` (``libx264`` through PyAV, ``yuv420p``; odd sizes use
  ``yuv444p`` so no pixel is cropped or padded), falling back to MPEG-4 part 2 (``mpeg4``) when the
  FFmpeg build has no H.264 encoder; or a folder of PNG frames ``000000.png, 000001.png, ...``. It
  can carry the audio of a source video across (stream copy when the container accepts the codec,
  otherwise re-encoded to AAC), cut at the end of the written video.

Writers write to a hidden temporary name next to the destination and rename it into place only
when :meth:`VideoWriter.close` succeeds, so a failed or interrupted run never leaves a truncated
file (or half a frame folder) under the requested name; an existing destination is replaced only
then.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from v2v.fileio import AtomicTarget

__all__ = [
    "VIDEO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "read_image",
    "list_frame_files",
    "FrameFolderReader",
    "VideoFileReader",
    "rotation_quarter_turns",
    "upright",
    "open_video_reader",
    "read_video",
    "VideoWriter",
    "frame_to_uint8",
]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
DEFAULT_FOLDER_FPS = 25.0
# Audio codecs the MP4/MOV muxers accept as a stream copy; others are re-encoded to AAC.
_MP4_AUDIO_COPY = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``uint8`` ``[H, W, 3]`` RGB (gray is replicated, alpha dropped).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be decoded as an image.
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    # PIL, not cv2.imread: OpenCV returns a gray-filled image for a truncated JPEG with only a
    # warning, PIL raises.
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode.startswith("I"):  # 16/32-bit gray: keep the 8 most significant bits
                wide = np.asarray(image).astype(np.float64)
                scale = 65535.0 if wide.max() > 255 else 255.0
                gray = np.clip(np.rint(wide / scale * 255.0), 0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
            return np.array(image.convert("RGB"))  # a writable copy
    except Exception as error:
        raise ValueError(f"cannot read image {path}: {error} (corrupt, truncated or not an image?)") from error


def list_frame_files(folder: str | os.PathLike, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files of a frame folder in natural order (``2.png`` before ``10.png``).

    Raises:
        FileNotFoundError: the folder does not exist.
        NotADirectoryError: the path is not a folder.
        ValueError: the folder holds no file with one of ``extensions``.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"frame folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"not a frame folder: {folder}")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith(".")]
    if not files:
        raise ValueError(f"frame folder {folder} is empty: no {'/'.join(extensions)} files")
    return sorted(files, key=_natural_key)


class FrameFolderReader:
    """Streaming reader of a folder of PNG/JPEG frames (natural file-name order).

    Args:
        folder: the folder.
        fps: frame rate to report (a folder has none of its own); default 25.

    Iterating yields ``uint8`` ``[H, W, 3]`` RGB frames; every frame must have the size of the
    first (a ValueError names the first file that differs).
    """

    def __init__(self, folder: str | os.PathLike, fps: float = DEFAULT_FOLDER_FPS) -> None:
        self.path = Path(folder)
        self.files = list_frame_files(self.path)
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        self.fps = float(fps)
        first = read_image(self.files[0])
        self.frame_size = (int(first.shape[0]), int(first.shape[1]))
        self.num_frames: int | None = len(self.files)
        self.audio_stream_info = None

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.files:
            image = read_image(path)
            if image.shape[:2] != self.frame_size:
                raise ValueError(
                    f"frame {path} is {image.shape[0]}x{image.shape[1]}, but {self.files[0].name} in the "
                    f"same folder is {self.frame_size[0]}x{self.frame_size[1]}: frames of different sizes"
                )
            yield image

    def close(self) -> None:
        """Nothing to release (files are opened one at a time)."""

    def __enter__(self) -> FrameFolderReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _open_container(path: Path):
    import av

    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise ValueError(f"cannot open video {path}: {error}") from error


def rotation_quarter_turns(degrees: float) -> int:
    """Counter-clockwise ``degrees`` (a display rotation, any sign) as 0, 90, 180 or 270 degrees.

    Raises:
        ValueError: not within 1 degree of a multiple of 90 (frames cannot be turned losslessly).
    """
    quarter = round(degrees / 90)
    if abs(degrees - 90 * quarter) > 1:
        raise ValueError(f"display rotation of {degrees} degrees is not a multiple of 90; only quarter turns are supported")
    return (90 * quarter) % 360


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """``image`` ``[H, W, ...]`` turned counter-clockwise by ``rotation`` degrees (0/90/180/270)."""
    if rotation not in (0, 90, 180, 270):
        raise ValueError(f"rotation must be 0, 90, 180 or 270 degrees, got {rotation}")
    return image if rotation == 0 else np.ascontiguousarray(np.rot90(image, k=rotation // 90))


def _first_frame_rotation(container, path: Path) -> int:
    """The display rotation of the first decoded frame (PyAV reads FFmpeg's display matrix side
    data as ``VideoFrame.rotation``: counter-clockwise degrees); 0 for a file that has none."""
    import av

    try:
        frame = next(container.decode(container.streams.video[0]), None)
    except av.error.FFmpegError as error:
        raise ValueError(f"cannot decode video {path} at frame 0: {error}") from error
    if frame is None:
        raise ValueError(f"video {path} has no decodable frame")
    try:
        return rotation_quarter_turns(frame.rotation)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


class VideoFileReader:
    """Streaming reader of a video file through PyAV.

    Args:
        path: the video file.

    Attributes:
        fps: average frame rate (float).
        frame_size: ``(H, W)`` of the frames as yielded, i.e. upright (a portrait phone clip stored
            as 1920x1080 with a 90 degree rotation is 1080x1920 here).
        rotation: counter-clockwise degrees (0, 90, 180 or 270) by which the frames are turned to
            stand upright, from the display matrix the file carries (what phones write); 0 when
            there is none.
        num_frames: frame count stored in the container, or None when it does not say.
        audio_stream_info: ``{"codec", "sample_rate", "channels"}`` of the first audio stream, or
            None; pass the reader's ``path`` as ``audio_from`` to :class:`VideoWriter` to keep it.

    Iterating decodes the first video stream from the start and yields upright ``uint8``
    ``[H, W, 3]`` RGB frames; each iteration opens the file afresh, so a reader can be iterated
    again. Writers store no rotation, so frames written as read play upright.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"video not found: {self.path}")
        container = _open_container(self.path)
        try:
            if not container.streams.video:
                raise ValueError(f"{self.path} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.fps = float(rate) if rate else DEFAULT_FOLDER_FPS
            if stream.height <= 0 or stream.width <= 0:
                raise ValueError(f"{self.path}: video stream reports no frame size")
            self.rotation = _first_frame_rotation(container, self.path)
            turned = self.rotation in (90, 270)
            self.frame_size = (int(stream.width), int(stream.height)) if turned else (int(stream.height), int(stream.width))
            self.num_frames = int(stream.frames) if stream.frames else None
            audio = container.streams.audio[0] if container.streams.audio else None
            self.audio_stream_info = (
                {"codec": audio.codec_context.name, "sample_rate": audio.codec_context.sample_rate,
                 "channels": audio.codec_context.channels}
                if audio is not None else None
            )
        finally:
            container.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        import av

        container = _open_container(self.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            index = 0
            try:
                for frame in container.decode(stream):
                    image = upright(frame.to_ndarray(format="rgb24"), self.rotation)
                    if image.shape[:2] != self.frame_size:
                        raise ValueError(
                            f"{self.path}: frame {index} is {image.shape[0]}x{image.shape[1]}, the stream "
                            f"starts at {self.frame_size[0]}x{self.frame_size[1]} (frames of different sizes)"
                        )
                    index += 1
                    yield image
            except av.error.FFmpegError as error:
                raise ValueError(f"cannot decode video {self.path} at frame {index}: {error}") from error
            if index == 0:
                raise ValueError(f"video {self.path} has no decodable frame")
        finally:
            container.close()

    def close(self) -> None:
        """Nothing to release: containers are opened per iteration and closed after it."""

    def __enter__(self) -> VideoFileReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_video_reader(path: str | os.PathLike, fps: float | None = None) -> FrameFolderReader | VideoFileReader:
    """Open a video file or a frame folder for streaming reads.

    Args:
        path: a video file (see :data:`VIDEO_EXTENSIONS`) or a folder of PNG/JPEG frames.
        fps: frame rate for a folder (default 25); for a file it must be None (the file's rate is used).

    Returns:
        A :class:`VideoFileReader` or :class:`FrameFolderReader`; iterate it for ``uint8``
        ``[H, W, 3]`` RGB frames.
    """
    path = Path(path)
    if path.is_dir():
        return FrameFolderReader(path, fps if fps is not None else DEFAULT_FOLDER_FPS)
    if not path.exists():
        raise FileNotFoundError(f"no video file or frame folder at {path}")
    if fps is not None:
        raise ValueError(f"fps can only be given for frame folders; {path} is a file with its own rate")
    return VideoFileReader(path)


def read_video(path: str | os.PathLike, max_frames: int | None = None, fps: float | None = None) -> tuple[torch.Tensor, float]:
    """Read a whole (short) video or frame folder into memory.

    Args:
        path: video file or frame folder.
        max_frames: read at most this many frames.
        fps: frame rate of a folder (see :func:`open_video_reader`).

    Returns:
        ``(frames, fps)`` with frames ``[T, 3, H, W]`` float32 in [0, 1].
    """
    reader = open_video_reader(path, fps=fps)
    frames = []
    for image in reader:
        frames.append(torch.from_numpy(image).permute(2, 0, 1))
        if max_frames is not None and len(frames) >= max_frames:
            break
    return torch.stack(frames).float() / 255.0, reader.fps


def frame_to_uint8(frame) -> np.ndarray:
    """Convert a frame to ``uint8`` ``[H, W, 3]`` RGB.

    Accepted: numpy ``[H, W, 3]`` / ``[H, W]`` (uint8, or float in [0, 1]); torch ``[3, H, W]`` /
    ``[1, H, W]`` (float in [0, 1], or uint8). Floats are clamped to [0, 1] and rounded; a gray
    frame is replicated to RGB.
    """
    if isinstance(frame, torch.Tensor):
        if frame.dim() != 3 or frame.shape[0] not in (1, 3):
            raise ValueError(f"a torch frame must be [3, H, W] or [1, H, W], got {tuple(frame.shape)}")
        array = frame.detach().cpu().permute(1, 2, 0).numpy()
    elif isinstance(frame, np.ndarray):
        array = frame[:, :, None] if frame.ndim == 2 else frame
        if array.ndim != 3 or array.shape[2] not in (1, 3):
            raise ValueError(f"a numpy frame must be [H, W, 3] or [H, W], got {frame.shape}")
    else:
        raise TypeError(f"a frame must be a numpy array or torch tensor, got {type(frame).__name__}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"a frame must be uint8 or float in [0, 1], got {array.dtype}")
        if not np.isfinite(array).all():
            raise ValueError("a frame contains NaN or infinite values")
        array = np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array)


def _h264_available() -> bool:
    import av

    try:
        av.Codec("libx264", "w")
        return True
    except Exception:
        return False


class VideoWriter:
    """Streaming writer of an encoded video file or a folder of PNG frames.

    Args:
        path: destination. A name ending in a video extension (``.mp4``, ``.mkv``, ``.mov``, ...)
            writes an encoded video; any other path writes a frame folder of PNGs.
        fps: frame rate (stored in a video file; ignored for frame folders).
        codec: video encoder; default ``libx264`` when the FFmpeg build has it, else ``mpeg4``.
        crf: H.264 constant rate factor (lower is better quality; 0 is lossless).
        audio_from: optional source video whose first audio stream is carried into the output
            (video files only), cut at the end of the written frames.
        overwrite: replace an existing destination on success (default); False raises
            FileExistsError up front.

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
    ) -> None:
        self.path = Path(path)
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        self.fps = float(fps)
        self.is_folder = self.path.suffix.lower() not in VIDEO_EXTENSIONS
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists (pass overwrite=True to replace it)")
        if self.path.exists() and self.is_folder != self.path.is_dir():
            raise ValueError(f"{self.path} exists as a {'folder' if self.path.is_dir() else 'file'}; "
                             "refusing to replace it with the other kind")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"the folder of {self.path} does not exist")
        if self.is_folder and audio_from is not None:
            raise ValueError("audio_from needs a video file destination, not a frame folder")
        self.codec = codec or ("libx264" if _h264_available() else "mpeg4")
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
        import av

        rate = Fraction(self.fps).limit_denominator(1_000_000)
        self._time_base = 1 / rate
        self._container = av.open(str(self._tmp_path), mode="w")
        stream = self._container.add_stream(self.codec, rate=rate)
        stream.width, stream.height = width, height
        odd = height % 2 or width % 2
        if self.codec in ("libx264", "h264"):
            stream.pix_fmt = "yuv444p" if odd else "yuv420p"
            stream.options = {"crf": str(self.crf)}
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
        source = _open_container(self.audio_from)
        if not source.streams.audio:
            source.close()
            return
        in_stream = source.streams.audio[0]
        name = in_stream.codec_context.name
        copy = self.path.suffix.lower() not in (".mp4", ".m4v", ".mov") or name in _MP4_AUDIO_COPY
        if copy:
            if hasattr(self._container, "add_stream_from_template"):  # PyAV >= 14
                out_stream = self._container.add_stream_from_template(in_stream)
            else:
                out_stream = self._container.add_stream(template=in_stream)
        else:
            out_stream = self._container.add_stream("aac", rate=in_stream.codec_context.sample_rate,
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
        import av

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
            import av

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
