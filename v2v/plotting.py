"""Every picture the package draws, with one plotting library (matplotlib, its ``Agg`` backend).

- :func:`residual_maps`: ``|O_t - warp(O_{t-1})|`` on valid pixels, the residual the temporal loss
  penalises (where an output flickers it lights up, where it is stable it stays dark), and
  :func:`heat`, its colours (inferno);
- :func:`per_frame_plot`: a measure per frame pair of every video of a scoring report (``v2v.score
  --plot``);
- :func:`loss_plot`: the curves of a run's ``scalars.jsonl`` (``loss.png``);
- :func:`pyplot` for the figures of a grid (:mod:`v2v.figures`), and :func:`png` to encode a figure.

Every function returns PNG bytes or pixels; writing them is :mod:`v2v.fileio`'s.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: pictures are files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import v2vcore  # noqa: E402

__all__ = ["pyplot", "png", "heat", "residual_maps", "per_frame_plot", "loss_plot"]


def pyplot():
    """matplotlib's ``pyplot`` on the file-only ``Agg`` backend."""
    return plt


def png(figure: Any, dpi: int = 110) -> bytes:
    """A figure encoded as PNG (the figure is closed)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def heat(values: torch.Tensor, scale: float) -> torch.Tensor:
    """Maps ``[T, H, W]`` as RGB ``[T, 3, H, W]`` in [0, 1] through the inferno colour map, full heat at ``scale``."""
    colours = matplotlib.colormaps["inferno"]((values / scale).clamp(0, 1).numpy())[..., :3]
    return torch.from_numpy(colours).permute(0, 3, 1, 2).float()


def residual_maps(video: torch.Tensor, flow_fwd: torch.Tensor, flow_bwd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``|O_t - warp(O_{t-1})|`` averaged over channels, zero where the consistency mask is off, and that mask.

    Args:
        video: ``[T, C, H, W]`` in [0, 1].
        flow_fwd, flow_bwd: the input video's flows ``[T-1, 2, H, W]``.

    Returns:
        ``(maps, mask)``, ``[T-1, H, W]`` float and bool: entry k is the pair (k, k+1).
    """
    residual, mask = v2vcore.residual_error(video.float().unsqueeze(0), flow_fwd.float().unsqueeze(0),
                                            flow_bwd.float().unsqueeze(0), return_mask=True)
    return residual[0].abs().mean(dim=1), mask[0, :, 0]


def per_frame_plot(report: dict[str, Any], key: str = "warping_error") -> bytes:
    """A PNG of ``key`` per frame pair of every video of a scoring report
    (:func:`v2v.scoring.score_videos`); the x axis is the frame t of the pair (t-1, t)."""
    figure, axis = plt.subplots(figsize=(9.6, 4.2))
    for video in report["videos"]:
        values = np.asarray(video["per_frame"].get(key, []), dtype=np.float64)
        axis.plot(np.arange(1, len(values) + 1), values, marker="." if len(values) < 2 else None, label=Path(video["path"]).name[:40])
    axis.set_xlabel("frame t of the pair (t-1, t)")
    axis.set_ylabel(key)
    axis.set_ylim(bottom=0)
    axis.set_title(f"{key} per frame pair, protocol {report['protocol']['name']}", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    return png(figure)


def loss_plot(jsonl: str | os.PathLike, tags: list[str]) -> bytes | None:
    """The curves of ``tags`` in a ``scalars.jsonl`` as a grid of panels (one per tag, two per row,
    each its own y range, steps on x, titled with the last value); None when no tag has a finite value."""
    series: dict[str, list[tuple[int, float]]] = {tag: [] for tag in tags}
    for line in Path(jsonl).read_text().splitlines():
        row = json.loads(line)
        for tag in tags:
            if tag in row and row[tag] is not None and math.isfinite(row[tag]):
                series[tag].append((row["step"], row[tag]))
    series = {tag: points for tag, points in series.items() if points}
    if not series:
        return None
    columns = min(2, len(series))
    rows = math.ceil(len(series) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.4 * rows), squeeze=False)
    for axis, (tag, points) in zip(axes.flat, series.items()):
        steps, values = zip(*points)
        axis.plot(steps, values, marker="." if len(points) == 1 else None, linewidth=1)
        axis.set_title(f"{tag}  last {values[-1]:.4g}", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.set_xlabel("step", fontsize=7)
    for axis in list(axes.flat)[len(series):]:
        axis.axis("off")
    figure.tight_layout()
    return png(figure, dpi=100)
