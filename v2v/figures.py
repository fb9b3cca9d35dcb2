"""Pictures of a Table 1 grid (:mod:`v2v.grid`): frame strips, per-frame warping error, the trade-off plot.

:func:`draw_figures` reads the grid's cells (their trained generators and ``cell.json``) and writes,
for every task of the grid:

- ``strip-<task>.png``: consecutive frames of one test clip, rows input / every setting / target,
  then one row per setting of ``|O_t - warp(O_{t-1})|`` on valid pixels
  (:func:`v2v.plotting.residual_maps`);
- ``warping-error-<task>.png``: the per-frame warping error of every setting (and of the target)
  on that clip over time, where a flicker burst shows as a spike;

and for the grid's trade-off task ``tradeoff.png``: accuracy against warping error, one point per
setting and temporal weight, error bars one standard deviation over seeds.

Seed 0's generators and the grid's first test video are used; nothing is picked by its result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from v2v.config import SETTING_ORDER, TEMPORAL_SETTINGS, load_config
from v2v.data import DEFAULT_EVALUATION_SPLIT, build_dataset
from v2v.fileio import atomic_write_bytes
from v2v.frames import to_unit_range
from v2v.grid import Budget, Cell, cell_overrides, summarize, weight_key
from v2v.inference import translate_video
from v2v.metrics import warping_error_per_pair
from v2v.models import read_generator
from v2v.plotting import png, pyplot, residual_maps
from v2v.tasks import get_task

__all__ = ["draw_figures", "tradeoff_figure", "STRIP_FRAMES", "STRIP_START"]

STRIP_FRAMES = 6
"""Consecutive frames shown in a strip."""

STRIP_START = 10
"""First frame of a strip (the recurrent state has warmed up by then)."""


def _display(frames: torch.Tensor) -> np.ndarray:
    """``[T, C, H, W]`` in [-1, 1] -> ``[T, H, W, 3]`` in [0, 1] (one channel shown as gray)."""
    unit = to_unit_range(frames.float()).clamp(0, 1)
    if unit.shape[1] == 1:
        unit = unit.expand(-1, 3, -1, -1)
    return unit.permute(0, 2, 3, 1).numpy()


def _seed_runs(report: dict[str, Any], output: Path) -> dict[tuple[str, str, float | None], Path]:
    """The run folder of the first seed's cell of every ``(task, setting, weight_key)``."""
    defaults = report["default_temporal_weights"]
    return {
        (entry["task"], entry["setting"], weight_key(entry["setting"], entry["temporal_weight"])):
            Cell.of_entry(entry, defaults[entry["task"]]).folder(output).run
        for entry in report["cells"] if entry["seed"] == report["seeds"][0]
    }


