"""What a run leaves for people to look at: TensorBoard scalars, text and image strips, a JSONL copy
of the scalars, a plain-text log, validation pictures as PNG, a loss plot, sample videos and
``metrics.json``. Only rank 0 creates a :class:`RunReporter`.

Pictures are downscaled to a frame height of ``train.image_height`` pixels before they are stored
(a full 480x854 strip of eight frames would be megabytes per entry in the event file).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams
from tqdm import tqdm

from v2v.data.video_writer import VideoWriter
from v2v.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from v2v.frames import to_uint8, to_unit_range
from v2v.plotting import heat, loss_plot, residual_maps
from v2vcore.flow import flow_to_color

__all__ = [
    "RESIDUAL_SCALE",
    "to_rgb",
    "downscale",
    "image_strip",
    "validation_strip",
    "side_by_side",
    "plot_scalars",
    "write_png",
    "RunReporter",
    "write_json",
    "write_video",
]

RESIDUAL_SCALE = 0.25
"""|E^o| (mean over channels, on [0, 1] frames) shown at full heat in the strips: a fixed scale, so
strips of successive validations compare."""


def to_rgb(frames: torch.Tensor) -> torch.Tensor:
    """Frames ``[T, C, H, W]`` in [-1, 1] with C = 1 or 3 as RGB ``[T, 3, H, W]`` in [0, 1]."""
    channels = frames.shape[1]
    if channels not in (1, 3):
        raise ValueError(f"can show frames with 1 or 3 channels, got {channels}")
    frames = frames.detach().float().cpu()
    rgb = frames.expand(-1, 3, -1, -1) if channels == 1 else frames
    return to_unit_range(rgb).clamp(0, 1)


def downscale(frames: torch.Tensor, height: int) -> torch.Tensor:
    """Frames ``[T, C, H, W]`` resized to ``height`` rows (area averaging, aspect ratio kept) when
    taller; unchanged otherwise."""
    if frames.shape[-2] <= height:
        return frames
    width = max(1, round(frames.shape[-1] * height / frames.shape[-2]))
    return F.interpolate(frames.float(), size=(height, width), mode="area")


def image_strip(*videos: torch.Tensor, height: int | None = None) -> torch.Tensor:
    """One image ``[3, rows*H, T*W]``: a row per video (e.g. input, output, target) in [-1, 1],
    frames side by side, each frame at most ``height`` pixels high."""
    rows = [to_rgb(video) if height is None else downscale(to_rgb(video), height) for video in videos]
    return torch.cat([torch.cat(list(row), dim=2) for row in rows], dim=1)


def validation_strip(
    video: torch.Tensor,
    output: torch.Tensor,
    target: torch.Tensor,
    flow_fwd: torch.Tensor,
    flow_bwd: torch.Tensor,
    *,
    height: int,
) -> torch.Tensor:
    """The validation picture ``[3, 6*h, T*w]`` in [0, 1], rows top to bottom:

    input, output, target (each in [-1, 1] ``[T, C, H, W]``); the heat map of ``|E^o|``, the output's
    masked residual (mean over channels, on [0, 1] frames, full heat at :data:`RESIDUAL_SCALE`);
    the consistency mask ``c`` (white: pixel checked, black: occluded, out of frame or on a motion
    boundary); the backward flow in the Middlebury colours (white: no motion, one scale for the
    whole strip). Column t shows frame t; the residual, mask and flow of the pair (t-1, t) are
    drawn under frame t, and column 0, which has no pair, is gray.
    """
    frames = video.shape[0]
    if not (output.shape[0] == target.shape[0] == frames and flow_bwd.shape[0] == flow_fwd.shape[0] == frames - 1):
        raise ValueError(
            f"validation_strip needs T frames and T-1 flows, got input {tuple(video.shape)}, output "
            f"{tuple(output.shape)}, target {tuple(target.shape)}, flows {tuple(flow_fwd.shape)} {tuple(flow_bwd.shape)}"
        )
    rows = [to_rgb(video), to_rgb(output), to_rgb(target)]
    size = tuple(video.shape[-2:])
    gray = torch.full((1, 3, *size), 0.5)
    if frames >= 2:
        maps, mask = residual_maps(to_unit_range(output.float()), flow_fwd, flow_bwd)
        consistency = mask.float().unsqueeze(1).expand(-1, 3, -1, -1)
        colours = flow_to_color(flow_bwd.float())
        rows += [torch.cat([gray, heat(maps, RESIDUAL_SCALE)]), torch.cat([gray, consistency]), torch.cat([gray, colours])]
    else:
        rows += [gray, gray, gray]
    rows = [downscale(row, height) for row in rows]
    return torch.cat([torch.cat(list(row), dim=2) for row in rows], dim=1)


def side_by_side(*videos: torch.Tensor) -> np.ndarray:
    """Videos ``[T, C, H, W]`` in [-1, 1] placed left to right, as uint8 ``[T, H, N*W, 3]``."""
    joined = torch.cat([to_rgb(video) for video in videos], dim=3)
    return to_uint8(joined.permute(0, 2, 3, 1).numpy())


def write_png(path: str | os.PathLike, image: torch.Tensor) -> None:
    """Write an RGB image ``[3, H, W]`` in [0, 1] as PNG, atomically."""
    path = Path(path)
    pixels = to_uint8(image.permute(1, 2, 0).numpy())
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"OpenCV could not encode {path} as PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, encoded.tobytes())


def plot_scalars(jsonl: str | os.PathLike, png: str | os.PathLike, tags: list[str]) -> None:
    """Draw the curves of ``tags`` from a ``scalars.jsonl`` (:func:`v2v.plotting.loss_plot`) and write
    the PNG atomically; nothing is written while no tag has a value."""
    picture = loss_plot(jsonl, tags)
    if picture is not None:
        atomic_write_bytes(png, picture)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented, strict JSON (NaN as null), atomically, creating its folder
    (:func:`v2v.fileio.atomic_write_json`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, data)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 10.0) -> None:
    """Write uint8 frames ``[T, H, W, 3]`` as an H.264 MP4 (atomically, via :class:`v2v.data.VideoWriter`)."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, fps=fps) as writer:
        for frame in frames:
            writer.write(frame)


