"""The Table 1 grid as data: budgets, cells and their folders, planning, summaries and the table."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from v2v.config import SETTINGS, load_config
from v2v.grid import (
    BUDGETS,
    Cell,
    cell_overrides,
    default_weights,
    format_table,
    plan_cells,
    summarize,
)
from v2v.models import build_discriminator, build_generator
from v2v.tasks import TASK_REGISTRY, FidelityScorer, Task, get_task

from _grid_fixtures import TINY

REPO = Path(__file__).resolve().parents[2]

def _data(budget, tmp_path):
    """The ``--data`` a budget needs (a folder for the real-video budget), None for synthetic clips."""
    return None if budget.data_source == "synthetic" else (budget.data_source, str(tmp_path))


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_every_cell_of_every_budget_resolves_to_a_valid_config(name, tmp_path):
    budget = BUDGETS[name]
    cells = plan_cells(budget)
    assert len({cell.name for cell in cells}) == len(cells)
    assert {cell.setting for cell in cells} == set(SETTINGS)
    for cell in cells:
        config = load_config(budget.config_for(cell.task), cell_overrides(budget, cell, _data(budget, tmp_path)))
        assert (config.task, config.setting, config.seed) == (cell.task, cell.setting, cell.seed)
        if cell.temporal_weight is not None:
            assert config.loss.temporal_weight == cell.temporal_weight


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_every_budget_s_networks_take_its_frames(name, tmp_path):
    """What a cell's first step does, on zeros: a config can resolve and still fail there (the paper
    preset's seven levels on 128x128 frames end at 1x1, where instance norm is undefined)."""
    budget = BUDGETS[name]
    for task in budget.tasks:
        config = load_config(budget.config_for(task), cell_overrides(budget, Cell(task, "video2video+local+global", 0), _data(budget, tmp_path)))
        generator = build_generator(config.model, task, config.setting_switches).eval()
        discriminator = build_discriminator(config.model, task, config.setting_switches).eval()
        in_channels, out_channels = get_task(task).channels
        height, width = config.data.frame_size or config.data.crop_size  # real video trains on crops
        video = torch.zeros(1, 2, in_channels, height, width)
        with torch.no_grad():
            output = generator(video)
            decision = discriminator(video, output, torch.zeros(1, 1, out_channels, height, width))
        assert output.shape == (1, 2, out_channels, height, width) and decision.shape == (1, 2)


def test_the_cpu_budget_meets_the_grid_it_promises():
    budget = BUDGETS["cpu"]
    config = load_config(budget.base_config, list(budget.overrides))
    assert len(budget.seeds) >= 3 and budget.test_videos >= 8 and config.data.eval_clip_length >= 30
    assert config.data.num_val_sequences >= budget.test_videos
    weights = {config.loss.temporal_weight, *budget.tradeoff_weights}
    assert len(weights) >= 3


def test_task_configs_give_every_cell_of_their_task_that_config():
    budget = BUDGETS["cpu"]
    seen = {}
    for cell in plan_cells(budget):
        config = load_config(budget.config_for(cell.task), cell_overrides(budget, cell, None))
        seen.setdefault(cell.task, set()).add((config.name, config.train.steps))
    assert seen == {"segmentation": {("quickstart-segmentation", 3000)}, "colorization": {("quickstart", 1000)},
                    "superres": {("quickstart-superres", 3000)}}


def test_a_task_configs_temporal_weight_is_the_default_of_its_rows(tmp_path):
    assert default_weights(BUDGETS["cpu"]) == {"segmentation": 50.0, "colorization": 50.0, "superres": 50.0}
    steady = tmp_path / "steady.yaml"
    steady.write_text("base: quickstart-segmentation\nloss:\n  temporal_weight: 200\n")
    budget = dataclasses.replace(BUDGETS["cpu"], task_configs=(("segmentation", str(steady)),))
    weights = default_weights(budget)
    assert weights == {task: load_config(budget.config_for(task)).loss.temporal_weight for task in budget.tasks}
    assert weights["segmentation"] == 200.0 and weights["colorization"] == weights["superres"] == 50.0
    # A task's default cells train at its config's weight; only the study's cells name another.
    for cell in plan_cells(budget):
        config = load_config(budget.config_for(cell.task), cell_overrides(budget, cell, None))
        expected = weights[cell.task] if cell.temporal_weight is None else cell.temporal_weight
        assert config.loss.temporal_weight == expected


def test_a_budget_for_a_folder_of_videos_needs_one():
    budget = BUDGETS["real"]
    budget.check_data(("videos", "/data/corpus"))
    for data in (None, ("davis", "/data/DAVIS")):
        with pytest.raises(ValueError, match="budget 'real' trains on a folder of videos: pass --data videos PATH"):
            budget.check_data(data)
    BUDGETS["cpu"].check_data(None)


def test_task_configs_name_a_known_task():
    with pytest.raises(ValueError, match="unknown task 'colourisation'"):
        dataclasses.replace(TINY, task_configs=(("colourisation", "quickstart"),))


def test_plan_has_the_grid_then_the_study():
    cells = plan_cells(TINY)
    assert cells[:2] == [Cell("colorization", "image2image", 0), Cell("colorization", "video2video+local+global", 0)]
    assert cells[2:] == [Cell("colorization", "video2video+local", 0, 3.0), Cell("colorization", "video2video+local+global", 0, 3.0)]


def _entry(task, setting, seed, weight, **metrics):
    return {"task": task, "setting": setting, "seed": seed, "temporal_weight": weight, "steps": 100,
            "metrics": metrics}


