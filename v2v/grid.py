"""The Table 1 grid as data: budgets, cells and their folders, planning, reuse, summaries and the table.

A grid trains every setting of the paper's Table 1 (:data:`~v2v.config.SETTINGS`) on every task of
a :class:`Budget` over seeds, plus a trade-off study over the weight of L_temporal. This module
holds what the grid is and what its results say; training and scoring the cells is
:mod:`v2v.reproduce`'s, drawing them :mod:`v2v.figures`'. Everything task-specific (the accuracy
columns, which accuracy the orderings compare, whether the input is a baseline) comes from the task
registry (:mod:`v2v.tasks`).

Folder layout of a grid (:class:`CellFolder` owns a cell's part)::

    <grid>/cells/<cell>/run/          the cell's training run (config.yaml, checkpoints, generator export)
    <grid>/cells/<cell>/eval/         its evaluation (eval.json, eval.md)
    <grid>/cells/<cell>/cell.json     written last: the cell is complete
    <grid>/cells/<cell>/real/<clip>.json   its scores on a real clip
    <grid>/cells/<cell>/real/<clip>/  its translation of that clip (PNG frames, as scored)
    <grid>/table1-<budget>.md, .json  the table
    <grid>/figures/                   the pictures
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from v2v.config import (
    DEFAULT_CONFIG,
    RESUMABLE_KEYS,
    SETTING_ORDER,
    SETTINGS,
    TEMPORAL_SETTINGS,
    RunConfig,
    load_config,
    with_stated_defaults,
)
from v2v.config_engine import diff
from v2v.tables import markdown_table
from v2v.tasks import TRANSLATION_TASKS, get_task

__all__ = [
    "Budget",
    "BUDGETS",
    "REAL_FOOTAGE_SETTINGS",
    "Cell",
    "CellFolder",
    "GridFiles",
    "default_weights",
    "weight_key",
    "plan_cells",
    "cell_overrides",
    "changed_cell_keys",
    "seed_stats",
    "summarize",
    "format_table",
]


@dataclass(frozen=True)
class Budget:
    """One preset of the grid: what is trained, for how long, and how it is evaluated.

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
        tradeoff_weights: temporal weights swept for :data:`~v2v.config.TEMPORAL_SETTINGS`; the
            config's own weight is one of the points and shares the grid's cells.
        jobs: default number of cells trained at once.
        data_source: the data its configs train on: ``synthetic`` (bundled), or a source whose
            folder ``--data SOURCE PATH`` must give (``videos``).
    """

    name: str
    description: str
    base_config: str
    overrides: tuple[str, ...]
    task_configs: tuple[tuple[str, str], ...] = ()
    tasks: tuple[str, ...] = TRANSLATION_TASKS
    settings: tuple[str, ...] = SETTING_ORDER
    seeds: tuple[int, ...] = (0, 1, 2)
    test_videos: int = 8
    test_frames: int | None = None
    tradeoff_task: str | None = "colorization"
    tradeoff_weights: tuple[float, ...] = ()
    jobs: int = 1
    data_source: str = "synthetic"

    def __post_init__(self) -> None:
        for task in (*self.tasks, *(task for task, _ in self.task_configs)):
            get_task(task)  # an unknown task is an error naming it
        for setting in self.settings:
            if setting not in SETTINGS:
                raise ValueError(f"Budget {self.name!r}: unknown setting {setting!r}, expected one of {SETTING_ORDER}")
        if self.tradeoff_task is not None and self.tradeoff_task not in self.tasks:
            raise ValueError(f"Budget {self.name!r}: tradeoff_task {self.tradeoff_task!r} is not one of its tasks {self.tasks}")

    def check_data(self, data: tuple[str, str] | None) -> None:
        """Refuse a data set the budget's configs cannot train on.

        Raises:
            ValueError: a budget for a folder of data without ``--data``, or with another source.
        """
        if self.data_source != "synthetic" and (data is None or data[0] != self.data_source):
            raise ValueError(f"budget {self.name!r} trains on a folder of {self.data_source}: pass --data {self.data_source} PATH")

    def config_for(self, task: str) -> str:
        """The shipped config the cells of ``task`` start from."""
        return dict(self.task_configs).get(task, self.base_config)

    def files(self, grid: Path) -> GridFiles:
        """Where this budget's grid in folder ``grid`` writes its table and pictures."""
        return GridFiles(grid, self.name)


