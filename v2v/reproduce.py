"""``python -m v2v.reproduce``: the paper's Table 1 on every task, over seeds, and the trade-off study.

Trains every setting of Table 1 (image2image, video2video, video2video+local,
video2video+local+global) on every task (segmentation, colorization, superres), within a task with
the same config, data, steps and seeds; evaluates each run with :func:`v2v.evaluate.evaluate` on
the same test videos, and writes the table. A trade-off study sweeps the weight of L_temporal
(``loss.temporal_weight``; the temporal critic's own weight, ``loss.temporal_gan_weight``, is a
task config's) for the two settings that have it. Budgets are presets (:data:`BUDGETS`):

- ``smoke``: a minute or two; CI runs it end to end so that the command cannot rot;
- ``cpu``: the grid on a small CPU machine (2 cores: two single-thread runs side by side);
- ``gpu``: a larger grid for one GPU.

Everything lands in ``--output`` (default ``runs/reproduce-<budget>``): ``cells/<cell>/`` holds one
cell's run (config, checkpoint) and evaluation, and ``cell.json`` once the cell is complete;
``table1-<budget>.md`` and ``table1-<budget>.json`` are the table. A rerun skips complete cells;
a cell without ``cell.json`` (interrupted) is deleted and trained again from scratch, so a
result never mixes two attempts. ``--figures`` draws the pictures of ``docs/reproduction.md``.

Example::

    python -m v2v.reproduce --budget cpu --jobs 2
    python -m v2v.reproduce --budget smoke --output /tmp/smoke
    python -m v2v.reproduce --budget gpu --data davis /data/DAVIS
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from v2v.data import TASKS
from v2v.fileio import atomic_write_json, atomic_write_text, json_safe

if TYPE_CHECKING:
    from v2v.config import RunConfig

__all__ = ["Budget", "BUDGETS", "Cell", "default_weights", "plan_cells", "run_cell", "summarize", "format_table", "reproduce", "main"]

SETTING_ORDER = ("image2image", "video2video", "video2video+local", "video2video+local+global")
"""Table 1's rows, in the paper's order."""

TEMPORAL_SETTINGS = ("video2video+local", "video2video+local+global")
"""The settings whose objective has a temporal weight (the trade-off study sweeps it)."""

ACCURACY = {"segmentation": ("J", True), "colorization": ("psnr", True), "superres": ("psnr", True)}
"""Per task: the accuracy metric of the table and whether higher is better."""


def target_is_input_space(task: str) -> bool:
    """Whether ``task``'s accuracy is PSNR against a target in its input's space (colorization,
    super-resolution): then the input itself is a baseline, and on real footage the clip is the
    target. Segmentation (J against masks) has neither."""
    return ACCURACY[task][0] == "psnr"


@dataclass(frozen=True)
class Budget:
    """One preset of :func:`reproduce`: what is trained, for how long, and how it is evaluated.

    Attributes:
        name: the preset's name (``--budget``).
        description: one line for the table's header.
        base_config: the shipped config every cell starts from, unless ``task_configs`` names
            another for its task.
        task_configs: ``(task, config)`` pairs: the shipped config of that task's cells (a task
            whose quickstart trains longer, or has its own temporal weight); every setting and
            seed of the task starts from it, so its rows still compare like with like. A task's
            default temporal weight is its config's (:func:`default_weights`).
        overrides: ``key=value`` overrides applied to every cell (data, steps, network size).
        tasks, settings, seeds: the grid.
        test_videos: test videos evaluated per cell.
        test_frames: frames per test video (None: whole videos).
        tradeoff_task: the task of the trade-off study (None: no study).
        tradeoff_weights: temporal weights swept for :data:`TEMPORAL_SETTINGS`; the config's own
            weight is one of the points and shares the grid's cells.
        jobs: default number of cells trained at once.
    """

    name: str
    description: str
    base_config: str
    overrides: tuple[str, ...]
    task_configs: tuple[tuple[str, str], ...] = ()
    tasks: tuple[str, ...] = TASKS
    settings: tuple[str, ...] = SETTING_ORDER
    seeds: tuple[int, ...] = (0, 1, 2)
    test_videos: int = 8
    test_frames: int | None = None
    tradeoff_task: str | None = "colorization"
    tradeoff_weights: tuple[float, ...] = ()
    jobs: int = 1

    def __post_init__(self) -> None:
        for task, _ in self.task_configs:
            if task not in TASKS:
                raise ValueError(f"Budget {self.name!r}: task_configs names {task!r}, expected one of {TASKS}")

    def config_for(self, task: str) -> str:
        """The shipped config the cells of ``task`` start from."""
        return dict(self.task_configs).get(task, self.base_config)


def default_weights(budget: Budget) -> dict[str, float]:
    """Each task's default ``loss.temporal_weight``: its config's, the weight of its Table 1 rows."""
    from v2v.config import load_config

    return {task: load_config(budget.config_for(task), list(budget.overrides)).loss.temporal_weight
            for task in budget.tasks}


BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        name="smoke",
        description="end-to-end check of the command (meaningless numbers): 20 steps, 48x48 clips",
        base_config="quickstart",
        overrides=(
            "train.steps=20", "data.frame_size=[48,48]", "data.num_train_sequences=8", "data.num_val_sequences=2",
            "data.eval_clip_length=6", "train.log_every=10", "train.image_every=20", "train.checkpoint_every=20",
        ),
        seeds=(0,),
        test_videos=2,
        tradeoff_weights=(5.0,),
    ),
    "cpu": Budget(
        name="cpu",
        description="each task's quickstart config (64x64 synthetic clips, `small` preset, 1000 steps; "
        "segmentation and super-resolution 3000), 8 test videos",
        base_config="quickstart",
        overrides=("data.num_val_sequences=8",),
        task_configs=(("segmentation", "quickstart-segmentation"), ("superres", "quickstart-superres")),
        seeds=(0, 1, 2),
        test_videos=8,
        tradeoff_weights=(10.0, 200.0, 1000.0),
        jobs=2,
    ),
    "gpu": Budget(
        name="gpu",
        description="the paper's networks on 256x256 synthetic clips, 3000 steps per run (one GPU, two runs at "
        "a time)",
        base_config="quickstart",
        task_configs=(("segmentation", "quickstart-segmentation"), ("superres", "quickstart-superres")),
        # 256x256: the paper preset's seven levels then end at 2x2, where instance norm is defined
        # (128x128 frames would reach 1x1). About 0.7 TFLOP per step (torch's FlopCounterMode).
        overrides=(
            "model.preset=paper", "data.frame_size=[256,256]", "train.steps=3000", "data.num_val_sequences=8",
            "train.threads=0", "train.num_workers=4", "train.device=auto", "train.checkpoint_every=3000",
        ),
        seeds=(0, 1, 2),
        test_videos=8,
        tradeoff_weights=(10.0, 200.0, 1000.0),
        jobs=2,
    ),
}


def weight_key(setting: str, weight: float | None) -> float | None:
    """The temporal weight that tells cells of ``setting`` apart: ``weight`` for the settings with
    L_temporal, None for the others (their runs do not depend on it, so a cell trained under
    another default weight is still the same cell)."""
    return weight if setting in TEMPORAL_SETTINGS else None


@dataclass(frozen=True)
class Cell:
    """One training run of the grid: a task, a setting, a seed and (for the study) a temporal weight.

    ``temporal_weight`` is None for the config's own weight (the grid's cells).
    """

    task: str
    setting: str
    seed: int
    temporal_weight: float | None = None

    @property
    def name(self) -> str:
        """Folder name of the cell, unique within a grid."""
        weight = "" if self.temporal_weight is None else f"-wt{self.temporal_weight:g}"
        return f"{self.task}-{self.setting.replace('+', '_')}{weight}-s{self.seed}"


def plan_cells(budget: Budget) -> list[Cell]:
    """Every cell of ``budget``: the grid, then the trade-off study's extra weights."""
    cells = [Cell(task, setting, seed) for task in budget.tasks for setting in budget.settings for seed in budget.seeds]
    if budget.tradeoff_task is not None:
        for setting in TEMPORAL_SETTINGS:
            for weight in budget.tradeoff_weights:
                cells += [Cell(budget.tradeoff_task, setting, seed, weight) for seed in budget.seeds]
    return cells


