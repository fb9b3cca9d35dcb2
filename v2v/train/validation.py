"""Validation of a run: translate whole validation videos frame by frame (the streaming ``step``
API, as at test time), score them with the same code and metric names as ``v2v.evaluate``
(:func:`v2v.scoring.score_clip`), and keep the first video for people to look at."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from v2v.inference import translate_video
from v2v.scoring import DEFAULT_TOF_FLOW, make_tof_flow, mean_scores, score_clip
from v2v.tasks import DEFAULT_SCORING_OPTIONS, ScoringOptions, get_task

__all__ = ["ValidationSample", "ValidationResult", "validate"]


@dataclass(frozen=True)
class ValidationSample:
    """The first validation video, as the picture strip and the sample video show it: every tensor
    ``[T, C, H, W]`` (flows ``[T-1, 2, H, W]``), input, output and target in [-1, 1]."""

    name: str
    input: torch.Tensor
    output: torch.Tensor
    target: torch.Tensor
    flow_fwd: torch.Tensor
    flow_bwd: torch.Tensor


@dataclass
class ValidationResult:
    """Per-video scores, their means, and the first video."""

    per_video: list[dict[str, Any]]
    mean: dict[str, float]
    sample: ValidationSample | None


def validate(
    generator: torch.nn.Module,
    dataset,
    task: str,
    device: torch.device,
    *,
    max_videos: int,
    max_frames: int,
    options: ScoringOptions = DEFAULT_SCORING_OPTIONS,
    tof_flow: str = DEFAULT_TOF_FLOW,
) -> ValidationResult:
    """Translate and score the first videos of a data set in eval mode.

    Args:
        generator: the generator (its train/eval mode is restored afterwards).
        dataset: items with ``input``, ``target``, ``flow_fwd``, ``flow_bwd`` and ``name``.
        task: the task name.
        device: where the generator runs.
        max_videos: how many items to score (the first ones).
        max_frames: truncate each video to this many frames (0: whole videos).
        options: scoring options (:class:`v2v.tasks.ScoringOptions`).
        tof_flow: flow provider name of tOF (:func:`v2v.scoring.make_tof_flow`), ``"none"`` to
            leave tOF out.

    Returns:
        A :class:`ValidationResult`; ``mean`` holds NaN-skipping means over videos (T is NaN for a
        video whose masks have no contour).
    """
    spec = get_task(task)
    tof_provider = make_tof_flow(tof_flow)
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
            scores = score_clip(spec, output, target, video, flow_fwd, flow_bwd, options=options, tof_flow=tof_provider)
            per_video.append({"name": str(item["name"]), "frames": frames, **scores})
            if sample is None:
                sample = ValidationSample(str(item["name"]), video, output, target, flow_fwd, flow_bwd)
    finally:
        generator.train(was_training)
    return ValidationResult(per_video=per_video, mean=mean_scores(per_video, spec.metrics), sample=sample)
