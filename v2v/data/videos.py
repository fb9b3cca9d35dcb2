"""A folder of real videos as a data set: ``data.source=videos``.

``ROOT/train`` and ``ROOT/val`` hold the videos: every file PyAV decodes (whatever its extension)
and every folder of PNG/JPEG frames, at the top level of the split's folder. Each video is
decoded once, scaled so that its shorter side is ``short_side`` pixels (area averaging; never
enlarged), cut into shots by the scene-cut detector (:mod:`v2v.scene_cuts`, translation's settings:
a still title or calibration picture in a video's first 15 frames is not cut off), and stored on disk
as raw 8-bit frames, one file per shot (:func:`materialize_video`); items then read their frames
from there through a memory map, so memory does not grow with the corpus or a video's length.

- Training (``train``): windows of ``clip_length`` consecutive frames inside one shot, one every
  ``clip_stride`` frames (a window never crosses a cut), with the configured random crop and flip.
- Evaluation (``val``): every shot of every video, whole (capped at ``max_frames``).

A file PyAV cannot read, an empty or corrupt video, or a folder without frames is skipped with a
warning naming it (one bad file does not stop a long run); a split with no usable video at all is
an error naming the folder. The store of decoded shots is keyed by the file's path, size and
modification time and by the scaling and cut settings, written atomically, and reused by every
run and process.

Convention:
    Shots are listed in file-name order, then in time order; an item's name is
    ``<video stem>#<shot>@<start frame>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from v2v.fileio import atomic_path
from v2v.flow import FlowCache, FlowProvider
from v2v.scene_cuts import DEFAULT_MIN_SHOT_LENGTH, DEFAULT_THRESHOLD, SceneCutDetector
from v2v.tasks import get_task

from .processing import ClipProcessing, check_processing
from .samples import assemble, input_flows
from .video_io import IMAGE_EXTENSIONS, open_video_reader

__all__ = ["VIDEO_SPLITS", "FRAME_STORE_ENV", "default_frame_store", "Shot", "find_videos", "materialize_video", "VideoFolderDataset"]

VIDEO_SPLITS = ("train", "val")
"""The sub-folders of a videos root."""

FRAME_STORE_ENV = "V2V_FRAME_STORE"
"""Environment variable naming the folder of decoded shots that ``data.materialize_dir: null`` uses."""

_STORE_FORMAT = 1  # bump when the stored layout changes: older entries are then decoded again



def default_frame_store() -> Path:
    """Where decoded shots go unless ``data.materialize_dir`` says: ``$V2V_FRAME_STORE``, else
    ``$XDG_CACHE_HOME/v2v/frames``, else ``~/.cache/v2v/frames``."""
    if os.environ.get(FRAME_STORE_ENV):
        return Path(os.environ[FRAME_STORE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "v2v" / "frames"


@dataclass(frozen=True)
class Shot:
    """One shot of a video as stored: ``frames`` frames of ``height x width`` RGB, uint8, in ``path``."""

    video: str
    index: int
    path: Path
    frames: int
    height: int
    width: int
    first_frame: int
    """The shot's first frame in the source video."""

    def read(self, start: int, length: int) -> torch.Tensor:
        """Frames ``start .. start + length - 1`` as float ``[length, 3, H, W]`` in [0, 1]."""
        stored = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(self.frames, self.height, self.width, 3))
        window = np.array(stored[start : start + length])  # a copy: the map is closed when it goes
        return torch.from_numpy(window).permute(0, 3, 1, 2).float() / 255.0


