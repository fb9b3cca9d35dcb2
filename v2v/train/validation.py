"""Validation of a run: translate whole validation videos frame by frame (the streaming ``step``
API, as at test time), score them with the same code and metric names as ``v2v.evaluate``
(:func:`v2v.inference.score_video`), and keep a sample for people to watch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from v2v.data.tasks import DEFAULT_SCORING_OPTIONS, get_task
from v2v.inference import DEFAULT_TOF_FLOW, ScoringOptions, make_tof_flow, mean_scores, score_video, translate_video

__all__ = ["ValidationResult", "validate"]


@dataclass
class ValidationResult:
    """Per-video scores, their means, and the first video's frames for the sample video."""

    per_video: list[dict[str, Any]]
    mean: dict[str, float]
    sample: tuple[str, torch.Tensor, torch.Tensor, torch.Tensor] | None
    """``(name, input, output, target)`` of the first video, each ``[T, C, H, W]``."""


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
        options: scoring options (:class:`v2v.inference.ScoringOptions`).
        tof_flow: flow provider name of tOF (:func:`v2v.inference.make_tof_flow`), ``"none"`` to
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
            scores = score_video(spec, output, target, video, flow_fwd, flow_bwd, options=options, tof_flow=tof_provider)
            per_video.append({"name": str(item["name"]), "frames": frames, **scores})
            if sample is None:
                sample = (str(item["name"]), video, output, target)
    finally:
        generator.train(was_training)
    return ValidationResult(per_video=per_video, mean=mean_scores(per_video, spec.metrics), sample=sample)
