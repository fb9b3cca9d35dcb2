"""End-of-run validation: translate whole validation videos frame by frame (the streaming
``step`` API, as at test time), score them, and keep a sample for people to watch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from v2v import metrics
from v2v.data import to_unit_range

__all__ = ["translate_video", "score_video", "ValidationResult", "validate"]


@torch.no_grad()
def translate_video(generator: torch.nn.Module, video: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Stream ``video`` ``[T, Cin, H, W]`` through ``generator.step``; returns ``[T, Cout, H, W]`` on CPU."""
    state = None
    outputs = []
    for frame in video:
        output, state = generator.step(frame.unsqueeze(0).to(device), state)
        outputs.append(output.squeeze(0).float().cpu())
    return torch.stack(outputs)


def score_video(
    task: str,
    output: torch.Tensor,
    target: torch.Tensor,
    flow_fwd: torch.Tensor,
    flow_bwd: torch.Tensor,
    input_video: torch.Tensor | None = None,
) -> dict[str, float]:
    """Metrics of one translated video ``[T, C, H, W]`` against its target (both in [-1, 1]).

    ``l1`` on the model's range; segmentation: ``J``, ``F`` and ``T`` (DAVIS, masks thresholded at
    0); colorization and super-resolution: ``psnr`` on [0, 1], and with ``input_video`` also
    ``psnr_input``, the PSNR of the input itself taken as the answer (gray frames for colorization,
    the bicubic up-scaling for super-resolution: the baseline to beat); every task:
    ``warping_error`` of the output and, for reference, of the target, from the input video's
    flows (:mod:`v2v.metrics`).
    """
    output_unit = to_unit_range(output).clamp(0, 1)
    target_unit = to_unit_range(target).clamp(0, 1)
    scores = {"l1": float((output - target).abs().mean())}
    if task == "segmentation":
        predicted, truth = (output[:, 0] > 0).numpy(), (target[:, 0] > 0).numpy()
        scores["J"] = float(np.mean(metrics.region_similarity(predicted, truth)))
        scores["F"] = float(np.mean(metrics.contour_accuracy(predicted, truth)))
        if output.shape[0] >= 2:
            scores["T"] = float(metrics.temporal_stability(predicted))
    else:
        scores["psnr"] = float(metrics.psnr(output_unit, target_unit))
        if input_video is not None:
            baseline = to_unit_range(input_video).clamp(0, 1).expand_as(target_unit)
            scores["psnr_input"] = float(metrics.psnr(baseline, target_unit))
    if output.shape[0] >= 2:
        scores["warping_error"] = float(metrics.warping_error(output_unit, flow_fwd, flow_bwd))
        scores["warping_error_target"] = float(metrics.warping_error(target_unit, flow_fwd, flow_bwd))
    return scores


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


@dataclass
class ValidationResult:
    """Per-video scores, their means, and the first video's frames for the sample video."""

    per_video: list[dict[str, Any]]
    mean: dict[str, float]
    sample: tuple[str, torch.Tensor, torch.Tensor, torch.Tensor] | None
    """``(name, input, output, target)`` of the first video, each ``[T, C, H, W]``."""


def validate(generator: torch.nn.Module, dataset, task: str, device: torch.device, *, max_videos: int, max_frames: int) -> ValidationResult:
    """Translate the first ``max_videos`` items of ``dataset`` (truncated to ``max_frames`` frames
    when > 0) in eval mode, and score them. Restores the generator's train/eval mode."""
    was_training = generator.training
    generator.eval()
    per_video: list[dict[str, Any]] = []
    sample = None
    try:
        for index in range(min(max_videos, len(dataset))):
            item = dataset[index]
            frames = item["input"].shape[0] if max_frames == 0 else min(max_frames, item["input"].shape[0])
            video, target = item["input"][:frames], item["target"][:frames]
            flow_fwd, flow_bwd = item["flow_fwd"][: frames - 1], item["flow_bwd"][: frames - 1]
            output = translate_video(generator, video, device)
            per_video.append({"name": str(item["name"]), "frames": frames, **score_video(task, output, target, flow_fwd, flow_bwd, video)})
            if sample is None:
                sample = (str(item["name"]), video, output, target)
    finally:
        generator.train(was_training)
    keys = [k for k in (per_video[0] if per_video else {}) if k not in ("name", "frames")]
    # NaN-skipping: T is NaN for a video whose masks have no contour.
    mean = {k: _nanmean([v[k] for v in per_video]) for k in keys}
    return ValidationResult(per_video=per_video, mean=mean, sample=sample)
