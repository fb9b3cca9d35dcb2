"""Pictures of a :mod:`v2v.reproduce` grid: frame strips, per-frame warping error, the trade-off plot.

:func:`draw_figures` reads the grid's cells (their trained generators and ``cell.json``) and writes,
for every task of the grid:

- ``strip-<task>.png``: consecutive frames of one test clip, rows input / every setting / target,
  then one row per setting of ``|O_t - warp(O_{t-1})|`` on valid pixels (the residual the temporal
  loss penalises: where an output flickers it lights up, where it is stable it stays dark);
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

from v2v.data import to_unit_range

__all__ = ["draw_figures", "translate_clip"]

STRIP_FRAMES = 6
"""Consecutive frames shown in a strip."""

STRIP_START = 10
"""First frame of a strip (the recurrent state has warmed up by then)."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def translate_clip(run_dir: Path, frames: torch.Tensor) -> torch.Tensor:
    """Translate ``frames`` ``[T, Cin, H, W]`` (model range) with the run's generator, streaming as
    at test time; returns ``[T, Cout, H, W]`` in [-1, 1] on the CPU."""
    from v2v.inference import translate_video
    from v2v.models import load_generator

    generator, _ = load_generator(run_dir, map_location="cpu")
    return translate_video(generator, frames, torch.device("cpu"))


def _display(frames: torch.Tensor) -> np.ndarray:
    """``[T, C, H, W]`` in [-1, 1] -> ``[T, H, W, 3]`` in [0, 1] (one channel shown as gray)."""
    unit = to_unit_range(frames.float()).clamp(0, 1)
    if unit.shape[1] == 1:
        unit = unit.expand(-1, 3, -1, -1)
    return unit.permute(0, 2, 3, 1).numpy()


def _residual_maps(output: torch.Tensor, flow_fwd: torch.Tensor, flow_bwd: torch.Tensor) -> np.ndarray:
    """``|O_t - warp(O_{t-1})|`` averaged over channels on [0, 1], zero where invalid: ``[T-1, H, W]``."""
    import v2vcore

    unit = to_unit_range(output.float()).clamp(0, 1)
    residual = v2vcore.residual_error(unit.unsqueeze(0), flow_fwd.unsqueeze(0), flow_bwd.unsqueeze(0))
    return residual[0].abs().mean(dim=1).numpy()


def _cells_by_key(report: dict[str, Any], output: Path) -> dict[tuple[str, str, float], Path]:
    from v2v.reproduce import Cell, weight_key

    defaults = report["default_temporal_weights"]
    runs = {}
    for entry in report["cells"]:
        weight = weight_key(entry["setting"], entry["temporal_weight"])
        cell = Cell(entry["task"], entry["setting"], entry["seed"], None if weight in (None, defaults[entry["task"]]) else weight)
        if entry["seed"] == report["seeds"][0]:
            runs[(entry["task"], entry["setting"], weight)] = output / "cells" / cell.name / "run"
    return runs


def draw_figures(report: dict[str, Any], output: Path, destination: Path) -> list[Path]:
    """Draw every figure of the grid in ``output`` (as returned by :func:`v2v.reproduce.reproduce`)
    into ``destination``; returns the files written."""
    from v2v.config import load_config
    from v2v.data import build_dataset
    from v2v.metrics import warping_error_per_pair
    from v2v.reproduce import weight_key

    plt = _pyplot()
    destination.mkdir(parents=True, exist_ok=True)
    runs = _cells_by_key(report, output)
    defaults = report["default_temporal_weights"]
    written = []
    for task in report["tasks"]:
        config = load_config(report["base_config"], list(report["overrides"]) + [f"task={task}"])
        item = build_dataset(config.data, "test", task)[0]
        frames = item["input"]
        outputs = {setting: translate_clip(runs[(task, setting, weight_key(setting, defaults[task]))], frames) for setting in report["settings"]}
        start = min(STRIP_START, max(1, frames.shape[0] - STRIP_FRAMES))
        count = min(STRIP_FRAMES, frames.shape[0] - start)
        shown = slice(start, start + count)
        rows = [("input", _display(frames[shown]))]
        rows += [(setting, _display(outputs[setting][shown])) for setting in report["settings"]]
        rows += [("target", _display(item["target"][shown]))]
        residuals = {s: _residual_maps(o, item["flow_fwd"], item["flow_bwd"]) for s, o in outputs.items()}
        scale = max(float(np.percentile(r[start - 1 : start - 1 + count], 99.5)) for r in residuals.values()) or 1.0
        heat = [(f"|O_t - warp(O_t-1)|\n{s}", residuals[s][start - 1 : start - 1 + count]) for s in report["settings"]]
        figure, axes = plt.subplots(len(rows) + len(heat), count, figsize=(1.6 * count + 1.6, 1.6 * (len(rows) + len(heat))),
                                    squeeze=False)
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
        figure.suptitle(f"{task}: test clip 0, seed {report['seeds'][0]} (residual scale 0-{scale:.3f})", fontsize=9)
        figure.tight_layout()
        path = destination / f"strip-{task}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)

        figure, axis = plt.subplots(figsize=(6.4, 3.2))
        pairs = np.arange(1, frames.shape[0])
        for setting in report["settings"]:
            unit = to_unit_range(outputs[setting]).clamp(0, 1)
            axis.plot(pairs, warping_error_per_pair(unit, item["flow_fwd"], item["flow_bwd"]), label=setting)
        target_unit = to_unit_range(item["target"]).clamp(0, 1)
        axis.plot(pairs, warping_error_per_pair(target_unit, item["flow_fwd"], item["flow_bwd"]), "k--", label="target")
        axis.set_xlabel("frame t (pair t-1, t)")
        axis.set_ylabel("warping error")
        axis.set_yscale("log")
        axis.set_title(f"{task}: per-frame warping error, test clip 0, seed {report['seeds'][0]}", fontsize=9)
        axis.legend(fontsize=7)
        figure.tight_layout()
        path = destination / f"warping-error-{task}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)

    task = report.get("tradeoff_task")
    if task:
        from v2v.reproduce import ACCURACY, SETTING_ORDER, TEMPORAL_SETTINGS, summarize

        metric, _ = ACCURACY[task]
        summary = summarize(report["cells"])
        figure, axis = plt.subplots(figsize=(6.4, 4.2))
        for setting in SETTING_ORDER:
            keys = sorted(k for k in summary if k[0] == task and k[1] == setting)
            if not keys:
                continue
            x = [summary[k]["warping_error"][0] for k in keys]
            y = [summary[k][metric][0] for k in keys]
            axis.errorbar(x, y, xerr=[summary[k]["warping_error"][1] for k in keys],
                          yerr=[summary[k][metric][1] for k in keys], marker="o", capsize=3,
                          linestyle="-" if len(keys) > 1 else "none", label=setting)
            if setting in TEMPORAL_SETTINGS:
                for k, xi, yi in zip(keys, x, y):
                    axis.annotate(f"w={k[2]:g}", (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        axis.set_xlabel("warping error (lower: more stable)")
        axis.set_ylabel(f"{metric} (higher: more accurate)")
        axis.set_title(f"{task}: accuracy against stability, mean ± std over seeds {report['seeds']}", fontsize=9)
        axis.legend(fontsize=7)
        figure.tight_layout()
        path = destination / "tradeoff.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written
