"""``python -m v2v.reproduce``: the paper's Table 1 on every task, over seeds, and the trade-off study.

Trains every cell of a grid (:mod:`v2v.grid`: every setting of Table 1 on every task, within a task
with the same config, data, steps and seeds, plus a sweep of the weight of L_temporal), evaluates
each run with :func:`v2v.evaluate.evaluate` on the same test videos, optionally translates and
scores real clips, and writes the table. Budgets are presets (:data:`v2v.grid.BUDGETS`):

- ``smoke``: a minute or two; CI runs it end to end so that the command cannot rot;
- ``cpu``: the grid on a small CPU machine (2 cores: two single-thread runs side by side);
- ``gpu``: a larger grid for one GPU.

Everything lands in ``--output`` (default ``runs/reproduce-<budget>``, laid out as
:mod:`v2v.grid` describes). A rerun skips complete cells (after checking that each was trained
with the config the grid now asks for); a cell without ``cell.json`` (interrupted) is deleted and
trained again from scratch, so a result never mixes two attempts. ``--figures`` draws the pictures
of ``docs/reproduction.md``.

Example::

    python -m v2v.reproduce --budget cpu --jobs 2
    python -m v2v.reproduce --budget smoke --output /tmp/smoke
    python -m v2v.reproduce --budget gpu --data davis /data/DAVIS
    python -m v2v.reproduce --data videos /data/real-corpus        # the `real` budget
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from v2v.config import SETTING_ORDER, load_config
from v2v.config_engine import Checked, add_arguments, from_arguments, require
from v2v.data.video_io import frame_to_uint8, open_video_reader
from v2v.data.video_writer import VideoWriter
from v2v.evaluate import EvaluateConfig, evaluate
from v2v.figures import draw_figures
from v2v.fileio import atomic_write_json, atomic_write_text, json_safe
from v2v.flow import DEFAULT_FLOW_PROVIDER, FlowConfig
from v2v.frames import from_uint8, to_uint8
from v2v.grid import (
    BUDGETS,
    REAL_FOOTAGE_SETTINGS,
    Budget,
    Cell,
    CellFolder,
    cell_overrides,
    changed_cell_keys,
    default_weights,
    format_table,
    plan_cells,
    weight_key,
)
from v2v.inference import stream_translate
from v2v.models import read_generator
from v2v.provenance import current_commit, machine_description
from v2v.runtime import command_name, require_kernels, resolve_device, run_command
from v2v.scene_cuts import DEFAULT_THRESHOLD
from v2v.scoring import DEFAULT_PROTOCOL, StreamScorer
from v2v.tasks import get_task
from v2v.train.loop import train

__all__ = ["run_cell", "score_real_footage", "real_input_psnr", "reproduce", "ReproduceConfig", "main"]


def run_cell(budget: Budget, cell: Cell, folder: CellFolder, data: tuple[str, str] | None, threads: int) -> dict[str, Any]:
    """Train and evaluate one cell in ``folder``; returns (and writes) its ``cell.json`` entry.

    A complete cell (``cell.json`` present) is read back, not recomputed; an incomplete one is
    deleted first, so that the cell starts cleanly.

    Raises:
        ValueError: a complete cell trained under another config than the grid now asks for.
    """
    overrides = cell_overrides(budget, cell, data) + [f"train.runs_dir={folder.root}", f"train.threads={threads}"]
    config = load_config(budget.config_for(cell.task), overrides)
    if folder.result.is_file():
        changed = changed_cell_keys(folder.run / "config.yaml", config)
        if changed:
            # A default changed since the cell was trained: reusing it would mix two configs.
            raise ValueError(
                f"cell {folder.root} was trained with another config ({', '.join(changed)} "
                f"{'differs' if len(changed) == 1 else 'differ'} from what the grid now asks for): delete that "
                "folder to train it again, or use another --output"
            )
        return json.loads(folder.result.read_text())
    if folder.root.exists():
        shutil.rmtree(folder.root)
    folder.root.mkdir(parents=True)
    if threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    train(config)
    trained = time.perf_counter()
    report = evaluate(EvaluateConfig(checkpoint=str(folder.run), output_dir=str(folder.eval), max_videos=budget.test_videos,
                                     max_frames=budget.test_frames, device=config.train.device, progress=False))
    entry = {
        "task": cell.task,
        "setting": cell.setting,
        "seed": cell.seed,
        "temporal_weight": config.loss.temporal_weight,
        "steps": config.train.steps,
        "train_seconds": round(trained - started, 1),
        "eval_seconds": round(time.perf_counter() - trained, 1),
        "commit": current_commit(),
        "metrics": json_safe(dict(report["mean"])),
    }
    atomic_write_json(folder.result, entry)
    return entry


def _score_clip_stream(cell: Cell, folder: CellFolder, clip: Path, progress: bool) -> dict[str, Any]:
    """Translate real clip ``clip`` with the cell's generator, streaming; write the translation (PNG
    frames, for other scorings: benchmarks/real_footage_protocols.py) and score the 8-bit frames as
    written (protocol ``v2v``, DIS flows of the clip); the clip itself is scored beside it (what a
    perfectly consistent output would score), and where the task's target is the clip
    (:attr:`v2v.tasks.Task.self_supervised`) the output's PSNR against it."""
    task = get_task(cell.task)
    loaded = read_generator(folder.run, map_location="cpu")
    reader = open_video_reader(clip)
    flow = FlowConfig(provider=DEFAULT_FLOW_PROVIDER)
    scorer = StreamScorer(DEFAULT_PROTOCOL, flow.build_provider(has_exact_flow=False), flow.build_cache(), num_outputs=2,
                          task=task if task.self_supervised else None)
    frames = stream_translate(loaded.generator, task, reader, torch.device("cpu"), scene_cut_threshold=DEFAULT_THRESHOLD)
    folder.real.mkdir(parents=True, exist_ok=True)
    with VideoWriter(folder.real_translation(clip)) as writer:
        for frame in tqdm(frames, total=reader.num_frames, unit="frame", desc=f"{cell.name} {clip.stem}", disable=not progress):
            shown = frame_to_uint8(frame.output)
            writer.write(shown)
            scorer.update([shown, frame.image], frame.image, target=frame.image if task.self_supervised else None)
    translated, own = scorer.results()
    keys = (("psnr", "ssim") if task.self_supervised else ()) + ("warping_error", "warping_error_l1", "tOF", "flicker")
    return {
        "task": cell.task, "setting": cell.setting, "seed": cell.seed, "clip": str(clip), "frames": translated["frames"],
        "metrics": json_safe({key: translated[key] for key in keys}),
        "reference": json_safe({key: own[key] for key in ("warping_error", "flicker")}),
    }