@dataclass(frozen=True)
class GridFiles:
    """The files of a whole grid (the cells' are :class:`CellFolder`'s)."""

    root: Path
    budget: str

    @property
    def table_markdown(self) -> Path:
        """``table1-<budget>.md``."""
        return self.root / f"table1-{self.budget}.md"

    @property
    def table_json(self) -> Path:
        """``table1-<budget>.json``: the report."""
        return self.root / f"table1-{self.budget}.json"

    @property
    def figures(self) -> Path:
        """The pictures' folder."""
        return self.root / "figures"


def default_weights(budget: Budget) -> dict[str, float]:
    """Each task's default ``loss.temporal_weight``: its config's, the weight of its Table 1 rows."""
    return {task: load_config(budget.config_for(task), list(budget.overrides)).loss.temporal_weight for task in budget.tasks}


BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        name="smoke",
        description="end-to-end check of the command (meaningless numbers): 20 steps, 48x48 clips",
        base_config=DEFAULT_CONFIG,
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
        base_config=DEFAULT_CONFIG,
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
        base_config=DEFAULT_CONFIG,
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
    "real": Budget(
        name="real",
        description="each task's real-video recipe (configs/real-colorization.yaml, real-superres.yaml) on a folder "
        "of videos (`--data videos DIR`, benchmarks/real_corpus.py), evaluated on every shot of its val videos",
        base_config="real-colorization",
        overrides=(),
        task_configs=(("superres", "real-superres"),),
        tasks=("colorization", "superres"),
        seeds=(0, 1, 2),
        test_videos=1000,  # every shot of the val split
        tradeoff_task=None,
        jobs=2,
        data_source="videos",
    ),
}

REAL_FOOTAGE_SETTINGS = ("image2image", "video2video+local+global")
"""The settings scored on real clips: the shipped default and its image2image twin (the claim of
docs/reproduction.md); translating every setting's models costs twice the time."""


def weight_key(setting: str, weight: float | None) -> float | None:
    """The temporal weight that tells cells of ``setting`` apart: ``weight`` for the settings with
    L_temporal, None for the others (their runs do not depend on it, so a cell trained under
    another default weight is still the same cell)."""
    return weight if setting in TEMPORAL_SETTINGS else None


@dataclass(frozen=True)
class CellFolder:
    """The folder of one cell and the files in it (see the module docstring)."""

    root: Path

    @property
    def run(self) -> Path:
        """The cell's training run."""
        return self.root / "run"

    @property
    def eval(self) -> Path:
        """The cell's evaluation on the grid's test videos."""
        return self.root / "eval"

    @property
    def result(self) -> Path:
        """``cell.json``, written when the cell is complete."""
        return self.root / "cell.json"

    @property
    def real(self) -> Path:
        """The folder of the cell's scores on real clips."""
        return self.root / "real"

    def real_result(self, clip: Path) -> Path:
        """Where the cell's scores on real clip ``clip`` are kept."""
        return self.real / f"{clip.stem}.json"

    def real_translation(self, clip: Path) -> Path:
        """The cell's translation of real clip ``clip``, a folder of PNG frames as scored."""
        return self.real / clip.stem


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

    def folder(self, grid: Path) -> CellFolder:
        """The cell's folder in grid folder ``grid``."""
        return CellFolder(grid / "cells" / self.name)

    @classmethod
    def of_entry(cls, entry: dict[str, Any], default_weight: float) -> Cell:
        """The cell a ``cell.json`` entry describes (its weight None when it is the task's default)."""
        weight = weight_key(entry["setting"], entry["temporal_weight"])
        return cls(entry["task"], entry["setting"], entry["seed"], None if weight in (None, default_weight) else weight)


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
    code behaved (:func:`~v2v.config.with_stated_defaults`).

    Raises:
        FileNotFoundError: ``stored_config`` does not exist.
    """
    if not stored_config.is_file():
        raise FileNotFoundError(f"{stored_config} is missing: the cell's run cannot be checked against the grid's config")
    stored = with_stated_defaults(yaml.safe_load(stored_config.read_text()))
    ignored = (RESUMABLE_KEYS - {"train.steps"}) | CELL_LABEL_KEYS
    switches = wanted.setting_switches
    if not switches.temporal_loss:
        ignored |= {"loss.temporal_weight"}
    if not switches.temporal_discriminator:
        ignored |= {"model.temporal_channel_norm", "loss.temporal_gan_weight"}
    return [key for key in diff(stored, wanted) if key not in ignored]


# --------------------------------------------------------------------------------------------------
# What the cells say.


def seed_stats(values: list[float | None]) -> tuple[float, float, int]:
    """Mean, sample standard deviation and count of the finite ``values`` (one per seed);
    ``(nan, nan, 0)`` when none is finite."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    return float(np.mean(finite)), float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0, len(finite)