def cell_overrides(budget: Budget, cell: Cell, data: tuple[str, str] | None) -> list[str]:
    """The ``key=value`` overrides that turn ``budget.config_for(cell.task)`` into ``cell``'s config."""
    overrides = list(budget.overrides) + [f"task={cell.task}", f"setting={cell.setting}", f"seed={cell.seed}"]
    if cell.temporal_weight is not None:
        overrides.append(f"loss.temporal_weight={cell.temporal_weight}")
    if data is not None:
        source, root = data
        overrides += [f"data.source={source}", f"data.root={root}", "data.frame_size=null"]
    return overrides + ["train.progress=false", "train.val_videos=0", "train.run_name=run"]


CELL_LABEL_KEYS = frozenset({"name"})
"""Keys that label a run without changing what it computes (besides :data:`~v2v.config.RESUMABLE_KEYS`)."""


def changed_cell_keys(stored_config: Path, wanted: RunConfig) -> list[str]:
    """The keys in which a complete cell's run (its ``config.yaml``) differs from ``wanted``.

    Keys that do not change what a training run computes are left out (where the run was written,
    threads, logging; ``train.steps`` is kept), and so are the keys the cell's setting does not
    read: ``loss.temporal_weight`` without L_temporal, ``model.temporal_channel_norm`` without the
    temporal channel. A config written before a key existed is read with the key stated as that
    code behaved (:func:`~v2v.models.checkpoint.with_stated_defaults`).

    Raises:
        FileNotFoundError: ``stored_config`` does not exist.
    """
    import yaml

    from v2v.config import RESUMABLE_KEYS, diff_configs
    from v2v.models.checkpoint import with_stated_defaults

    if not stored_config.is_file():
        raise FileNotFoundError(f"{stored_config} is missing: the cell's run cannot be checked against the grid's config")
    stored = with_stated_defaults(yaml.safe_load(stored_config.read_text()))
    ignored = (RESUMABLE_KEYS - {"train.steps"}) | CELL_LABEL_KEYS
    switches = wanted.setting_switches
    if not switches.temporal_loss:
        ignored |= {"loss.temporal_weight"}
    if not switches.temporal_discriminator:
        ignored |= {"model.temporal_channel_norm", "loss.temporal_gan_weight"}
    return [key for key in diff_configs(stored, wanted) if key not in ignored]


