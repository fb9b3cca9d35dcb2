"""Evaluate a trained generator on a data set: ``python -m v2v.evaluate``.

Every test video is translated frame by frame with the generator's streaming ``step`` (as
``v2v.translate`` does, the recurrent state running through the whole video) and scored by
:func:`v2v.scoring.score_clip`, the code and metric names of a run's validation
(``metrics.json``):

- segmentation: ``J`` and ``F`` (per-frame, then the DAVIS mean, ``*_recall`` and ``*_decay`` per
  sequence) and ``T`` (outputs thresholded at 0, the middle of [-1, 1]);
- colorization and super-resolution: ``psnr`` on [0, 1] RGB, per frame then per video, and
  ``psnr_input``, the input itself taken as the answer;
- every task: ``l1``, the warping error of the output (and, for reference, of the target) from the
  data set's flows of the input video, and ``tOF`` of the output against the target.

Data-set means are means over sequences (NaN values skipped). Results go to ``eval.json`` and
``eval.md`` (a markdown table) in the output folder, written atomically; by default
``<run>/eval-<data>-<split>``, so evaluations of two splits sit side by side. T, the slowest
metric, can be computed by a pool of worker processes (``--workers``; identical values).
Conventions: ``docs/metrics.md``.

Example::

    python -m v2v.evaluate --checkpoint runs/seg-20250101-120000 --data davis --davis-root ~/DAVIS --split val
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing
import signal
import sys
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from v2v.config_engine import add_arguments, from_arguments, require
from v2v.data import DEFAULT_EVALUATION_SPLIT, build_dataset
from v2v.fileio import atomic_write_json, atomic_write_text
from v2v.inference import translate_video
from v2v.models import dataset_processors, read_generator
from v2v.runtime import ThreadsOption, command_name, require_kernels, resolve_device, run_command, use_threads
from v2v.scoring import DEFAULT_TOF_FLOW, TOF_FLOW_CHOICES, make_tof_flow, mean_scores, score_clip
from v2v.tables import markdown_table
from v2v.tasks import T_PROTOCOLS, ScoringOptions, get_task

__all__ = ["EvaluateConfig", "evaluate", "format_markdown", "main"]


@dataclass
class EvaluateConfig(ThreadsOption):
    """Options of an evaluation."""

    checkpoint: str
    """Run directory (its newest checkpoint), checkpoint ``.pt`` file or ``generator.safetensors``."""
    output_dir: str | None = None
    """Folder for ``eval.json`` and ``eval.md``; none: ``<run>/eval-<data>-<split>`` for a run directory,
    ``<checkpoint stem>-eval-<data>-<split>`` beside a checkpoint file (``<data>`` the source evaluated)."""
    data: Literal["run", "synthetic", "davis"] = "run"
    """The data set: the run's own data configuration, the bundled synthetic set, or a DAVIS 2017 folder."""
    davis_root: str | None = None
    """DAVIS 2017 folder (with ``--data davis``)."""
    split: str | None = None
    """Split to evaluate (synthetic ``val`` or ``test``; DAVIS a list of ``ImageSets/2017`` such as ``val``);
    none: what the data set evaluates on (``test`` for synthetic data, ``val`` for DAVIS, whose test
    annotations are not public)."""
    frame_size: tuple[int, int] | None = field(default=None, metadata={"metavar": ("H", "W")})
    """Override the frame size (none keeps the run's)."""
    max_videos: int | None = None
    """Evaluate only the first N videos (none: all)."""
    max_frames: int | None = None
    """Truncate every video to N frames (none: whole videos)."""
    device: str = "auto"
    """Where the generator runs: auto (CUDA when available, else the CPU), cpu, cuda or cuda:N."""
    t_protocol: str = field(default="consecutive", metadata={"choices": T_PROTOCOLS})
    """T over consecutive predicted masks, or the DAVIS protocol (first pair against the ground truth of
    frame 0, last frame unused)."""
    exact_ties: bool = False
    """Break T's alignment ties exactly as the official code (slow)."""
    tof_flow: str = field(default=DEFAULT_TOF_FLOW, metadata={"choices": TOF_FLOW_CHOICES})
    """Flow provider of tOF, or ``none`` to skip tOF."""
    tof_raft_weights: str | None = field(default=None, metadata={"metavar": "FILE"})
    """Local RAFT state-dict file for ``--tof-flow raft`` (nothing is downloaded)."""
    psnr_crop_border: int = 0
    """Pixels cropped from each side before PSNR (super-resolution)."""
    workers: int = 0
    """Processes that compute T, the slowest metric (0: none; the values are the same)."""
    progress: bool = field(default=True, metadata={"flag": "--quiet"})
    """Show a progress bar (``--quiet``: none)."""

    def check(self) -> None:
        super().check()
        require(self.data != "davis" or bool(self.davis_root), "davis_root", "--data davis needs the DAVIS 2017 folder")
        for key in ("max_videos", "max_frames"):
            value = getattr(self, key)
            require(value is None or value >= 1, key, f"must be >= 1 or none, got {value}")
        require(self.frame_size is None or min(self.frame_size) >= 1, "frame_size", f"must be positive, got {self.frame_size}")
        require(self.psnr_crop_border >= 0, "psnr_crop_border", f"must be >= 0, got {self.psnr_crop_border}")
        require(self.workers >= 0, "workers", f"must be >= 0, got {self.workers}")

    @property
    def scoring(self) -> ScoringOptions:
        """The scoring options of this evaluation."""
        return ScoringOptions(t_protocol=self.t_protocol, exact_ties=self.exact_ties, psnr_crop_border=self.psnr_crop_border)