def _strip(task: str, frames: torch.Tensor, outputs: dict[str, torch.Tensor], item: dict[str, Any], seed: int) -> bytes:
    start = min(STRIP_START, max(1, frames.shape[0] - STRIP_FRAMES))
    count = min(STRIP_FRAMES, frames.shape[0] - start)
    shown = slice(start, start + count)
    rows = [("input", _display(frames[shown]))]
    rows += [(setting, _display(output[shown])) for setting, output in outputs.items()]
    rows += [("target", _display(item["target"][shown]))]
    residuals = {s: residual_maps(to_unit_range(o.float()).clamp(0, 1), item["flow_fwd"], item["flow_bwd"])[0].numpy()
                 for s, o in outputs.items()}
    scale = max(float(np.percentile(r[start - 1 : start - 1 + count], 99.5)) for r in residuals.values()) or 1.0
    heat = [(f"|O_t - warp(O_t-1)|\n{s}", residuals[s][start - 1 : start - 1 + count]) for s in outputs]
    plt = pyplot()
    aspect = frames.shape[-2] / frames.shape[-1]  # a row as tall as its frames: no gaps between wide frames' rows
    figure, axes = plt.subplots(len(rows) + len(heat), count, squeeze=False,
                                figsize=(1.6 * count + 1.6, max(1.6 * aspect, 0.8) * (len(rows) + len(heat))))
    for r, (label, images) in enumerate(rows + heat):
        for c in range(count):
            axis = axes[r, c]
            if r < len(rows):
                axis.imshow(images[c], interpolation="nearest")
            else:
                axis.imshow(images[c], cmap="inferno", vmin=0, vmax=scale, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if c == 0:
                axis.set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
            if r == 0:
                axis.set_title(f"frame {start + c}", fontsize=7)
    figure.suptitle(f"{task}: {item['name']}, seed {seed} (residual scale 0-{scale:.3f})", fontsize=9)
    figure.tight_layout()
    return png(figure)


def _warping_error_curves(task: str, outputs: dict[str, torch.Tensor], item: dict[str, Any], seed: int) -> bytes:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6.4, 3.2))
    pairs = np.arange(1, item["input"].shape[0])
    for setting, output in outputs.items():
        axis.plot(pairs, warping_error_per_pair(to_unit_range(output).clamp(0, 1), item["flow_fwd"], item["flow_bwd"]), label=setting)
    target = to_unit_range(item["target"]).clamp(0, 1)
    axis.plot(pairs, warping_error_per_pair(target, item["flow_fwd"], item["flow_bwd"]), "k--", label="target")
    axis.set_xlabel("frame t (pair t-1, t)")
    axis.set_ylabel("warping error")
    axis.set_yscale("log")
    axis.set_title(f"{task}: per-frame warping error, {item['name']}, seed {seed}", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    return png(figure)


def _tradeoff(report: dict[str, Any], task: str) -> bytes:
    return png(tradeoff_figure(report, task))


def tradeoff_figure(report: dict[str, Any], task: str) -> Any:
    """The trade-off plot of a grid's ``report`` (accuracy against warping error, one point per
    setting and temporal weight, mean and std over seeds) as a matplotlib figure."""
    metric, _ = get_task(task).accuracy_metric
    summary = summarize(report["cells"])
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for setting in SETTING_ORDER:
        keys = sorted(k for k in summary if k[0] == task and k[1] == setting)
        if not keys:
            continue
        x = [summary[k]["warping_error"][0] for k in keys]
        y = [summary[k][metric][0] for k in keys]
        axis.errorbar(x, y, xerr=[summary[k]["warping_error"][1] for k in keys], yerr=[summary[k][metric][1] for k in keys],
                      marker="o", capsize=3, linestyle="-" if len(keys) > 1 else "none", label=setting)
        if setting in TEMPORAL_SETTINGS:
            # Labels alternate above and below the point, so neighbouring weights of a curve do not
            # overlap; each curve labels its own side (the steadier full method to the left), so
            # the two curves' labels do not overlap where their points meet (at large weights).
            left = setting == TEMPORAL_SETTINGS[-1]
            for number, (k, xi, yi) in enumerate(zip(keys, x, y)):
                axis.annotate(f"w={k[2]:g}", (xi, yi), fontsize=7, xytext=(-5 if left else 5, 5 if number % 2 == 0 else -11),
                              textcoords="offset points", ha="right" if left else "left")
    axis.margins(x=0.12)  # room for the labels left of the leftmost points
    axis.set_xlabel("warping error (lower: more stable)")
    axis.set_ylabel(f"{metric} (higher: more accurate)")
    axis.set_title(f"{task}: accuracy against stability, mean ± std over seeds {report['seeds']}", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def draw_figures(budget: Budget, report: dict[str, Any], output: Path, destination: Path,
                 data: tuple[str, str] | None = None) -> list[Path]:
    """Draw every figure of the grid of ``budget`` in ``output`` (its report, as
    :func:`v2v.reproduce.reproduce` returns it; ``data`` the data set it trained on, None for the
    synthetic clips) into ``destination``; returns the files written. The clip shown is the first
    of the split the cells were evaluated on."""
    destination.mkdir(parents=True, exist_ok=True)
    runs = _seed_runs(report, output)
    defaults = report["default_temporal_weights"]
    seed = report["seeds"][0]
    pictures: dict[str, bytes] = {}
    for task in report["tasks"]:
        config = load_config(budget.config_for(task), cell_overrides(budget, Cell(task, report["settings"][0], seed), data))
        item = build_dataset(config.data, DEFAULT_EVALUATION_SPLIT[config.data.source], task)[0]
        outputs = {}
        for setting in report["settings"]:
            generator = read_generator(runs[(task, setting, weight_key(setting, defaults[task]))], map_location="cpu").generator
            outputs[setting] = translate_video(generator, item["input"], torch.device("cpu"))
        pictures[f"strip-{task}.png"] = _strip(task, item["input"], outputs, item, seed)
        pictures[f"warping-error-{task}.png"] = _warping_error_curves(task, outputs, item, seed)
    if report.get("tradeoff_task"):
        pictures["tradeoff.png"] = _tradeoff(report, report["tradeoff_task"])
    written = []
    for name, picture in pictures.items():
        atomic_write_bytes(destination / name, picture)
        written.append(destination / name)
    return written
