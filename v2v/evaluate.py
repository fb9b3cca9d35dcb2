"""Evaluate a trained generator on a data set: ``python -m v2v.evaluate``.

Every test video is translated frame by frame with the generator's streaming ``step`` (as
``v2v.translate`` does, the recurrent state running through the whole video) and scored by
:func:`v2v.inference.score_video`, the code and metric names of a run's validation
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
import sys
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from v2v.data import DEFAULT_EVALUATION_SPLIT, T_PROTOCOLS, get_task
from v2v.fileio import atomic_write_json, atomic_write_text
from v2v.inference import DEFAULT_TOF_FLOW, ScoringOptions, make_tof_flow, mean_scores, score_video, translate_video

__all__ = ["EvaluateConfig", "evaluate", "format_markdown", "main"]


@dataclass
class EvaluateConfig:
    """Options of an evaluation.

    Attributes:
        checkpoint: run directory (its newest checkpoint) or checkpoint file.
        output_dir: where ``eval.json`` and ``eval.md`` go; None: ``<run>/eval-<data>-<split>`` for a
            run directory, ``<checkpoint stem>-eval-<data>-<split>`` beside a checkpoint file
            (``<data>`` the source evaluated: ``synthetic`` or ``davis``).
        data: ``"run"`` (the run's own data configuration), ``"synthetic"`` or ``"davis"``.
        davis_root: DAVIS 2017 folder (``data="davis"``).
        split: data split (synthetic ``val``/``test``; DAVIS an ``ImageSets/2017`` list such as
            ``val``); None: what the data set evaluates on (``v2v.data.DEFAULT_EVALUATION_SPLIT``:
            ``test`` for synthetic data, ``val`` for DAVIS, whose test annotations are not public).
        frame_size: ``(H, W)`` override of the frame size (None keeps the run's).
        max_videos: evaluate only the first N videos (None: all).
        max_frames: truncate every video to N frames (None: whole videos).
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
        t_protocol: ``"consecutive"`` (T over every consecutive pair of predicted masks) or
            ``"davis"`` (the first pair uses the ground truth of frame 0; the last frame is unused).
        exact_ties: break exact ties of T's alignment as the official code (slow).
        tof_flow: flow estimator of tOF (a ``v2v.flow`` provider name), or ``"none"`` to skip tOF.
        tof_raft_weights: the local RAFT weights file of ``tof_flow="raft"``.
        psnr_crop_border: pixels cropped from each side before PSNR (super-resolution only).
        workers: processes that compute T (0: in this process); the values are identical.
        progress: show a progress bar.
    """

    checkpoint: str
    output_dir: str | None = None
    data: str = "run"
    davis_root: str | None = None
    split: str | None = None
    frame_size: tuple[int, int] | None = None
    max_videos: int | None = None
    max_frames: int | None = None
    device: str = "auto"
    t_protocol: str = "consecutive"
    exact_ties: bool = False
    tof_flow: str = DEFAULT_TOF_FLOW
    tof_raft_weights: str | None = None
    psnr_crop_border: int = 0
    workers: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.data not in ("run", "synthetic", "davis"):
            raise ValueError(f"data must be 'run', 'synthetic' or 'davis', got {self.data!r}")
        if self.data == "davis" and not self.davis_root:
            raise ValueError("data='davis' needs davis_root (the DAVIS 2017 folder)")
        if self.t_protocol not in T_PROTOCOLS:
            raise ValueError(f"t_protocol must be one of {T_PROTOCOLS}, got {self.t_protocol!r}")
        for name, value in (("max_videos", self.max_videos), ("max_frames", self.max_frames)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if self.psnr_crop_border < 0:
            raise ValueError(f"psnr_crop_border must be >= 0, got {self.psnr_crop_border}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")

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
    lines = [
        f"# Evaluation of {report['checkpoint']} (step {report['step']})",
        "",
        f"Task `{report['task']}`, setting `{report['setting']}`, data `{report['dataset']['source']}` "
        f"split `{report['dataset']['split']}`, {len(report['per_sequence'])} videos. "
        "J, F, psnr: higher is better; T, l1, warping error, tOF: lower is better. See docs/metrics.md.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |",
    ]
    for row in report["per_sequence"]:
        lines.append("| " + " | ".join([row["name"], str(row["frames"])] + [_format(row.get(c)) for c in columns]) + " |")
    mean_row = report["mean"]
    lines.append("| **mean** | " + " | ".join([str(mean_row.get("frames", ""))] + [_format(mean_row.get(c)) for c in columns]) + " |")
    return "\n".join(lines) + "\n"


def _default_output_dir(checkpoint: str, source: str, split: str) -> Path:
    path = Path(checkpoint)
    name = f"eval-{source}-{split}"
    return path / name if path.is_dir() else path.with_name(f"{path.stem}-{name}")


def _dataset(config: EvaluateConfig, run_config) -> tuple[Any, dict[str, Any]]:
    from v2v.data import build_dataset

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
    dataset = build_dataset(data, split, run_config.task)
    described = {"source": data.source, "split": split, "frame_size": data.frame_size}
    if data.source == "davis":
        described["root"] = data.root
    return dataset, described


def evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Translate and score every video of the data set; write ``eval.json`` and ``eval.md``.

    Returns:
        The report: ``checkpoint``, ``step``, ``task``, ``setting``, ``dataset``, ``options``,
        ``per_sequence`` (one dict per video) and ``mean`` (means over videos, NaN skipped).
    """
    from tqdm import tqdm

    from v2v.inference import resolve_device
    from v2v.models import read_generator

    tof_flow = make_tof_flow(config.tof_flow, config.tof_raft_weights)  # before any heavy work
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
            scores = score_video(task, output, target, inputs, flow_fwd, flow_bwd,
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
    return report


def _t_pool(workers: int) -> Executor | nullcontext:
    """A pool of ``workers`` processes for T (spawned: the parent's threads are not forked), or
    none for 0."""
    if workers == 0:
        return nullcontext(None)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m v2v.evaluate",
        description="Translate every test video of a data set with a trained generator and report per-sequence "
        "and mean metrics (segmentation: J, F, T; colorization and super-resolution: psnr; all: l1, warping error, tOF) "
        "in eval.json and eval.md.",
    )
    parser.add_argument("--checkpoint", required=True, help="run directory (newest checkpoint) or checkpoint .pt file")
    parser.add_argument("--output-dir", default=None,
                        help="folder for eval.json and eval.md (default: <run>/eval-<data>-<split>)")
    parser.add_argument("--data", choices=("run", "synthetic", "davis"), default="run",
                        help="data set: the run's own (default), the bundled synthetic set, or a DAVIS folder")
    parser.add_argument("--davis-root", default=None, help="DAVIS 2017 folder (with --data davis)")
    parser.add_argument("--split", default=None,
                        help="split to evaluate (synthetic: val or test, default test; DAVIS: e.g. val, the default)")
    parser.add_argument("--frame-size", type=int, nargs=2, metavar=("H", "W"), default=None, help="override the frame size")
    parser.add_argument("--max-videos", type=int, default=None, help="evaluate only the first N videos")
    parser.add_argument("--max-frames", type=int, default=None, help="truncate every video to N frames")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--t-protocol", choices=("consecutive", "davis"), default="consecutive",
                        help="T over consecutive predicted masks (default) or the DAVIS protocol (first pair against "
                        "the ground truth of frame 0, last frame unused)")
    parser.add_argument("--exact-ties", action="store_true", help="break T's alignment ties exactly as the official code (slow)")
    parser.add_argument("--tof-flow", default=DEFAULT_TOF_FLOW, choices=("dis", "tvl1", "raft", "none"),
                        help=f"flow provider of tOF (default {DEFAULT_TOF_FLOW}), or 'none' to skip tOF")
    parser.add_argument("--tof-raft-weights", default=None, metavar="FILE",
                        help="local RAFT state-dict file for --tof-flow raft (nothing is downloaded)")
    parser.add_argument("--psnr-crop-border", type=int, default=0, help="pixels cropped from each side before PSNR (superres)")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes that compute T, the slowest metric (default 0: none; same values)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 success, 2 bad input or options)."""
    args = _parser().parse_args(argv)
    try:
        config = EvaluateConfig(
            checkpoint=args.checkpoint, output_dir=args.output_dir, data=args.data, davis_root=args.davis_root,
            split=args.split, frame_size=tuple(args.frame_size) if args.frame_size else None,
            max_videos=args.max_videos, max_frames=args.max_frames, device=args.device, t_protocol=args.t_protocol,
            exact_ties=args.exact_ties, tof_flow=args.tof_flow, tof_raft_weights=args.tof_raft_weights, psnr_crop_border=args.psnr_crop_border,
            workers=args.workers, progress=not args.quiet,
        )
        import v2vcore
        from v2v.inference import resolve_device

        v2vcore.check_device(resolve_device(config.device))  # before any heavy work
        report = evaluate(config)
    except RuntimeError as error:  # check_device: no kernels for the device
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_markdown(report))
    print(f"wrote {report['output_dir']}/eval.json and eval.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