def run_cell(budget: Budget, cell: Cell, cell_dir: str, data: tuple[str, str] | None, threads: int) -> dict[str, Any]:
    """Train and evaluate one cell in ``cell_dir``; returns (and writes) its ``cell.json`` entry.

    A complete cell (``cell.json`` present) is read back, not recomputed; an incomplete one is
    deleted first, so that the cell starts cleanly.
    """
    import torch

    from v2v.config import load_config
    from v2v.evaluate import EvaluateConfig, evaluate
    from v2v.train.loop import train

    folder = Path(cell_dir)
    result_file = folder / "cell.json"
    overrides = cell_overrides(budget, cell, data) + [f"train.runs_dir={folder}", f"train.threads={threads}"]
    config = load_config(budget.config_for(cell.task), overrides)
    if result_file.is_file():
        changed = changed_cell_keys(folder / "run" / "config.yaml", config)
        if changed:
            # A default changed since the cell was trained: reusing it would mix two configs.
            raise ValueError(
                f"cell {folder} was trained with another config ({', '.join(changed)} "
                f"{'differs' if len(changed) == 1 else 'differ'} from what the grid now asks for): delete that "
                "folder to train it again, or use another --output"
            )
        return json.loads(result_file.read_text())
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    train(config)
    trained = time.perf_counter()
    report = evaluate(
        EvaluateConfig(
            checkpoint=str(folder / "run"),
            output_dir=str(folder / "eval"),
            max_videos=budget.test_videos,
            max_frames=budget.test_frames,
            device=config.train.device,
            progress=False,
        )
    )
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
    atomic_write_json(result_file, entry)
    return entry