def test_summary_and_orderings_compare_gaps_with_the_seed_spread():
    entries = []
    for seed, (a, b) in enumerate([(1.0e-3, 2.0e-3), (1.1e-3, 2.1e-3), (0.9e-3, 1.9e-3)]):
        entries.append(_entry("colorization", "video2video+local+global", seed, 10.0, psnr=20.0 + seed, warping_error=a, tOF=0.1))
        # Trained under another default weight (50): still the same image2image cell.
        entries.append(_entry("colorization", "image2image", seed, 50.0, psnr=20.5 + seed, warping_error=b, tOF=0.2))
    summary = summarize(entries)
    # Settings without L_temporal are keyed without a weight: the weight changes nothing there.
    mean, std, count = summary[("colorization", "image2image", None)]["warping_error"]
    assert count == 3 and mean == pytest.approx(2.0e-3) and std == pytest.approx(1.0e-4)
    assert ("colorization", "video2video+local+global", 10.0) in summary
    report = {
        "budget": "t", "description": "d", "seeds": [0, 1, 2], "test_videos": 8, "machine": "m", "commit": "c",
        "command": "x", "default_temporal_weights": {"colorization": 10.0}, "tasks": ["colorization"],
        "settings": ["image2image", "video2video+local+global"], "tradeoff_task": None, "cells": entries,
    }
    table = format_table(report)
    assert "## colorization (100 steps)" in table
    assert "| colorization | warping_error: video2video+local+global better than image2image | +0.001 (spread 0.0001) | yes |" in table
    # PSNR: 20.5+s against 21.0±1: a gap of -0.5 within a spread of 1
    assert "psnr: video2video+local+global better than image2image | -0.5 (spread 1) | no (within the seed spread) |" in table


def test_the_committed_table_is_what_its_report_formats_to():
    """benchmarks/results/table1-cpu.md, byte for byte, from the report beside it: the formatter
    (every task's columns and orderings from the task registry) is the one that wrote it."""
    report = json.loads((REPO / "benchmarks" / "results" / "table1-cpu.json").read_text())
    assert format_table(report) == (REPO / "benchmarks" / "results" / "table1-cpu.md").read_text()


def test_a_cell_folder_owns_the_layout():
    folder = Cell("colorization", "video2video+local+global", 2, 10.0).folder(Path("grid"))
    assert folder.root == Path("grid/cells/colorization-video2video_local_global-wt10-s2")
    assert (folder.run, folder.eval, folder.result) == (folder.root / "run", folder.root / "eval", folder.root / "cell.json")
    assert folder.real_result(Path("/clips/bikes-a.mp4")) == folder.root / "real" / "bikes-a.json"
    files = BUDGETS["cpu"].files(Path("grid"))
    assert (files.table_markdown, files.table_json, files.figures) == (
        Path("grid/table1-cpu.md"), Path("grid/table1-cpu.json"), Path("grid/figures"))
    entry = {"task": "colorization", "setting": "image2image", "seed": 1, "temporal_weight": 50.0}
    assert Cell.of_entry(entry, 50.0) == Cell("colorization", "image2image", 1)  # no weight without L_temporal
    entry = {"task": "colorization", "setting": "video2video+local", "seed": 1, "temporal_weight": 10.0}
    assert Cell.of_entry(entry, 50.0) == Cell("colorization", "video2video+local", 1, 10.0)


def test_adding_a_task_is_one_registry_entry(monkeypatch):
    """A toy task registered in the registry alone is planned, configured, built and tabled by the grid."""
    toy = Task("denoise", 3, 3, needs_masks=False, self_supervised=True, unit_input=lambda frames: frames.clamp(0.1, 0.9),
               own_metrics=("psnr", "psnr_input"), table_metrics=("psnr",),
               scorer_factory=lambda options, executor: FidelityScorer(), best_metric="psnr", output_base=lambda x: x)
    monkeypatch.setitem(TASK_REGISTRY, "denoise", toy)
    budget = dataclasses.replace(TINY, tasks=("denoise",), tradeoff_task="denoise")
    cells = plan_cells(budget)
    assert {cell.task for cell in cells} == {"denoise"} and len(cells) == 4
    config = load_config(budget.config_for("denoise"), cell_overrides(budget, cells[0], None))
    assert config.task == "denoise" and config.model.residual is True  # the task has an output base
    generator = build_generator(config.model, "denoise", config.setting_switches)
    assert generator(torch.zeros(1, 2, 3, 32, 32)).shape == (1, 2, 3, 32, 32)
    assert default_weights(budget) == {"denoise": 50.0}
    entries = [_entry("denoise", cell.setting, cell.seed, cell.temporal_weight or 50.0, psnr=30.0 + i, psnr_input=29.0,
                      warping_error=1e-3 / (i + 1), tOF=0.1) for i, cell in enumerate(cells)]
    report = {
        "budget": "toy", "description": "d", "seeds": [0], "test_videos": 1, "machine": "m", "commit": "c", "command": "x",
        "default_temporal_weights": {"denoise": 50.0}, "tasks": ["denoise"], "settings": list(budget.settings),
        "tradeoff_task": "denoise", "cells": entries, "input_psnr": {"denoise": 29.0},
    }
    table = format_table(report)
    assert "## denoise (100 steps)" in table and "| setting | psnr | warping_error | tOF | warping_error_target |" in table  # no SSIM measured
    assert "| *the input as the output* | 29.00 | | | |" in table
    assert "| denoise | psnr: video2video+local+global better than image2image | +1 | n/a (one seed: no spread) |" in table
    assert "## Trade-off study (denoise, `loss.temporal_weight`)" in table
