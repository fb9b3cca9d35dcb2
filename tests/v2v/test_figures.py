"""The pictures of a grid: each must show what it promises, checked on its pixels (a blank or a
one-setting picture fails), on a grid of untrained generators written straight to the cells' folders."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from v2v.config import load_config
from v2v.config_engine import to_dict
from v2v.figures import STRIP_FRAMES, draw_figures, tradeoff_figure
from v2v.grid import Cell, cell_overrides
from v2v.models import build_generator
from v2v.models.checkpoint import export_generator

from _grid_fixtures import TINY

SETTINGS = ("image2image", "video2video+local+global")
COLOURS = ((31, 119, 180), (255, 127, 14))  # matplotlib's first two: one per setting


BUDGET = dataclasses.replace(TINY, overrides=TINY.overrides + ("data.eval_clip_length=16",), seeds=(0, 1))


def _grid(tmp_path: Path) -> dict:
    """A report and cell folders holding untrained generators (seed 0) and made-up metrics."""
    entries = []
    for seed in (0, 1):
        for index, setting in enumerate(SETTINGS):
            for weight in (None, 3.0):
                cell = Cell("colorization", setting, seed, weight if setting != "image2image" else None)
                if weight is not None and setting == "image2image":
                    continue
                if seed == 0 and weight is None:
                    config = load_config("quickstart", cell_overrides(BUDGET, cell, None))
                    torch.manual_seed(index)
                    generator = build_generator(config.model, "colorization", config.setting_switches)
                    export_generator(cell.folder(tmp_path).run, generator.state_dict(), to_dict(config), step=1)
                entries.append({"task": "colorization", "setting": setting, "seed": seed,
                                "temporal_weight": weight or 50.0, "steps": 2,
                                "metrics": {"psnr": 20.0 + index + seed, "warping_error": 1e-3 / (1 + index) + 1e-5 * seed}})
    return {"budget": "tiny", "base_config": "quickstart", "overrides": list(BUDGET.overrides), "tasks": ["colorization"],
            "settings": list(SETTINGS), "seeds": [0, 1], "default_temporal_weights": {"colorization": 50.0},
            "tradeoff_task": "colorization", "cells": entries}


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def _count(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> int:
    return int((np.abs(pixels - colour).sum(axis=2) < tolerance).sum())


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    grid = tmp_path_factory.mktemp("grid")
    written = draw_figures(BUDGET, _grid(grid), grid, grid / "figures")
    return {path.name: _pixels(path) for path in written}


def test_every_picture_is_written(pictures):
    assert set(pictures) == {"strip-colorization.png", "warping-error-colorization.png", "tradeoff.png"}


def test_the_strip_shows_frames_and_residual_heat(pictures):
    strip = pictures["strip-colorization.png"]
    rows = 1 + len(SETTINGS) + 1 + len(SETTINGS)  # input, settings, target, one heat row per setting
    height = strip.shape[0] // rows
    coloured = np.abs(strip - strip.mean(axis=2, keepdims=True)).sum(axis=2) > 30  # not gray, not white
    target_band = strip[(1 + len(SETTINGS)) * height : (2 + len(SETTINGS)) * height]
    assert coloured[(1 + len(SETTINGS)) * height : (2 + len(SETTINGS)) * height].mean() > 0.05  # the colour target
    assert target_band.std() > 20
    input_band = strip[:height]
    assert input_band.std() > 20 and np.abs(input_band - input_band.mean(axis=2, keepdims=True)).max() < 8  # gray input
    heat = strip[(2 + len(SETTINGS)) * height :]
    inferno_bright = (heat[..., 0] > 150) & (heat[..., 2] < 150)  # orange and yellow: residual lights up
    assert inferno_bright.sum() > 50
    assert strip.shape[1] > STRIP_FRAMES * 60  # one column per frame


def test_the_warping_error_plot_has_a_curve_per_setting_and_the_target(pictures):
    plot = pictures["warping-error-colorization.png"]
    for colour in COLOURS:
        assert _count(plot, colour) > 100
    assert _count(plot, (0, 0, 0), tolerance=20) > 100  # the target's dashed black line (and the axes)


def test_the_tradeoff_plot_has_each_setting_s_points(pictures):
    plot = pictures["tradeoff.png"]
    for colour in COLOURS:
        assert _count(plot, colour) > 40


def test_no_two_labels_of_the_shipped_tradeoff_plot_overlap():
    """On the README's own data (benchmarks/results/table1-cpu.json), where the two temporal curves
    meet at large weights: every weight label's box is apart from every other."""
    report = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "table1-cpu.json").read_text())
    figure = tradeoff_figure(report, report["tradeoff_task"])
    renderer = figure.canvas.get_renderer()
    boxes = [(text.get_text(), text.get_window_extent(renderer)) for text in figure.axes[0].texts]
    assert len(boxes) == 8  # 4 weights x the two temporal settings
    overlapping = [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]
    assert overlapping == []
    axes = figure.axes[0].get_window_extent(renderer)
    assert all(axes.x0 <= box.x0 and box.x1 <= axes.x1 for _, box in boxes)  # inside the plot, off the tick labels


def test_strip_rows_are_as_tall_as_their_frames():
    # Wide real frames (here 4:1) get short rows: no white bands between them.
    from v2v.figures import _strip

    def strip(height: int, width: int) -> np.ndarray:
        frames = torch.rand(16, 1, height, width) * 2 - 1
        item = {"name": "clip", "target": torch.rand(16, 3, height, width) * 2 - 1,
                "flow_fwd": torch.zeros(15, 2, height, width), "flow_bwd": torch.zeros(15, 2, height, width)}
        data = _strip("colorization", frames, {"image2image": frames.expand(-1, 3, -1, -1)}, item, seed=0)
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))

    square, wide = strip(32, 32), strip(16, 64)
    assert square.shape[1] == wide.shape[1]  # one column per frame either way
    assert wide.shape[0] < 0.6 * square.shape[0]