def find_videos(folder: Path) -> list[Path]:
    """The candidate videos of a split folder, in natural name order: its files, and its folders
    that hold frames (hidden entries skipped).

    Raises:
        FileNotFoundError: the folder does not exist.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"videos folder {folder} does not exist (data.source=videos reads ROOT/train and ROOT/val)")
    entries = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() or (entry.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in entry.iterdir())):
            entries.append(entry)
        elif entry.is_dir():
            warnings.warn(f"videos: skipping folder {entry}: it holds no PNG/JPEG frames", RuntimeWarning, stacklevel=2)
    return entries


def _scaled_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """The size a ``height x width`` frame is stored at: shorter side ``short_side``, never enlarged."""
    if short_side is None or min(height, width) <= short_side:
        return height, width
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _store_key(source: Path, short_side: int | None, cut_threshold: float, min_shot: int) -> str:
    status = source.stat()
    identity = {"path": str(source.resolve()), "size": status.st_size if source.is_file() else None,
                "mtime_ns": status.st_mtime_ns, "short_side": short_side, "cut_threshold": cut_threshold,
                "min_shot_length": min_shot, "format": _STORE_FORMAT}
    if source.is_dir():  # a frame folder changes when any frame does
        identity["frames"] = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(source.iterdir())]
    return hashlib.blake2b(json.dumps(identity, sort_keys=True).encode(), digest_size=12).hexdigest()


def materialize_video(
    source: Path,
    store: Path,
    *,
    short_side: int | None,
    cut_threshold: float = DEFAULT_THRESHOLD,
    min_shot_length: int = DEFAULT_MIN_SHOT_LENGTH,
) -> list[Shot]:
    """Decode ``source`` once into shots stored under ``store`` (or read them back when stored).

    Frames stream from the reader to disk one at a time: a video of any length takes the memory of
    a frame.

    Args:
        source: a video file or a frame folder.
        store: the folder of decoded shots (:func:`default_frame_store`).
        short_side: scale frames so their shorter side is this many pixels (None or smaller: keep).
        cut_threshold, min_shot_length: of :class:`v2v.scene_cuts.SceneCutDetector`.

    Raises:
        ValueError: the source cannot be decoded (corrupt, empty, not a video), naming it.
    """
    folder = store / _store_key(source, short_side, cut_threshold, min_shot_length)
    manifest = folder / "shots.json"
    if manifest.is_file():
        return [Shot(**{**entry, "path": folder / entry["path"]}) for entry in json.loads(manifest.read_text())["shots"]]
    store.mkdir(parents=True, exist_ok=True)
    reader = open_video_reader(source)
    height, width = _scaled_size(*reader.frame_size, short_side)
    detector = SceneCutDetector(cut_threshold, min_shot_length)
    shots: list[dict] = []
    with atomic_path(folder, directory=True) as temporary:
        handle = None
        try:
            for index, image in enumerate(reader):
                if (height, width) != image.shape[:2]:
                    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                if detector.update(image) or handle is None:
                    if handle is not None:
                        handle.close()
                    name = f"shot-{len(shots):04d}.u8"
                    shots.append({"video": source.name, "index": len(shots), "path": name, "frames": 0,
                                  "height": height, "width": width, "first_frame": index})
                    handle = open(temporary / name, "wb")
                handle.write(np.ascontiguousarray(image).tobytes())
                shots[-1]["frames"] += 1
        finally:
            if handle is not None:
                handle.close()
        if not shots:
            raise ValueError(f"video {source} has no frames")
        (temporary / "shots.json").write_text(json.dumps({"source": str(source), "shots": shots}, indent=1))
    return [Shot(**{**entry, "path": folder / entry["path"]}) for entry in shots]


class VideoFolderDataset(Dataset):
    """The videos of ``root/<split>`` as training windows or whole shots (see the module docstring).

    Args:
        root: the videos root (``train/`` and ``val/`` inside).
        split: ``"train"`` or ``"val"``.
        task: a task whose target is the clip itself (colorization, superres); a mask task is an
            error (videos have no masks).
        short_side: the stored frames' shorter side (None: native size).
        clip_length, clip_stride: training windows (stride None: ``clip_length``, windows that do
            not overlap).
        whole_videos: one item per shot; default True for every split but ``"train"``.
        max_frames: cap on a whole shot's length.
        crop_size, hflip: training augmentation.
        flow_provider: an estimating provider (videos have no exact flow).
        flow_cache: optional :class:`v2v.flow.FlowCache`.
        store: the folder of decoded shots.
        progress: show a progress bar while videos are decoded for the first time.
        processing: the flickering processing of a ``stabilize`` clip (required for that task,
            :class:`v2v.data.processing.ClipProcessing`).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str,
        task: str,
        *,
        short_side: int | None,
        clip_length: int = 5,
        clip_stride: int | None = None,
        whole_videos: bool | None = None,
        max_frames: int | None = None,
        crop_size: tuple[int, int] | None = None,
        hflip: bool = False,
        flow_provider: FlowProvider,
        flow_cache: FlowCache | None = None,
        store: str | os.PathLike,
        progress: bool = True,
        processing: ClipProcessing | None = None,
    ) -> None:
        if split not in VIDEO_SPLITS:
            raise ValueError(f"the videos source has the splits {VIDEO_SPLITS}, got {split!r}")
        if get_task(task).needs_masks:
            raise ValueError(f"the {task} task needs foreground masks, and a folder of videos has none")
        self.root, self.split, self.task = Path(root), split, task
        self.crop_size = tuple(crop_size) if crop_size is not None else None
        self.hflip = bool(hflip)
        self.flow_provider = flow_provider
        self.flow_cache = flow_cache
        self.processing = check_processing(get_task(task), processing)
        whole = split != "train" if whole_videos is None else whole_videos
        stride = clip_length if clip_stride is None else clip_stride
        self.shots: list[Shot] = []
        sources = find_videos(self.root / split)
        for source in tqdm(sources, desc=f"videos {split}", unit="video", disable=not progress, leave=False):
            try:
                self.shots += materialize_video(source, Path(store), short_side=short_side)
            except (ValueError, OSError) as error:
                warnings.warn(f"videos: skipping {source}: {error}", RuntimeWarning, stacklevel=2)
        self.items: list[tuple[int, int, int]] = []  # (shot, start, length)
        for number, shot in enumerate(self.shots):
            if whole:
                length = shot.frames if max_frames is None else min(shot.frames, max_frames)
                if length >= 2:
                    self.items.append((number, 0, length))
            else:
                self.items += [(number, start, clip_length) for start in range(0, shot.frames - clip_length + 1, stride)]
            if self.crop_size is not None and (self.crop_size[0] > shot.height or self.crop_size[1] > shot.width):
                raise ValueError(f"crop_size {self.crop_size} is larger than the frames of {shot.video} "
                                 f"({shot.height}x{shot.width} as stored): lower data.crop_size or raise data.short_side")
        if not self.items:
            what = f"a window of {clip_length} frames" if not whole else "a shot of 2 frames"
            raise ValueError(f"the videos in {self.root / split} give no {what} "
                             f"({len(sources)} candidates, {len(self.shots)} shots read)")

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> tuple[torch.Tensor, Shot, int]:
        """Frames ``[T, 3, H, W]`` float in [0, 1] of item ``index``, its shot and start frame."""
        if not 0 <= index < len(self.items):
            raise IndexError(f"index {index} out of range for {len(self.items)} items")
        number, start, length = self.items[index]
        shot = self.shots[number]
        return shot.read(start, length), shot, start

    def flows(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Input-video flows of item ``index`` before augmentation (computes and caches them)."""
        frames, _, _ = self.load(index)
        return input_flows(get_task(self.task).flow_frames(frames), self.flow_provider, self.flow_cache, None)

    def __getitem__(self, index: int) -> dict:
        frames, shot, start = self.load(index)
        name = f"{Path(shot.video).stem}#{shot.index}"
        return assemble(frames, None, self.task, self.flow_provider, self.flow_cache, None, self.crop_size, self.hflip, name, start,
                        processing=self.processing, index=index)

