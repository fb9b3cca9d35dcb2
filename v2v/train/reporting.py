"""What a run leaves for people to look at: TensorBoard scalars and image strips, a JSONL copy of
the scalars, sample videos, and ``metrics.json``. Only rank 0 creates a :class:`RunReporter`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

__all__ = ["to_rgb", "image_strip", "side_by_side", "RunReporter", "write_json", "write_video"]


def to_rgb(frames: torch.Tensor) -> torch.Tensor:
    """Frames ``[T, C, H, W]`` in [-1, 1] with C = 1 or 3 as RGB ``[T, 3, H, W]`` in [0, 1]."""
    channels = frames.shape[1]
    if channels not in (1, 3):
        raise ValueError(f"can show frames with 1 or 3 channels, got {channels}")
    frames = frames.detach().float().cpu()
    rgb = frames.expand(-1, 3, -1, -1) if channels == 1 else frames
    return ((rgb + 1) * 0.5).clamp(0, 1)


def image_strip(*videos: torch.Tensor) -> torch.Tensor:
    """One image ``[3, rows*H, T*W]``: a row per video (e.g. input, output, target), frames side by side."""
    rows = [torch.cat(list(to_rgb(video)), dim=2) for video in videos]
    return torch.cat(rows, dim=1)


def side_by_side(*videos: torch.Tensor) -> np.ndarray:
    """Videos ``[T, C, H, W]`` in [-1, 1] placed left to right, as uint8 ``[T, H, N*W, 3]``."""
    joined = torch.cat([to_rgb(video) for video in videos], dim=3)
    return (joined.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)


def _atomic_target(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    path = Path(path)
    fd, tmp = _atomic_target(path)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, allow_nan=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 10.0) -> None:
    """Write uint8 frames ``[T, H, W, 3]`` as an H.264 MP4 (atomically, via :class:`v2v.data.VideoWriter`)."""
    from v2v.data import VideoWriter

    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, fps=fps) as writer:
        for frame in frames:
            writer.write(frame)


class RunReporter:
    """TensorBoard event files in the run directory, plus ``scalars.jsonl`` with the same scalars."""

    def __init__(self, run_dir: str | os.PathLike, *, purge_step: int | None = None):
        self.run_dir = Path(run_dir)
        # purge_step drops events a killed run logged after its last checkpoint, so a resumed
        # run's curves do not show the replayed steps twice.
        self.writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=purge_step)
        jsonl = self.run_dir / "scalars.jsonl"
        if purge_step is not None and jsonl.exists():
            kept = [line for line in jsonl.read_text().splitlines() if line and json.loads(line)["step"] < purge_step]
            jsonl.write_text("".join(line + "\n" for line in kept))
        self._scalars = open(jsonl, "a", buffering=1)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Log ``values`` (tag -> number) at ``step``."""
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        self._scalars.write(json.dumps({"step": step, **values}) + "\n")

    def strip(self, tag: str, step: int, *videos: torch.Tensor) -> None:
        """Log an image strip of one clip's videos ``[T, C, H, W]`` (e.g. input, output, target)."""
        self.writer.add_image(tag, image_strip(*videos), step)

    def close(self) -> None:
        """Flush and close the event file and the JSONL log."""
        self.writer.close()
        self._scalars.close()
