"""Evaluate a trained generator on a data set: ``python -m v2v.evaluate``.

Every test video is translated frame by frame with the generator's streaming ``step`` (as
``v2v.translate`` does, the recurrent state running through the whole video) and scored:

- segmentation: J and F (per-frame, then the DAVIS mean, recall and decay per sequence) and T
  (outputs thresholded at 0, the middle of [-1, 1]);
- colorization and super-resolution: PSNR on [0, 1] RGB, per frame then per video;
- every task: the warping error of the output (and, for reference, of the target) from the data
  set's flows of the input video, and tOF of the output against the target.

Data-set means are means over sequences (NaN values skipped). Results go to ``eval.json`` and
``eval.md`` (a markdown table) in the output folder, written atomically. Conventions:
``docs/metrics.md``.

Example::

    python -m v2v.evaluate --checkpoint runs/seg-20250101-120000 --data davis --davis-root ~/DAVIS --split val
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from v2v import metrics
from v2v.fileio import atomic_write_text

__all__ = ["EvaluateConfig", "evaluate", "score_video", "format_markdown", "main"]


@dataclass
class EvaluateConfig:
    """Options of an evaluation.

    Attributes:
        checkpoint: run directory (its newest checkpoint) or checkpoint file.
        output_dir: where ``eval.json`` and ``eval.md`` go; None: ``<run>/eval`` for a run directory,
            ``<checkpoint stem>-eval`` beside a checkpoint file.
        data: ``"run"`` (the run's own data configuration), ``"synthetic"`` or ``"davis"``.
        davis_root: DAVIS 2017 folder (``data="davis"``).
        split: data split (synthetic ``val``/``test``; DAVIS an ``ImageSets/2017`` list such as ``val``).
        frame_size: ``(H, W)`` override of the frame size (None keeps the run's).
        max_videos: evaluate only the first N videos (None: all).
        max_frames: truncate every video to N frames (None: whole videos).
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
        t_protocol: ``"consecutive"`` (T over every consecutive pair of predicted masks) or
            ``"davis"`` (the first pair uses the ground truth of frame 0; the last frame is unused).
        exact_ties: break exact ties of T's alignment as the official code (slow).
        tof_flow: flow estimator of tOF (a ``v2v.flow`` provider name), or ``"none"`` to skip tOF.
        psnr_crop_border: pixels cropped from each side before PSNR (super-resolution only).
        progress: show a progress bar.
    """

    checkpoint: str
    output_dir: str | None = None
    data: str = "run"
    davis_root: str | None = None
    split: str = "test"
    frame_size: tuple[int, int] | None = None
    max_videos: int | None = None
    max_frames: int | None = None
    device: str = "auto"
    t_protocol: str = "consecutive"
    exact_ties: bool = False
    tof_flow: str = "dis"
    psnr_crop_border: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.data not in ("run", "synthetic", "davis"):
            raise ValueError(f"data must be 'run', 'synthetic' or 'davis', got {self.data!r}")
        if self.data == "davis" and not self.davis_root:
            raise ValueError("data='davis' needs davis_root (the DAVIS 2017 folder)")
        if self.t_protocol not in ("consecutive", "davis"):
            raise ValueError(f"t_protocol must be 'consecutive' or 'davis', got {self.t_protocol!r}")
        for name in ("max_videos", "max_frames"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if self.psnr_crop_border < 0:
            raise ValueError(f"psnr_crop_border must be >= 0, got {self.psnr_crop_border}")


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(item) for item in value]
    return value


def score_video(
    task: str,
    output: torch.Tensor,
    target: torch.Tensor,
    flow_fwd: torch.Tensor,
    flow_bwd: torch.Tensor,
    *,
    t_protocol: str = "consecutive",
    exact_ties: bool = False,
    tof_flow: Any = "dis",
    psnr_crop_border: int = 0,
) -> dict[str, float]:
    """All metrics of one translated video.

    Args:
        task: ``segmentation``, ``colorization`` or ``superres``.
        output: generator output ``[T, Cout, H, W]`` in [-1, 1].
        target: ground truth ``[T, Cout, H, W]`` in [-1, 1].
        flow_fwd, flow_bwd: flows of the input video ``[T-1, 2, H, W]``.
        t_protocol: see :class:`EvaluateConfig`.
        exact_ties: see :class:`EvaluateConfig`.
        tof_flow: a flow provider, a provider name, or None to skip tOF.
        psnr_crop_border: see :class:`EvaluateConfig` (applied to super-resolution only).

    Returns:
        A flat dict of floats (NaN where a metric is undefined, e.g. T of empty masks).
    """
    scores: dict[str, float] = {}
    if task == "segmentation":
        predicted = (output[:, 0] > 0).numpy()
        truth = (target[:, 0] > 0).numpy()
        for key, values in (("J", metrics.region_similarity(predicted, truth)), ("F", metrics.contour_accuracy(predicted, truth))):
            stats = metrics.sequence_statistics(values)
            scores.update({f"{key}_mean": stats.mean, f"{key}_recall": stats.recall, f"{key}_decay": stats.decay})
        if t_protocol == "davis" and len(predicted) >= 3:
            scores["T"] = metrics.temporal_stability(predicted, first_target=truth[0], exact_ties=exact_ties)
        elif t_protocol == "davis":
            scores["T"] = math.nan
        else:
            scores["T"] = metrics.temporal_stability(predicted, exact_ties=exact_ties)
        out_unit = (output > 0).float()
        tgt_unit = (target > 0).float()
    else:
        out_unit = ((output + 1) * 0.5).clamp(0, 1)
        tgt_unit = ((target + 1) * 0.5).clamp(0, 1)
        crop = psnr_crop_border if task == "superres" else 0
        scores["PSNR"] = metrics.psnr(out_unit, tgt_unit, crop_border=crop)
    scores["warping_error"] = metrics.warping_error(((output + 1) * 0.5).clamp(0, 1), flow_fwd, flow_bwd)
    scores["warping_error_target"] = metrics.warping_error(((target + 1) * 0.5).clamp(0, 1), flow_fwd, flow_bwd)
    if tof_flow is not None:
        if isinstance(tof_flow, str):
            from v2v.flow import make_flow_provider

            tof_flow = make_flow_provider(tof_flow)
        scores["tOF"] = metrics.tof(out_unit, tgt_unit, flow=tof_flow)
    return scores


def _columns(task: str) -> list[str]:
    if task == "segmentation":
        main = ["J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay", "T"]
    else:
        main = ["PSNR"]
    return main + ["warping_error", "warping_error_target", "tOF"]


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
    columns = [c for c in _columns(report["task"]) if any(c in row for row in report["per_sequence"])]
    header = ["sequence", "frames", *columns]
    lines = [
        f"# Evaluation of {report['checkpoint']} (step {report['step']})",
        "",
        f"Task `{report['task']}`, setting `{report['setting']}`, data `{report['dataset']['source']}` "
        f"split `{report['dataset']['split']}`, {len(report['per_sequence'])} videos. "
        "J, F, PSNR: higher is better; T, warping error, tOF: lower is better. See docs/metrics.md.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |",
    ]
    for row in report["per_sequence"]:
        lines.append("| " + " | ".join([row["name"], str(row["frames"])] + [_format(row.get(c)) for c in columns]) + " |")
    mean_row = report["mean"]
    lines.append("| **mean** | " + " | ".join([str(mean_row.get("frames", ""))] + [_format(mean_row.get(c)) for c in columns]) + " |")
    return "\n".join(lines) + "\n"


def _default_output_dir(checkpoint: str) -> Path:
    path = Path(checkpoint)
    return path / "eval" if path.is_dir() else path.with_name(f"{path.stem}-eval")


def _dataset(config: EvaluateConfig, run_config) -> tuple[Any, dict[str, Any]]:
    from v2v.data import build_dataset

    data = run_config.data
    if config.data == "synthetic":
        data = dataclasses.replace(data, source="synthetic", root=None)
    elif config.data == "davis":
        data = dataclasses.replace(data, source="davis", root=str(config.davis_root))
    if config.frame_size is not None:
        data = dataclasses.replace(data, frame_size=tuple(config.frame_size))
    if data.source == "davis" and not Path(data.root).is_dir():
        raise FileNotFoundError(f"DAVIS folder {data.root} does not exist")
    dataset = build_dataset(data, config.split, run_config.task)
    described = {"source": data.source, "split": config.split, "frame_size": data.frame_size}
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

    from v2v.models import find_checkpoint, load_generator, read_checkpoint
    from v2v.translate import resolve_device, stream_translate

    device = resolve_device(config.device)
    checkpoint_file = find_checkpoint(config.checkpoint)
    generator, run_config = load_generator(checkpoint_file, map_location=device)
    step = int(read_checkpoint(checkpoint_file).get("step", -1))
    dataset, described = _dataset(config, run_config)
    count = len(dataset) if config.max_videos is None else min(len(dataset), config.max_videos)
    if count == 0:
        raise ValueError(f"the {described['source']} split {config.split!r} has no videos")
    output_dir = Path(config.output_dir) if config.output_dir else _default_output_dir(config.checkpoint)
    output_dir.mkdir(parents=True, exist_ok=True)
    tof_flow = None
    if config.tof_flow != "none":
        from v2v.flow import make_flow_provider

        tof_flow = make_flow_provider(config.tof_flow)

    rows = []
    for index in tqdm(range(count), desc=f"evaluate ({run_config.task})", unit="video", disable=not config.progress, file=sys.stderr):
        item = dataset[index]
        frames = item["input"].shape[0] if config.max_frames is None else min(item["input"].shape[0], config.max_frames)
        inputs, target = item["input"][:frames], item["target"][:frames]
        flow_fwd, flow_bwd = item["flow_fwd"][: frames - 1], item["flow_bwd"][: frames - 1]
        output = torch.stack(list(stream_translate(generator, inputs, device)))
        scores = score_video(
            run_config.task, output, target, flow_fwd, flow_bwd,
            t_protocol=config.t_protocol, exact_ties=config.exact_ties, tof_flow=tof_flow,
            psnr_crop_border=config.psnr_crop_border,
        )
        rows.append({"name": str(item.get("sequence", item.get("name", index))), "frames": int(frames), **scores})

    mean: dict[str, Any] = {"frames": float(np.mean([row["frames"] for row in rows]))}
    for key in _columns(run_config.task):
        values = np.array([row[key] for row in rows if key in row], dtype=np.float64)
        finite = values[~np.isnan(values)]
        if values.size:
            mean[key] = float(finite.mean()) if finite.size else math.nan
    report = {
        "checkpoint": str(checkpoint_file),
        "step": step,
        "task": run_config.task,
        "setting": run_config.setting,
        "dataset": described,
        "options": {
            "max_videos": config.max_videos, "max_frames": config.max_frames, "t_protocol": config.t_protocol,
            "exact_ties": config.exact_ties, "tof_flow": config.tof_flow, "psnr_crop_border": config.psnr_crop_border,
        },
        "per_sequence": rows,
        "mean": mean,
    }
    atomic_write_text(output_dir / "eval.json", json.dumps(_nan_to_none(report), indent=2, allow_nan=False) + "\n")
    atomic_write_text(output_dir / "eval.md", format_markdown(report))
    report["output_dir"] = str(output_dir)
    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m v2v.evaluate",
        description="Translate every test video of a data set with a trained generator and report per-sequence "
        "and mean metrics (segmentation: J, F, T; colorization and super-resolution: PSNR; all: warping error, tOF) "
        "in eval.json and eval.md.",
    )
    parser.add_argument("--checkpoint", required=True, help="run directory (newest checkpoint) or checkpoint .pt file")
    parser.add_argument("--output-dir", default=None, help="folder for eval.json and eval.md (default: <run>/eval)")
    parser.add_argument("--data", choices=("run", "synthetic", "davis"), default="run",
                        help="data set: the run's own (default), the bundled synthetic set, or a DAVIS folder")
    parser.add_argument("--davis-root", default=None, help="DAVIS 2017 folder (with --data davis)")
    parser.add_argument("--split", default="test", help="split to evaluate (synthetic: val or test; DAVIS: e.g. val)")
    parser.add_argument("--frame-size", type=int, nargs=2, metavar=("H", "W"), default=None, help="override the frame size")
    parser.add_argument("--max-videos", type=int, default=None, help="evaluate only the first N videos")
    parser.add_argument("--max-frames", type=int, default=None, help="truncate every video to N frames")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--t-protocol", choices=("consecutive", "davis"), default="consecutive",
                        help="T over consecutive predicted masks (default) or the DAVIS protocol (first pair against "
                        "the ground truth of frame 0, last frame unused)")
    parser.add_argument("--exact-ties", action="store_true", help="break T's alignment ties exactly as the official code (slow)")
    parser.add_argument("--tof-flow", default="dis", help="flow provider of tOF (dis, tvl1, raft) or 'none' to skip tOF")
    parser.add_argument("--psnr-crop-border", type=int, default=0, help="pixels cropped from each side before PSNR (superres)")
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
            exact_ties=args.exact_ties, tof_flow=args.tof_flow, psnr_crop_border=args.psnr_crop_border,
            progress=not args.quiet,
        )
        report = evaluate(config)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_markdown(report))
    print(f"wrote {report['output_dir']}/eval.json and eval.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