def summarize(entries: list[dict[str, Any]]) -> dict[tuple[str, str, float | None], dict[str, tuple[float, float, int]]]:
    """:func:`seed_stats` over seeds of every metric, per ``(task, setting, weight_key)``."""
    groups: dict[tuple[str, str, float | None], list[dict[str, Any]]] = {}
    for entry in entries:
        key = (entry["task"], entry["setting"], weight_key(entry["setting"], entry["temporal_weight"]))
        groups.setdefault(key, []).append(entry["metrics"])
    summary = {}
    for key, rows in groups.items():
        names = sorted({name for row in rows for name in row})
        summary[key] = {name: seed_stats([row.get(name) for row in rows]) for name in names}
    return summary


def _cell_text(stats: tuple[float, float, int] | None, digits: str) -> str:
    if stats is None or not math.isfinite(stats[0]):
        return "n/a"
    mean, std, count = stats
    return f"{mean:{digits}} ± {std:{digits}}" if count > 1 else f"{mean:{digits}}"


_DIGITS = {"psnr": ".2f", "ssim": ".3f", "J": ".3f", "F": ".3f", "T": ".3f", "warping_error": ".2e", "warping_error_target": ".2e",
           "tOF": ".3f", "warping_error_l1": ".4f", "flicker": ".4f"}
"""How many digits a metric shows in the table."""


def _ordering(summary, task: str, default_weight: float, metric: str, better_low: bool, first: str, second: str) -> list[str]:
    """A row saying whether ``first`` beats ``second`` on ``metric`` by more than the seed spread."""
    a = summary.get((task, first, weight_key(first, default_weight)), {}).get(metric)
    b = summary.get((task, second, weight_key(second, default_weight)), {}).get(metric)
    if a is None or b is None or not (math.isfinite(a[0]) and math.isfinite(b[0])):
        return [task, f"{metric}: {first} vs {second}", "n/a", ""]
    gap = (b[0] - a[0]) if better_low else (a[0] - b[0])
    spread = max(a[1], b[1])
    if min(a[2], b[2]) < 2:
        return [task, f"{metric}: {first} better than {second}", f"{gap:+.3g}", "n/a (one seed: no spread)"]
    verdict = "yes" if gap > spread and gap > 0 else ("no (within the seed spread)" if abs(gap) <= spread else "no (the reverse)")
    return [task, f"{metric}: {first} better than {second}", f"{gap:+.3g} (spread {spread:.2g})", verdict]


def format_table(report: dict[str, Any]) -> str:
    """``table1-<budget>.md``: Table 1 per task (accuracy, consistency, mean ± std over seeds), the
    orderings the paper claims with whether each gap exceeds the seed spread, the trade-off study
    and, if scored, real footage."""
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
        measured = {name for entry in entries if entry["task"] == task for name in entry["metrics"]}
        # A column no cell measured (a metric added after the cells were scored) is left out.
        columns = [c for c in get_task(task).table_metrics if c in measured] + ["warping_error", "tOF", "warping_error_target"]
        steps = sorted({entry["steps"] for entry in entries if entry["task"] == task})
        rows = []
        for setting in report["settings"]:
            stats = summary.get((task, setting, weight_key(setting, weights[task])), {})
            rows.append([setting, *(_cell_text(stats.get(c), _DIGITS[c]) for c in columns)])
        if task in report.get("input_psnr", {}):
            rows.append(["*the input as the output*", f"{report['input_psnr'][task]:.2f}"])
        lines += ["", f"## {task} ({', '.join(map(str, steps))} steps)", "", *markdown_table(["setting", *columns], rows)]
    orderings = []
    for task in report["tasks"]:
        metric, _ = get_task(task).accuracy_metric
        for first, second in (("video2video+local+global", "image2image"), ("video2video+local", "video2video"),
                              ("video2video+local+global", "video2video+local")):
            orderings.append(_ordering(summary, task, weights[task], "warping_error", True, first, second))
        orderings.append(_ordering(summary, task, weights[task], metric, False, "video2video+local+global", "image2image"))
    lines += ["", "## Orderings", "", *markdown_table(["task", "claim", "gap", "beyond the seed spread?"], orderings)]
    study = report.get("tradeoff_task")
    if study:
        metric, _ = get_task(study).accuracy_metric
        rows = []
        keys = sorted(k for k in summary if k[0] == study)
        for _, setting, w in sorted(keys, key=lambda k: (SETTING_ORDER.index(k[1]), k[2] or 0.0)):
            stats = summary[(study, setting, w)]
            shown = f"{w:g}" if setting in TEMPORAL_SETTINGS else "-"
            rows.append([setting, shown, _cell_text(stats.get(metric), _DIGITS[metric]),
                         _cell_text(stats.get("warping_error"), ".2e"), _cell_text(stats.get("tOF"), ".3f")])
        lines += ["", f"## Trade-off study ({study}, `loss.temporal_weight`)", "",
                  *markdown_table(["setting", "temporal weight", metric, "warping_error", "tOF"], rows)]
    real = report.get("real_footage")
    if real:
        lines += _real_footage_lines(real, report["real_footage_input_psnr"], report["tasks"])
    return "\n".join(lines) + "\n"