def score_real_footage(report: dict[str, Any], output: Path, clips: list[Path], *, progress: bool = False) -> list[dict[str, Any]]:
    """Translate every real clip with every cell of the grid in :data:`~v2v.grid.REAL_FOOTAGE_SETTINGS`
    (each task's default temporal weight; task by task, seed by seed) and score it (see
    ``_score_clip_stream``). A clip already scored for a cell (its result in the cell's ``real/``
    folder) is read back, not recomputed; a cell trained again is scored again.

    Returns:
        One entry per cell and clip: ``task``, ``setting``, ``seed``, ``clip``, ``frames``,
        ``metrics`` (``warping_error``, ``warping_error_l1``, ``tOF``, ``flicker``, and ``psnr``
        where the target is the clip) and ``reference`` (the clip's own warping error and flicker).
    """
    defaults = report["default_temporal_weights"]
    order = list(report["tasks"])
    chosen = [entry for entry in report["cells"] if entry["setting"] in REAL_FOOTAGE_SETTINGS
              and weight_key(entry["setting"], entry["temporal_weight"]) == weight_key(entry["setting"], defaults[entry["task"]])]
    entries = []
    for entry in sorted(chosen, key=lambda e: (order.index(e["task"]), e["seed"], REAL_FOOTAGE_SETTINGS.index(e["setting"]))):
        cell = Cell(entry["task"], entry["setting"], entry["seed"])
        folder = cell.folder(output)
        for clip in clips:
            result = folder.real_result(clip)
            if result.is_file():
                entries.append(json.loads(result.read_text()))
                continue
            scored = _score_clip_stream(cell, folder, clip, progress)
            atomic_write_json(result, scored)
            entries.append(scored)
    return entries


