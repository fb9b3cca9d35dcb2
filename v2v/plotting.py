"""Every picture the package draws, with one plotting library (matplotlib, its ``Agg`` backend).

- :func:`residual_maps`: ``|O_t - warp(O_{t-1})|`` on valid pixels, the residual the temporal loss
  penalises (where an output flickers it lights up, where it is stable it stays dark), and
  :func:`heat`, its colours (inferno);
- :func:`per_frame_plot`: a measure per frame pair of every video of a scoring report (``v2v.score
  --plot``);
- :func:`loss_plot`: the curves of a run's ``scalars.jsonl`` (``loss.png``);
- :func:`fidelity_stability_plot`: methods as points and curves of fidelity against stability, a
  panel per case (``benchmarks/stabilize_eval.py``);
- :func:`frame_strip_plot`: rows of frames over a per-frame measure of several videos;
- :func:`pyplot` for the figures of a grid (:mod:`v2v.figures`), and :func:`png` to encode a figure.

Every function returns PNG bytes or pixels; writing them is :mod:`v2v.fileio`'s.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: pictures are files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import v2vcore  # noqa: E402

__all__ = ["pyplot", "png", "heat", "residual_maps", "per_frame_plot", "loss_plot", "fidelity_stability_plot", "frame_strip_plot"]


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


def fidelity_stability_plot(panels: Mapping[str, Mapping[str, Sequence[tuple[float, float, str]]]], *, x_label: str,
                            y_label: str, title: str = "", y_ceiling: float = math.inf) -> bytes:
    """Fidelity against stability, one panel per case: each series is a curve (two points or more,
    each annotated with its label, e.g. a strength) or a single point.

    Args:
        panels: ``{panel title: {series name: [(x, y, label), ...]}}``. A y of ``inf`` (a video
            compared with itself) or above ``y_ceiling`` is drawn on a band above the other points,
            marked ``y > y_ceiling or inf`` (or ``y = inf``), so that near-identical videos do not squash
            the region where methods differ.
        x_label, y_label: the axes' titles; title: the figure's.
        y_ceiling: the fidelity above which points share the top band.

    Returns:
        PNG bytes: the panels side by side, one legend under them (a series keeps its colour and
        marker in every panel).
    """
    count = max(1, len(panels))
    names = list(dict.fromkeys(name for series in panels.values() for name in series))
    colours = plt.get_cmap("tab20").colors
    markers = "*DsP^vXoph"
    singles = [name for name in names if all(len(panels[p].get(name, ())) <= 1 for p in panels)]
    # tab20 pairs a dark and a light shade of ten hues: the first ten series get the dark ones.
    style = {name: {"color": colours[(2 * k + k // 10) % 20]} for k, name in enumerate(names)}
    for k, name in enumerate(singles):
        style[name] |= {"marker": markers[k % len(markers)], "markersize": 9, "linestyle": "none"}
    for name in names:
        style[name].setdefault("marker", "o")
        style[name].setdefault("markersize", 4)
    figure, axes = plt.subplots(1, count, figsize=(4.2 * count, 3.6), squeeze=False)
    shown = [y for series in panels.values() for points in series.values() for _, y, _ in points if y <= y_ceiling]
    band = (max(shown) if shown else 0.0) + 3.0
    clipped = any(y > y_ceiling for series in panels.values() for points in series.values() for _, y, _ in points)
    handles: dict[str, Any] = {}
    for axis, (panel, series) in zip(axes.flat, panels.items()):
        for name, points in series.items():
            xs = [x for x, _, _ in points]
            ys = [y if y <= y_ceiling else band for _, y, _ in points]
            (handles[name],) = axis.plot(xs, ys, label=name, linewidth=1.2, **style[name])
            for x, y, label in zip(xs, ys, (label for _, _, label in points)):
                if label:
                    axis.annotate(label, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6)
        if clipped:
            axis.axhline(band, color="0.8", linewidth=0.6, zorder=0)
            mark = "= inf" if math.isinf(y_ceiling) else f"> {y_ceiling:g} or inf"
            axis.annotate(f"{y_label.split(' ')[0]} {mark}", (0.01, band), xycoords=("axes fraction", "data"),
                          xytext=(0, -9), textcoords="offset points", fontsize=6, color="0.4")
        axis.set_title(panel, fontsize=9)
        axis.set_xlabel(x_label, fontsize=8)
        axis.set_ylabel(y_label, fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    columns = max(1, min(len(names), 4))
    figure.legend([handles[name] for name in names], names, loc="lower center", ncol=columns, fontsize=7, frameon=False)
    rows = math.ceil(len(names) / columns) if names else 0
    figure.set_figheight(3.6 + 0.17 * rows)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout(rect=(0, 0.17 * rows / figure.get_figheight() + 0.01, 1, 1))
    return png(figure)


def frame_strip_plot(rows: Mapping[str, Sequence[np.ndarray]], columns: Sequence[str], series: Mapping[str, Sequence[float]],
                     *, y_label: str, title: str = "") -> bytes:
    """Rows of frames (one row per video, one column per chosen frame) above a per-frame measure of
    several videos (one line each).

    Args:
        rows: ``{video name: [uint8 [H, W, 3] frames]}``, as many frames per row as ``columns``.
        columns: a title per column (e.g. ``t = 12``).
        series: ``{video name: values}``; value k is drawn at x = k + 1 (the pair (k, k+1)).
        y_label: what the values are; title: the figure's.
    """
    count = len(columns)
    if any(len(frames) != count for frames in rows.values()):
        raise ValueError(f"every row needs {count} frames, one per column, got {[len(f) for f in rows.values()]}")
    height, width = next(iter(rows.values()))[0].shape[:2]
    cell = 1.9
    image_height = cell * height / width
    figure = plt.figure(figsize=(cell * count + 2.2, image_height * len(rows) + 3.0))
    grid = figure.add_gridspec(len(rows) + 1, count, height_ratios=[image_height] * len(rows) + [2.6])
    for r, (name, frames) in enumerate(rows.items()):
        for c, frame in enumerate(frames):
            axis = figure.add_subplot(grid[r, c])
            axis.imshow(frame, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if c == 0:
                axis.set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
            if r == 0:
                axis.set_title(columns[c], fontsize=7)
    axis = figure.add_subplot(grid[len(rows), :])
    for name, values in series.items():
        axis.plot(np.arange(1, len(values) + 1), values, label=name, linewidth=1.0)
    axis.set_xlabel("frame t of the pair (t-1, t)", fontsize=8)
    axis.set_ylabel(y_label, fontsize=8)
    if all(value > 0 for values in series.values() for value in values):
        axis.set_yscale("log")  # methods an order of magnitude apart stay readable
    axis.tick_params(labelsize=7)
    axis.legend(fontsize=6, ncol=4)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return png(figure)