# --------------------------------------------------------------------------------------------------
# The table.


def _stats(values: list[float]) -> tuple[float, float, int]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    return float(np.mean(finite)), float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0, len(finite)


def summarize(entries: list[dict[str, Any]]) -> dict[tuple[str, str, float], dict[str, tuple[float, float, int]]]:
    """Mean, sample std and count over seeds of every metric, per ``(task, setting, weight_key)``."""
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for entry in entries:
        key = (entry["task"], entry["setting"], weight_key(entry["setting"], entry["temporal_weight"]))
        groups.setdefault(key, []).append(entry["metrics"])
    summary = {}
    for key, rows in groups.items():
        names = sorted({name for row in rows for name in row})
        summary[key] = {name: _stats([row.get(name) for row in rows]) for name in names}
    return summary


def _cell_text(stats: tuple[float, float, int] | None, digits: str) -> str:
    if stats is None or not math.isfinite(stats[0]):
        return "n/a"
    mean, std, count = stats
    return f"{mean:{digits}} ± {std:{digits}}" if count > 1 else f"{mean:{digits}}"


_DIGITS = {"psnr": ".2f", "J": ".3f", "F": ".3f", "T": ".3f", "warping_error": ".2e", "warping_error_target": ".2e", "tOF": ".3f"}


def _ordering(summary, task: str, default_weight: float, metric: str, better_low: bool, first: str, second: str) -> str:
    """Whether ``first`` beats ``second`` on ``metric`` by more than the seed spread."""
    a = summary.get((task, first, weight_key(first, default_weight)), {}).get(metric)
    b = summary.get((task, second, weight_key(second, default_weight)), {}).get(metric)
    if a is None or b is None or not (math.isfinite(a[0]) and math.isfinite(b[0])):
        return f"| {task} | {metric}: {first} vs {second} | n/a | |"
    gap = (b[0] - a[0]) if better_low else (a[0] - b[0])
    spread = max(a[1], b[1])
    if min(a[2], b[2]) < 2:
        return f"| {task} | {metric}: {first} better than {second} | {gap:+.3g} | n/a (one seed: no spread) |"
    verdict = "yes" if gap > spread and gap > 0 else ("no (within the seed spread)" if abs(gap) <= spread else "no (the reverse)")
    return f"| {task} | {metric}: {first} better than {second} | {gap:+.3g} (spread {spread:.2g}) | {verdict} |"