def _real_footage_lines(real: list[dict[str, Any]], input_psnr: dict[str, dict[str, float]], tasks: list[str]) -> list[str]:
    """The table's real-footage sections, one per task: per setting, mean ± std over seeds of the
    per-clip means (and, where the target is the clip, the PSNR of the input taken as the output,
    ``input_psnr[task][clip]``), then per clip each setting's warping error (and PSNR), mean over
    seeds, beside the clip's own warping error (and the input's PSNR)."""
    lines: list[str] = []
    for task in [t for t in tasks if any(entry["task"] == t for entry in real)]:
        rows = [entry for entry in real if entry["task"] == task]
        clips = sorted({entry["clip"] for entry in rows})
        settings = [s for s in SETTING_ORDER if any(entry["setting"] == s for entry in rows)]
        with_target = get_task(task).self_supervised
        accuracy_keys = tuple(key for key in ("psnr", "ssim") if any(key in entry["metrics"] for entry in rows))
        keys = accuracy_keys + ("warping_error", "warping_error_l1", "tOF", "flicker")
        accuracy = ("PSNR against the clip (the target)." if with_target else
                    "No ground truth: consistency only; the clip's own warping error is that of its RGB frames.")
        table = []
        for setting in settings:
            per_seed: dict[int, list[dict[str, Any]]] = {}
            for entry in rows:
                if entry["setting"] == setting:
                    per_seed.setdefault(entry["seed"], []).append(entry["metrics"])
            cells = []
            for key in keys:
                seed_means = [float(np.mean([m[key] for m in metrics if m.get(key) is not None])) for metrics in per_seed.values()]
                cells.append(_cell_text(seed_stats(seed_means), _DIGITS[key]))
            table.append([setting, *cells])
        own_warping_error = {entry["clip"]: entry["reference"]["warping_error"] for entry in rows}
        per_clip = [("warping_error", "the clip itself", own_warping_error)]
        if with_target:
            table.append(["*the input as the output*", f"{np.mean([input_psnr[task][c] for c in clips]):.2f}"])
            per_clip.append(("psnr", "the input as the output", input_psnr[task]))
        lines += ["", f"## Real footage ({task}, {len(clips)} clips)", "",
                  "Each clip translated with `v2v.translate` by every seed's model and scored with `v2v.score` (protocol",
                  f"`v2v`, DIS flows of the clip itself). {accuracy} Per setting: mean ± std over seeds of the",
                  "mean over clips.", "", *markdown_table(["setting", *keys], table)]
        for key, reference, reference_values in per_clip:
            clip_rows = []
            for clip in clips:
                row = [Path(clip).name]
                for setting in settings:
                    values = [e["metrics"][key] for e in rows if e["clip"] == clip and e["setting"] == setting]
                    row.append(f"{np.mean(values):{_DIGITS[key]}}")
                row.append(f"{reference_values[clip]:{_DIGITS[key]}}")
                clip_rows.append(row)
            lines += ["", f"`{key}` per clip (mean over seeds):", "", *markdown_table(["clip", *settings, reference], clip_rows)]
    return lines