class RunReporter:
    """TensorBoard event files in the run directory, ``scalars.jsonl`` with the same scalars, and
    ``train.log``, a plain-text log of the run (appended to across resumes).

    Args:
        run_dir: the run directory.
        purge_step: a resumed run's first step: events and JSONL lines logged at or after it by a
            killed attempt are dropped, so the curves do not show replayed steps twice.
    """

    def __init__(self, run_dir: str | os.PathLike, *, purge_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=purge_step)
        self.jsonl = self.run_dir / "scalars.jsonl"
        if purge_step is not None and self.jsonl.exists():
            kept = [line for line in self.jsonl.read_text().splitlines() if line and json.loads(line)["step"] < purge_step]
            atomic_write_text(self.jsonl, "".join(line + "\n" for line in kept))
        self._scalars = open(self.jsonl, "a", buffering=1)
        self._log = open(self.run_dir / "train.log", "a", buffering=1)

    def log(self, message: str) -> None:
        """Print ``message`` (above the progress bar) and append it, time-stamped, to ``train.log``."""
        tqdm.write(message)
        self._log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Log ``values`` (tag -> number) at ``step``."""
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)
        self._scalars.write(json.dumps({"step": step, **values}) + "\n")

    def strip(self, tag: str, step: int, *videos: torch.Tensor, height: int | None = None) -> None:
        """Log an image strip of one clip's videos ``[T, C, H, W]`` (e.g. input, output, target)."""
        self.writer.add_image(tag, image_strip(*videos, height=height), step)

    def image(self, tag: str, step: int, image: torch.Tensor) -> None:
        """Log an RGB image ``[3, H, W]`` in [0, 1]."""
        self.writer.add_image(tag, image, step)

    def describe(self, config_yaml: str, hyperparameters: dict[str, Any], metrics: list[str]) -> None:
        """Put the resolved config in TensorBoard's text tab and ``hyperparameters`` in its HParams
        tab, linked to the scalar tags ``metrics`` (e.g. ``val/psnr``)."""
        # Indented by four spaces, TensorBoard's markdown shows the YAML verbatim.
        self.writer.add_text("config", "".join(f"    {line}\n" for line in config_yaml.splitlines()), 0)
        experiment, session_start, session_end = hparams(hyperparameters, {tag: float("nan") for tag in metrics})
        for summary in (experiment, session_start, session_end):
            self.writer.file_writer.add_summary(summary)

    def flush(self) -> None:
        """Push buffered events to disk."""
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file and the text logs."""
        self.writer.close()
        self._scalars.close()
        self._log.close()