def real_input_psnr(clips: list[Path], tasks: list[str]) -> dict[str, dict[str, float]]:
    """Per task whose target is the clip, the PSNR of each real clip's input taken as the output
    (:meth:`v2v.tasks.Task.baseline`: colorization the clip's luma as gray RGB, super-resolution its
    bicubic /2 then x2 version), stored in 8 bits as a translated video is, scored against the clip
    by the task's own scorer: the number a model must beat. ``{task: {clip: psnr}}``."""
    baselines: dict[str, dict[str, float]] = {}
    for task in [get_task(name) for name in tasks if get_task(name).self_supervised]:
        baselines[task.name] = {}
        for clip in clips:
            measures = task.frame_scorer()
            for image in open_video_reader(clip):
                frame = torch.from_numpy(image).permute(2, 0, 1)
                baseline = from_uint8(to_uint8(task.baseline(task.input(frame))))
                measures.update(baseline, from_uint8(frame), None)
            baselines[task.name][str(clip)] = measures.summary()["psnr"]
    return baselines


def reproduce(budget: Budget, output: Path, *, jobs: int, data: tuple[str, str] | None = None,
              real_clips: list[Path] | None = None, command: str = "", progress: bool = True) -> dict[str, Any]:
    """Run (or finish) every cell of ``budget`` under ``output`` and write the table.

    Args:
        budget: the preset.
        output: the grid's folder (created; complete cells in it are kept).
        jobs: cells trained at once, each in its own process with one thread (0 or 1: in this
            process, with torch's default threads when ``jobs`` is 0).
        data: ``("davis", root)`` or ``("videos", root)`` to train and test on a DAVIS 2017 folder
            or a folder of videos instead of the synthetic clips.
        real_clips: real videos (files or frame folders) to translate and score with every
            task's cells of :data:`~v2v.grid.REAL_FOOTAGE_SETTINGS` (:func:`score_real_footage`).
        command: the command line recorded in the table.

    Returns:
        The report written to ``table1-<budget>.json``.
    """
    budget.check_data(data)
    for clip in real_clips or []:
        if not clip.exists():
            raise FileNotFoundError(f"--real-video {clip} does not exist (expected a video file or a folder of frames)")
    cells = plan_cells(budget)
    weights = default_weights(budget)
    output.mkdir(parents=True, exist_ok=True)
    entries: dict[Cell, dict[str, Any]] = {}
    bar = tqdm(total=len(cells), desc=f"reproduce {budget.name}", unit="cell", disable=not progress)
    threads = 1 if jobs >= 1 else 0
    if jobs <= 1:
        for cell in cells:
            entries[cell] = run_cell(budget, cell, cell.folder(output), data, threads)
            bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(run_cell, budget, cell, cell.folder(output), data, threads): cell for cell in cells}
            for future in as_completed(futures):
                entries[futures[future]] = future.result()
                bar.update(1)
    bar.close()
    ordered = [entries[cell] for cell in cells]
    report = {
        "command": command,
        "commit": current_commit(),
        "machine": machine_description(),
        "budget": budget.name,
        "description": budget.description,
        "base_config": budget.base_config,
        "overrides": list(budget.overrides),
        "task_configs": dict(budget.task_configs),
        "data": "synthetic" if data is None else f"{data[0]}:{data[1]}",
        "tasks": list(budget.tasks),
        "settings": list(budget.settings),
        "seeds": list(budget.seeds),
        "test_videos": budget.test_videos,
        "default_temporal_weights": weights,
        "tradeoff_task": budget.tradeoff_task,
        # The input as the output, scored by every cell's evaluation alike: the first cell's value.
        "input_psnr": {task: next(e["metrics"]["psnr_input"] for e in ordered if e["task"] == task)
                       for task in budget.tasks if get_task(task).self_supervised},
        "cells": ordered,
    }
    if real_clips:
        report["real_footage"] = score_real_footage(report, output, real_clips, progress=progress)
        report["real_footage_input_psnr"] = real_input_psnr(real_clips, report["tasks"])
    files = budget.files(output)
    atomic_write_json(files.table_json, report)
    atomic_write_text(files.table_markdown, format_table(report))
    return report