def _format(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "inf"
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return str(value)


def format_markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table: one row per sequence and a mean row."""
    columns = [c for c in get_task(report["task"]).metrics if any(c in row for row in report["per_sequence"])]
    header = ["sequence", "frames", *columns]
    rows = [[row["name"], str(row["frames"])] + [_format(row.get(c)) for c in columns] for row in report["per_sequence"]]
    mean_row = report["mean"]
    rows.append(["**mean**", str(mean_row.get("frames", ""))] + [_format(mean_row.get(c)) for c in columns])
    lines = [
        f"# Evaluation of {report['checkpoint']} (step {report['step']})",
        "",
        f"Task `{report['task']}`, setting `{report['setting']}`, data `{report['dataset']['source']}` "
        f"split `{report['dataset']['split']}`, {len(report['per_sequence'])} videos. "
        "J, F, psnr: higher is better; T, l1, warping error, tOF: lower is better. See docs/metrics.md.",
        "",
        *markdown_table(header, rows, right=range(1, len(header))),
    ]
    return "\n".join(lines) + "\n"


def _default_output_dir(checkpoint: str, source: str, split: str) -> Path:
    path = Path(checkpoint)
    name = f"eval-{source}-{split}"
    return path / name if path.is_dir() else path.with_name(f"{path.stem}-{name}")


def _dataset(config: EvaluateConfig, run_config) -> tuple[Any, dict[str, Any]]:
    data = run_config.data
    frame_size = data.frame_size if config.frame_size is None else tuple(config.frame_size)
    if config.data == "synthetic" and frame_size is None:
        # A run trained on DAVIS at its native size has no synthetic size to fall back on.
        raise ValueError("--data synthetic: the run's data.frame_size is null (trained at native size); "
                         "pass --frame-size H W")
    source, root = {"run": (data.source, data.root), "synthetic": ("synthetic", None),
                    "davis": ("davis", str(config.davis_root))}[config.data]
    data = dataclasses.replace(data, source=source, root=root, frame_size=frame_size)
    if data.source == "davis" and not Path(data.root).is_dir():
        raise FileNotFoundError(f"DAVIS folder {data.root} does not exist")
    split = DEFAULT_EVALUATION_SPLIT[data.source] if config.split is None else config.split
    dataset = build_dataset(data, split, run_config.task, progress=config.progress,
                            processors=dataset_processors(data, run_config.task))
    described = {"source": data.source, "split": split, "frame_size": data.frame_size}
    if data.source == "davis":
        described["root"] = data.root
    return dataset, described


def evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Translate and score every video of the data set; write ``eval.json`` and ``eval.md``.

    Returns:
        The report: ``checkpoint``, ``step``, ``task``, ``setting``, ``dataset``, ``options``,
        ``per_sequence`` (one dict per video) and ``mean`` (means over videos, NaN skipped), as
        written to ``eval.json``; then ``output_dir`` and ``flow_cache`` (what the flow cache of
        the data's estimated flows holds, one line, or None for exact flows).
    """
    tof_flow = make_tof_flow(config.tof_flow, config.tof_raft_weights)  # before any heavy work
    use_threads(config.threads)
    device = resolve_device(config.device)
    loaded = read_generator(config.checkpoint, map_location=device)  # a checkpoint or a generator export
    generator, run_config, step, checkpoint_file = loaded.generator, loaded.config, loaded.step, loaded.path
    dataset, described = _dataset(config, run_config)
    count = len(dataset) if config.max_videos is None else min(len(dataset), config.max_videos)
    if count == 0:
        raise ValueError(f"the {described['source']} split {described['split']!r} has no videos")
    output_dir = (Path(config.output_dir) if config.output_dir
                  else _default_output_dir(config.checkpoint, described["source"], described["split"]))
    output_dir.mkdir(parents=True, exist_ok=True)
    task = get_task(run_config.task)

    rows = []
    with _t_pool(config.workers) as pool:
        videos = tqdm(range(count), desc=f"evaluate ({task.name})", unit="video", disable=not config.progress, file=sys.stderr)
        for index in videos:
            item = dataset[index]
            frames = item["input"].shape[0] if config.max_frames is None else min(item["input"].shape[0], config.max_frames)
            inputs, target = item["input"][:frames], item["target"][:frames]
            flow_fwd, flow_bwd = item["flow_fwd"][: frames - 1], item["flow_bwd"][: frames - 1]
            output = translate_video(generator, inputs, device)
            scores = score_clip(task, output, target, inputs, flow_fwd, flow_bwd,
                                 options=config.scoring, tof_flow=tof_flow, executor=pool)
            rows.append({"name": str(item["sequence"]), "frames": int(frames), **scores})

    mean: dict[str, Any] = {"frames": float(np.mean([row["frames"] for row in rows])), **mean_scores(rows, task.metrics)}
    report = {
        "checkpoint": str(checkpoint_file),
        "step": step,
        "task": run_config.task,
        "setting": run_config.setting,
        "dataset": described,
        "options": {
            "max_videos": config.max_videos, "max_frames": config.max_frames, "t_protocol": config.t_protocol,
            "exact_ties": config.exact_ties, "tof_flow": config.tof_flow, "psnr_crop_border": config.psnr_crop_border,
            "workers": config.workers,
        },
        "per_sequence": rows,
        "mean": mean,
    }
    atomic_write_json(output_dir / "eval.json", report)
    atomic_write_text(output_dir / "eval.md", format_markdown(report))
    report["output_dir"] = str(output_dir)
    report["flow_cache"] = dataset.flow_cache.usage().describe() if dataset.flow_cache is not None else None
    return report


def _t_pool(workers: int) -> Executor | nullcontext:
    """A pool of ``workers`` processes for T (spawned: the parent's threads are not forked), or
    none for 0. The workers ignore SIGINT: Ctrl-C reaches the whole process group, and the parent
    alone answers it (one line, exit 130) and shuts them down."""
    if workers == 0:
        return nullcontext(None)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command_name("v2v.evaluate"),
        description="Translate every test video of a data set with a trained generator and report per-sequence "
        "and mean metrics (segmentation: J, F, T; colorization and super-resolution: psnr; all: l1, warping error, tOF) "
        "in eval.json and eval.md.",
    )
    add_arguments(parser, EvaluateConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 success, 2 bad input or options, 130 Ctrl-C)."""
    args = _parser().parse_args(argv)

    def work() -> int:
        config = from_arguments(EvaluateConfig, args)
        require_kernels(resolve_device(config.device))  # before any heavy work
        report = evaluate(config)
        print(format_markdown(report))
        print(f"wrote {report['output_dir']}/eval.json and eval.md")
        if report["flow_cache"] is not None:
            print(report["flow_cache"], file=sys.stderr)
        return 0

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