def format_table(report: dict[str, Any]) -> str:
    """``table1-<budget>.md``: Table 1 per task (accuracy, consistency, mean ± std over seeds), the
    orderings the paper claims with whether each gap exceeds the seed spread, and the study."""
    entries = report["cells"]
    summary = summarize(entries)
    weights = report["default_temporal_weights"]
    lines = [
        f"# Table 1 reproduction: budget `{report['budget']}`",
        "",
        f"{report['description']}. Seeds {', '.join(map(str, report['seeds']))}; "
        f"{report['test_videos']} test videos per cell; mean ± sample std over seeds.",
        f"Machine: {report['machine']}. Commit `{report['commit']}`. Command: `{report['command']}`.",
        "",
        "Higher is better for PSNR, J and F; lower for warping error (`warping_error`, the mean squared",
        "residual over valid pixels on [0, 1], flows of the input video), tOF and T. `warping_error_target`",
        "is the ground truth's own warping error (interpolation error only).",
    ]
    for task in report["tasks"]:
        accuracy = ["J", "F", "T"] if task == "segmentation" else ["psnr"]
        columns = accuracy + ["warping_error", "tOF", "warping_error_target"]
        steps = sorted({entry["steps"] for entry in entries if entry["task"] == task})
        lines += ["", f"## {task} ({', '.join(map(str, steps))} steps)", "",
                  "| setting | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for setting in report["settings"]:
            stats = summary.get((task, setting, weight_key(setting, weights[task])), {})
            lines.append(f"| {setting} | " + " | ".join(_cell_text(stats.get(c), _DIGITS[c]) for c in columns) + " |")
        if task in report.get("input_psnr", {}):
            lines.append(f"| *the input as the output* | {report['input_psnr'][task]:.2f} |" + " |" * (len(columns) - 1))
    lines += ["", "## Orderings", "", "| task | claim | gap | beyond the seed spread? |", "|---|---|---|---|"]
    for task in report["tasks"]:
        metric, _ = ACCURACY[task]
        for first, second in (("video2video+local+global", "image2image"), ("video2video+local", "video2video"),
                              ("video2video+local+global", "video2video+local")):
            lines.append(_ordering(summary, task, weights[task], "warping_error", True, first, second))
        lines.append(_ordering(summary, task, weights[task], metric, False, "video2video+local+global", "image2image"))
    study = report.get("tradeoff_task")
    if study:
        metric, _ = ACCURACY[study]
        lines += ["", f"## Trade-off study ({study}, `loss.temporal_weight`)", "",
                  f"| setting | temporal weight | {metric} | warping_error | tOF |", "|---|---|---|---|---|"]
        keys = sorted(k for k in summary if k[0] == study)
        for _, setting, w in sorted(keys, key=lambda k: (SETTING_ORDER.index(k[1]), k[2] or 0.0)):
            stats = summary[(study, setting, w)]
            shown = f"{w:g}" if setting in TEMPORAL_SETTINGS else "-"
            lines.append(f"| {setting} | {shown} | {_cell_text(stats.get(metric), _DIGITS[metric])} | "
                         f"{_cell_text(stats.get('warping_error'), '.2e')} | {_cell_text(stats.get('tOF'), '.3f')} |")
    real = report.get("real_footage")
    if real:
        lines += _real_footage_lines(real, report["real_footage_input_psnr"])
    return "\n".join(lines) + "\n"


def _real_footage_lines(real: list[dict[str, Any]], input_psnr: dict[str, dict[str, float]]) -> list[str]:
    """The table's real-footage sections, one per task: per setting, mean ± std over seeds of the
    per-clip means (and, where the target is the clip, the PSNR of the input taken as the output,
    ``input_psnr[task][clip]``), then per clip each setting's warping error (and PSNR), mean over
    seeds, beside the clip's own warping error (and the input's PSNR)."""
    lines: list[str] = []
    for task in [t for t in ACCURACY if any(entry["task"] == t for entry in real)]:
        rows = [entry for entry in real if entry["task"] == task]
        clips = sorted({entry["clip"] for entry in rows})
        settings = [s for s in SETTING_ORDER if any(entry["setting"] == s for entry in rows)]
        with_target = target_is_input_space(task)
        keys = (("psnr",) if with_target else ()) + ("warping_error", "warping_error_l1", "tOF", "flicker")
        digits = {"psnr": ".2f", "warping_error": ".2e", "warping_error_l1": ".4f", "tOF": ".3f", "flicker": ".4f"}
        accuracy = ("PSNR against the clip (the target)." if with_target else
                    "No ground truth: consistency only; the clip's own warping error is that of its RGB frames.")
        lines += ["", f"## Real footage ({task}, {len(clips)} clips)", "",
                  "Each clip translated with `v2v.translate` by every seed's model and scored with `v2v.score` (protocol",
                  f"`v2v`, DIS flows of the clip itself). {accuracy} Per setting: mean ± std over seeds of the",
                  "mean over clips.", "", "| setting | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for setting in settings:
            per_seed: dict[int, list[dict[str, Any]]] = {}
            for entry in rows:
                if entry["setting"] == setting:
                    per_seed.setdefault(entry["seed"], []).append(entry["metrics"])
            cells = []
            for key in keys:
                seed_means = [float(np.mean([m[key] for m in metrics if m.get(key) is not None])) for metrics in per_seed.values()]
                cells.append(_cell_text(_stats(seed_means), digits[key]))
            lines.append(f"| {setting} | " + " | ".join(cells) + " |")
        own_warping_error = {entry["clip"]: entry["reference"]["warping_error"] for entry in rows}
        per_clip = [("warping_error", ".2e", "the clip itself", own_warping_error)]
        if with_target:
            lines.append(f"| *the input as the output* | {np.mean([input_psnr[task][c] for c in clips]):.2f} |"
                         + " |" * (len(keys) - 1))
            per_clip.append(("psnr", ".2f", "the input as the output", input_psnr[task]))
        for key, digit, reference, reference_values in per_clip:
            lines += ["", f"`{key}` per clip (mean over seeds):", "",
                      "| clip | " + " | ".join(settings) + f" | {reference} |", "|---" * (len(settings) + 2) + "|"]
            for clip in clips:
                row = [Path(clip).name]
                for setting in settings:
                    values = [e["metrics"][key] for e in rows if e["clip"] == clip and e["setting"] == setting]
                    row.append(f"{np.mean(values):{digit}}")
                row.append(f"{reference_values[clip]:{digit}}")
                lines.append("| " + " | ".join(row) + " |")
    return lines


REAL_FOOTAGE_SETTINGS = ("image2image", "video2video+local+global")
"""The settings scored on real clips: the shipped default and its image2image twin (the claim of
docs/reproduction.md); translating every setting's models costs twice the time."""


def score_real_footage(report: dict[str, Any], output: Path, clips: list[Path], *, progress: bool = False) -> list[dict[str, Any]]:
    """Translate every real clip with every cell of the grid in :data:`REAL_FOOTAGE_SETTINGS` (each
    task's default temporal weight; task by task, seed by seed) through ``v2v.translate`` and score
    it with ``v2v.score``'s default protocol (flows of the clip itself); for the tasks whose target
    is the clip (colorization, super-resolution: :data:`ACCURACY` is PSNR) also PSNR against it.

    Args:
        report: the grid's report (:func:`reproduce`).
        output: the grid's folder; translations and their scores go to the cell's ``real/`` folder
            (so a cell trained again is scored again), and a
            clip already scored for a cell is read back, not recomputed.
        clips: video files or frame folders of real footage (RGB).

    Returns:
        One entry per cell and clip: ``task``, ``setting``, ``seed``, ``clip``, ``metrics``
        (``warping_error``, ``warping_error_l1``, ``tOF``, ``flicker``, and ``psnr`` where the
        target is the clip) and
        ``reference`` (the clip's own warping error and flicker: what a perfectly consistent
        output would score).
    """
    from v2v import metrics
    from v2v.data.video_io import read_video
    from v2v.score import score_videos
    from v2v.translate import TranslateConfig, translate

    defaults = report["default_temporal_weights"]
    entries = []
    chosen = [entry for entry in report["cells"] if entry["setting"] in REAL_FOOTAGE_SETTINGS
              and weight_key(entry["setting"], entry["temporal_weight"]) == weight_key(entry["setting"], defaults[entry["task"]])]
    order = list(ACCURACY)
    for entry in sorted(chosen, key=lambda e: (order.index(e["task"]), e["seed"], REAL_FOOTAGE_SETTINGS.index(e["setting"]))):
        cell = Cell(entry["task"], entry["setting"], entry["seed"])
        run_dir = output / "cells" / cell.name / "run"
        for clip in clips:
            folder = output / "cells" / cell.name / "real"
            result_file = folder / f"{clip.stem}.json"
            if result_file.is_file():
                entries.append(json.loads(result_file.read_text()))
                continue
            translated = folder / clip.stem
            folder.mkdir(parents=True, exist_ok=True)
            translate(TranslateConfig(checkpoint=str(run_dir), input=str(clip), output=str(translated),
                                      overwrite=True, progress=progress))
            scored = score_videos([str(translated), str(clip)], str(clip), progress=progress)
            keys = ("warping_error", "warping_error_l1", "tOF", "flicker")
            accuracy = {}
            if target_is_input_space(cell.task):
                produced, _ = read_video(translated)
                original, _ = read_video(clip)
                accuracy = {"psnr": float(metrics.psnr(produced, original))}
            result = {
                "task": cell.task, "setting": cell.setting, "seed": cell.seed, "clip": str(clip),
                "frames": scored["videos"][0]["frames"],
                "metrics": json_safe({**accuracy, **{k: scored["videos"][0][k] for k in keys}}),
                "reference": json_safe({k: scored["videos"][1][k] for k in ("warping_error", "flicker")}),
            }
            atomic_write_json(result_file, result)
            entries.append(result)
    return entries


def real_input_baselines(clips: list[Path], tasks: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Per task of ``tasks`` whose target is the clip (:data:`ACCURACY` is PSNR), the PSNR of each
    real clip's input taken as the output (colorization: the clip's luma as gray RGB;
    super-resolution: its bicubic /2 then x2 version), quantized to 8 bits as a translated video is,
    against the clip: the number a model must beat on real footage. ``{task: {clip: psnr}}``."""
    from v2v import metrics
    from v2v.data import get_task, to_unit_range
    from v2v.data.video_io import read_video

    baselines: dict[str, dict[str, float]] = {}
    originals = {str(clip): read_video(clip)[0] for clip in clips}
    for name in tasks:
        if not target_is_input_space(name):
            continue
        task = get_task(name)
        baselines[name] = {}
        for clip, original in originals.items():
            base = to_unit_range(task.output_base(task.input(original))).clamp(0, 1)
            # Rounded to the 256 levels that a translated (8-bit) video keeps, as the models' outputs are.
            baselines[name][clip] = float(metrics.psnr((base * 255).round() / 255, original))
    return baselines


def input_baselines(budget: Budget, data: tuple[str, str] | None) -> dict[str, float]:
    """PSNR of the input itself taken as the output (the gray frames for colorization, the bicubic
    up-scaling for super-resolution) on the grid's test videos: the number a model must beat."""
    from v2v import metrics
    from v2v.config import load_config
    from v2v.data import DEFAULT_EVALUATION_SPLIT, build_dataset, to_unit_range

    baselines = {}
    for task in budget.tasks:
        if not target_is_input_space(task):
            continue
        config = load_config(budget.config_for(task), cell_overrides(budget, Cell(task, SETTING_ORDER[0], 0), data))
        dataset = build_dataset(config.data, DEFAULT_EVALUATION_SPLIT[config.data.source], task)
        values = []
        for index in range(min(len(dataset), budget.test_videos)):
            item = dataset[index]
            frames = item["input"].shape[0] if budget.test_frames is None else min(budget.test_frames, item["input"].shape[0])
            target = to_unit_range(item["target"][:frames]).clamp(0, 1)
            values.append(metrics.psnr(to_unit_range(item["input"][:frames]).clamp(0, 1).expand_as(target), target))
        baselines[task] = float(np.mean(values))
    return baselines


def current_commit() -> str:
    """The checkout's commit hash, with ``+uncommitted`` when tracked files differ ("unknown"
    outside a git checkout): what every result file records."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parent).stdout.strip()
        return sha + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_description() -> str:
    """CPU model, core count, GPU name if any, torch and Python versions: what every result file records."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}, Python {platform.python_version()}"


def reproduce(budget: Budget, output: Path, *, jobs: int, data: tuple[str, str] | None = None,
              real_clips: list[Path] | None = None, command: str = "", progress: bool = True) -> dict[str, Any]:
    """Run (or finish) every cell of ``budget`` under ``output`` and write the table.

    Args:
        budget: the preset.
        output: the grid's folder (created; complete cells in it are kept).
        jobs: cells trained at once, each in its own process with one thread (0 or 1: in this
            process, with torch's default threads when ``jobs`` is 0).
        data: ``("davis", root)`` to train and test on a DAVIS 2017 folder instead of the
            synthetic clips.
        real_clips: real videos (files or frame folders) to translate and score with every
            task's cells of :data:`REAL_FOOTAGE_SETTINGS` (:func:`score_real_footage`).
        command: the command line recorded in the table.

    Returns:
        The report written to ``table1-<budget>.json``.
    """
    from tqdm import tqdm

    for clip in real_clips or []:
        if not clip.exists():
            raise FileNotFoundError(f"--real-video {clip} does not exist (expected a video file or a folder of frames)")
    cells = plan_cells(budget)
    weights = default_weights(budget)
    if budget.tradeoff_task is not None and budget.tradeoff_task not in budget.tasks:
        raise ValueError(f"tradeoff_task {budget.tradeoff_task!r} is not one of the budget's tasks {budget.tasks}")
    output.mkdir(parents=True, exist_ok=True)
    entries: dict[Cell, dict[str, Any]] = {}
    bar = tqdm(total=len(cells), desc=f"reproduce {budget.name}", unit="cell", disable=not progress)
    threads = 1 if jobs >= 1 else 0
    if jobs <= 1:
        for cell in cells:
            entries[cell] = run_cell(budget, cell, str(output / "cells" / cell.name), data, threads)
            bar.update(1)
    else:
        import multiprocessing

        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(run_cell, budget, cell, str(output / "cells" / cell.name), data, threads): cell
                       for cell in cells}
            for future in as_completed(futures):
                entries[futures[future]] = future.result()
                bar.update(1)
    bar.close()
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
        "input_psnr": input_baselines(budget, data),
        "cells": [entries[cell] for cell in cells],
    }
    if real_clips:
        report["real_footage"] = score_real_footage(report, output, real_clips, progress=progress)
        report["real_footage_input_psnr"] = real_input_baselines(real_clips, budget.tasks)
    atomic_write_json(output / f"table1-{budget.name}.json", report)
    atomic_write_text(output / f"table1-{budget.name}.md", format_table(report))
    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m v2v.reproduce",
        description="Train and evaluate every setting of the paper's Table 1 on every task over seeds, plus a "
        "temporal-weight trade-off study; writes table1-<budget>.md and .json.",
    )
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="cpu", help="preset (default: cpu)")
    parser.add_argument("--output", default=None, help="grid folder (default: runs/reproduce-<budget>)")
    parser.add_argument("--jobs", type=int, default=None, help="cells trained at once (default: the budget's)")
    parser.add_argument("--data", nargs=2, metavar=("davis", "PATH"), default=None,
                        help="train and test on a DAVIS 2017 folder instead of the bundled synthetic clips")
    parser.add_argument("--real-video", nargs="+", default=None, metavar="CLIP",
                        help=f"real clips (video files or frame folders) to translate with every task's cells of "
                        f"{' and '.join(REAL_FOOTAGE_SETTINGS)} and score (flows of the clip itself; PSNR against "
                        "the clip for colorization and super-resolution)")
    parser.add_argument("--figures", action="store_true",
                        help="also draw the strips, the per-frame warping error and the trade-off plot into OUTPUT/figures")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 success, 2 bad options or data)."""
    args = _parser().parse_args(argv)
    try:  # before any heavy work: the cells train on device "auto" and score on the CPU
        import v2vcore
        from v2v.inference import resolve_device

        v2vcore.check_device(resolve_device("auto"))
        v2vcore.check_device("cpu")
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    budget = BUDGETS[args.budget]
    jobs = budget.jobs if args.jobs is None else args.jobs
    if jobs < 0:
        print(f"error: --jobs must be >= 0, got {jobs}", file=sys.stderr)
        return 2
    data = None
    if args.data is not None:
        source, root = args.data
        if source != "davis":
            print(f"error: --data takes 'davis PATH', got {source!r}", file=sys.stderr)
            return 2
        if not Path(root).is_dir():
            print(f"error: --data davis: {root} is not a folder (a DAVIS 2017 folder with JPEGImages/ and "
                  "Annotations/)", file=sys.stderr)
            return 2
        data = ("davis", root)
    output = Path(args.output or f"runs/reproduce-{budget.name}")
    command = "python -m v2v.reproduce " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        real_clips = [Path(clip) for clip in args.real_video] if args.real_video else None
        report = reproduce(budget, output, jobs=jobs, data=data, real_clips=real_clips, command=command.strip(),
                           progress=not args.quiet)
        if args.figures:
            from v2v.figures import draw_figures

            draw_figures(report, output, output / "figures")
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_table(report))
    print(f"wrote {output}/table1-{budget.name}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
