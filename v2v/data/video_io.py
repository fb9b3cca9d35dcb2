"""Streaming video IO: video files through PyAV (FFmpeg) and folders of PNG/JPEG frames.

Readers yield one frame at a time as ``numpy.uint8`` ``[H, W, 3]`` RGB, so memory does not grow with
the video's length.

- :func:`open_video_reader` opens a video file (``.mp4``, ``.mov``, ``.mkv``, ``.avi``, ``.webm``,
  ``.m4v``) or a frame folder and returns a reader with ``fps``, ``frame_size`` and ``num_frames``
  (None when a file does not say), and for files ``audio_stream_info``.
- :func:`frame_to_uint8` turns any frame form the package uses into the ``uint8`` ``[H, W, 3]`` RGB a
  file holds (:func:`v2v.frames.to_uint8`'s rounding).

Writing is :mod:`v2v.data.video_writer`'s.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import torch

from v2v.frames import to_uint8

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
    "open_container",
    "read_video",
    "frame_to_uint8",
]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
DEFAULT_FOLDER_FPS = 25.0


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


def open_container(path: Path):
    """A PyAV container of ``path`` opened for reading, or a ValueError naming the file."""
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
        container = open_container(self.path)
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
        container = open_container(self.path)
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
    array = to_uint8(array)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array)