@dataclass
class ReproduceConfig(Checked):
    """Options of ``python -m v2v.reproduce``."""

    budget: str | None = field(default=None, metadata={"choices": tuple(BUDGETS)})
    """The grid's preset (:data:`v2v.grid.BUDGETS`); none: ``real`` with ``--data videos``, else ``cpu``."""
    output: str | None = None
    """The grid's folder (none: runs/reproduce-<budget>)."""
    jobs: int | None = None
    """Cells trained at once (none: the budget's)."""
    data: tuple[str, str] | None = field(default=None, metadata={"metavar": ("SOURCE", "PATH")})
    """Train and test on a DAVIS 2017 folder (``davis PATH``) or a folder of videos with ``train/`` and
    ``val/`` (``videos PATH``) instead of the bundled synthetic clips."""
    real_video: tuple[str, ...] | None = field(default=None, metadata={"metavar": "CLIP"})
    """Real clips (video files or frame folders) to translate with every task's image2image and full-method
    cells and score (flows of the clip itself; PSNR against the clip where it is the target)."""
    settings: tuple[str, ...] | None = field(default=None, metadata={"choices": SETTING_ORDER, "metavar": "SETTING"})
    """Train only these settings of Table 1 (none: the budget's); the table then has only their rows."""
    figures: bool = False
    """Also draw the strips, the per-frame warping error and the trade-off plot into OUTPUT/figures."""
    progress: bool = field(default=True, metadata={"flag": "--quiet"})
    """Show progress bars (``--quiet``: none)."""

    def check(self) -> None:
        require(self.jobs is None or self.jobs >= 0, "jobs", f"must be >= 0, got {self.jobs}")
        if self.data is not None:
            source, root = self.data
            require(source in ("davis", "videos"), "data", f"takes 'davis PATH' or 'videos PATH', got {source!r}")
            expected = ("a DAVIS 2017 folder with JPEGImages/ and Annotations/" if source == "davis"
                        else "a folder with train/ and val/ folders of videos")
            require(Path(root).is_dir(), "data", f"{source}: {root} is not a folder ({expected})")

    @property
    def budget_name(self) -> str:
        """The budget run: the one named, else ``real`` for a videos folder and ``cpu`` otherwise."""
        if self.budget is not None:
            return self.budget
        return "real" if self.data is not None and self.data[0] == "videos" else "cpu"

    def grid(self) -> Budget:
        """The budget run, narrowed to ``settings`` (kept in Table 1's order) when they are given."""
        budget = BUDGETS[self.budget_name]
        if self.settings is None:
            return budget
        return dataclasses.replace(budget, settings=tuple(s for s in SETTING_ORDER if s in self.settings))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 success, 2 bad options or data, 130 Ctrl-C)."""
    parser = argparse.ArgumentParser(
        prog=command_name("v2v.reproduce"),
        description="Train and evaluate every setting of the paper's Table 1 on every task over seeds, plus a "
        "temporal-weight trade-off study; writes table1-<budget>.md and .json.",
    )
    add_arguments(parser, ReproduceConfig)
    args = parser.parse_args(argv)

    def work() -> int:
        options = from_arguments(ReproduceConfig, args)
        # Before any heavy work: the cells train on device "auto" and score on the CPU.
        require_kernels(resolve_device("auto"), "cpu")
        budget = options.grid()
        output = Path(options.output or f"runs/reproduce-{budget.name}")
        command = "python -m v2v.reproduce " + " ".join(argv if argv is not None else sys.argv[1:])
        report = reproduce(budget, output, jobs=budget.jobs if options.jobs is None else options.jobs, data=options.data,
                           real_clips=[Path(clip) for clip in options.real_video] if options.real_video else None,
                           command=command.strip(), progress=options.progress)
        if options.figures:
            draw_figures(budget, report, output, budget.files(output).figures, options.data)
        print(format_table(report))
        print(f"wrote {budget.files(output).table_markdown} and .json")
        return 0

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
