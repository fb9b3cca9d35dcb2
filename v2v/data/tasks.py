"""The task registry: one :class:`Task` object per translation task of the paper (section 4.1).

A task says what the model sees and produces (channels and the transforms from RGB frames), how an
output is shown (:meth:`Task.display`), which metrics it reports and how it scores a video
(:meth:`Task.score`). Data sets, training, validation, ``v2v.evaluate`` and ``v2v.translate`` all
take their task from :func:`get_task`; adding a task means adding one entry to :data:`TASK_REGISTRY`
in this file. Conventions: ``docs/conventions.md``.

Frames come in as RGB ``[..., 3, H, W]`` float in [0, 1] (uint8 is accepted and divided by 255);
inputs and targets go out as float32 in [-1, 1], the range the models work in.

- ``segmentation``: input the RGB frames, target the foreground mask (1 channel, -1 / +1); scored by
  J, F (DAVIS mean, recall, decay) and T on the masks (outputs thresholded at 0).
- ``colorization``: input the luma (ITU-R BT.601: ``Y = 0.299 R + 0.587 G + 0.114 B`` on the
  gamma-encoded values), target the RGB frames; scored by PSNR on [0, 1].
- ``superres``: input each frame downscaled by 1/2 then upscaled back with bicubic interpolation,
  target the original frames. An odd side ``n`` is downscaled to ``ceil(n / 2)`` and upscaled back
  to exactly ``n``, so input and target always share the frame size. The downscale is antialiased
  (``F.interpolate(..., antialias=True)``, like MATLAB's ``imresize`` and PIL); bicubic overshoot
  is clamped to [0, 1]. Scored by PSNR (optionally with a border crop).

Every task also reports the metrics of :data:`COMMON_METRICS`, computed the same way for all tasks
by :func:`v2v.inference.score_video`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from v2v import metrics

__all__ = [
    "TASKS",
    "TASK_REGISTRY",
    "COMMON_METRICS",
    "METRIC_GOALS",
    "T_PROTOCOLS",
    "Task",
    "ScoringOptions",
    "DEFAULT_SCORING_OPTIONS",
    "get_task",
    "task_channels",
    "task_input",
    "task_target",
    "make_task_pair",
    "rgb_to_luma",
    "bicubic_degrade",
    "to_model_range",
    "to_unit_range",
]

_LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601

COMMON_METRICS = ("l1", "warping_error", "warping_error_target", "tOF")
"""Metrics every task reports (``l1`` on the model's range; the warping errors of the output and of
the target from the input video's flows; tOF of the output against the target, when a tOF flow
estimator is set)."""

METRIC_GOALS = {"psnr": "max", "J": "max", "F": "max", "T": "min", "l1": "min", "warping_error": "min"}
"""Whether higher (``max``) or lower (``min``) is better, for the metrics a run may select its
``best`` checkpoint by (``train.best_metric``); a task reports those among its :attr:`Task.metrics`."""

T_PROTOCOLS = ("consecutive", "davis")
"""How T pairs the masks: every consecutive pair of predictions, or the DAVIS protocol (the first
pair against the ground truth of frame 0, the last frame unused)."""


@dataclass(frozen=True)
class ScoringOptions:
    """How videos are scored (the same options for training validation and ``v2v.evaluate``).

    Attributes:
        t_protocol: one of :data:`T_PROTOCOLS`.
        exact_ties: break T's alignment ties exactly as the official code (slow).
        psnr_crop_border: pixels cropped from each side before PSNR (super-resolution only).
    """

    t_protocol: str = "consecutive"
    exact_ties: bool = False
    psnr_crop_border: int = 0

    def __post_init__(self) -> None:
        if self.t_protocol not in T_PROTOCOLS:
            raise ValueError(f"t_protocol must be one of {T_PROTOCOLS}, got {self.t_protocol!r}")
        if isinstance(self.psnr_crop_border, bool) or not isinstance(self.psnr_crop_border, int) or self.psnr_crop_border < 0:
            raise ValueError(f"psnr_crop_border must be an int >= 0, got {self.psnr_crop_border!r}")


DEFAULT_SCORING_OPTIONS = ScoringOptions()
"""Consecutive-pair T, fast tie-breaking, no PSNR border: training validation's scoring."""


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """Map [0, 1] to [-1, 1] (``2 x - 1``)."""
    return x * 2.0 - 1.0


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """Map [-1, 1] back to [0, 1] (``(x + 1) / 2``), the inverse of :func:`to_model_range`."""
    return (x + 1.0) * 0.5


def _as_unit_frames(frames: torch.Tensor, name: str = "frames") -> torch.Tensor:
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(frames).__name__}")
    if frames.dim() < 3 or frames.shape[-3] != 3:
        raise ValueError(f"{name} must be RGB with shape [..., 3, H, W], got {tuple(frames.shape)}")
    if frames.dtype == torch.uint8:
        return frames.float() / 255.0
    if not frames.is_floating_point():
        raise ValueError(f"{name} must be float in [0, 1] or uint8, got {frames.dtype}")
    return frames.float()


def rgb_to_luma(frames: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of RGB frames.

    Args:
        frames: ``[..., 3, H, W]`` in [0, 1] (or uint8).

    Returns:
        ``[..., 1, H, W]`` float32 in [0, 1].
    """
    rgb = _as_unit_frames(frames)
    weights = torch.tensor(_LUMA_WEIGHTS, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    return (rgb * weights).sum(dim=-3, keepdim=True)


def bicubic_degrade(frames: torch.Tensor) -> torch.Tensor:
    """Bicubic downscale by 1/2 (antialiased) then bicubic upscale back to the original size.

    Args:
        frames: ``[..., C, H, W]`` float in [0, 1], H and W >= 2.

    Returns:
        Same shape, float32, clamped to [0, 1]. Odd sides: the low-resolution side is
        ``ceil(n / 2)`` and the upscale returns exactly ``n``.
    """
    if frames.dim() < 3:
        raise ValueError(f"frames must be [..., C, H, W], got {tuple(frames.shape)}")
    height, width = frames.shape[-2:]
    if height < 2 or width < 2:
        raise ValueError(f"superres needs frames of at least 2x2 pixels, got {height}x{width}")
    lead = frames.shape[:-3]
    flat = frames.reshape(-1, *frames.shape[-3:]).float()
    low = F.interpolate(flat, size=(math.ceil(height / 2), math.ceil(width / 2)), mode="bicubic",
                        align_corners=False, antialias=True)
    up = F.interpolate(low, size=(height, width), mode="bicubic", align_corners=False)
    return up.clamp(0.0, 1.0).reshape(*lead, *frames.shape[-3:])


Scorer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, ScoringOptions, Executor | None], dict[str, float]]
"""``(output, target, input_video, options, executor) -> scores`` of one video, all ``[T, C, H, W]``
in [-1, 1]; ``executor`` (or None) is where T's pairs may be computed."""


@dataclass(frozen=True)
class Task:
    """One translation task: the model's input and target, the output's display, and its scores.

    Attributes:
        name: the name configs and checkpoints use (``task:`` in a run config).
        in_channels: channels of the model input.
        out_channels: channels of the model output and target.
        needs_masks: the target is a foreground mask (data sets must provide annotations).
        unit_input: RGB frames ``[..., 3, H, W]`` in [0, 1] -> the model input in [0, 1].
        own_metrics: the task's own metric keys, in report order (see :attr:`metrics`).
        scorer: computes :attr:`own_metrics` of one video (see :data:`Scorer`).
        best_metric: the validation metric that selects a run's ``best`` checkpoint unless the
            config names one (a key of :data:`METRIC_GOALS` among :attr:`metrics`).
        output_base: the model input ``[..., in_channels, H, W]`` in [-1, 1] as a guess of the output
            ``[..., out_channels, H, W]`` (colorization: the luma as gray RGB; superres: the bicubic
            upscale itself), or None where input and output live in different spaces
            (segmentation). It is what a residual generator (``model.residual``) corrects and the
            trivial baseline ``psnr_input`` scores.
    """

    name: str
    in_channels: int
    out_channels: int
    needs_masks: bool
    unit_input: Callable[[torch.Tensor], torch.Tensor]
    own_metrics: tuple[str, ...]
    scorer: Scorer
    best_metric: str
    output_base: Callable[[torch.Tensor], torch.Tensor] | None

    @property
    def channels(self) -> tuple[int, int]:
        """``(in_channels, out_channels)``."""
        return self.in_channels, self.out_channels

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric key a scored video of this task has: :attr:`own_metrics` then :data:`COMMON_METRICS`."""
        return self.own_metrics + COMMON_METRICS

    def input(self, frames: torch.Tensor) -> torch.Tensor:
        """The model input from RGB frames ``[..., 3, H, W]`` (float in [0, 1] or uint8).

        Returns:
            ``[..., in_channels, H, W]`` float32 in [-1, 1].
        """
        return to_model_range(self.unit_input(_as_unit_frames(frames)))

    def target(self, frames: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
        """The target: the foreground mask for a mask task, the RGB frames otherwise.

        Args:
            frames: ``[..., 3, H, W]`` float in [0, 1] or uint8.
            masks: ``[..., 1, H, W]`` foreground (any value > 0.5, or True, is foreground); required
                when :attr:`needs_masks`, ignored otherwise.

        Returns:
            ``[..., out_channels, H, W]`` float32 in [-1, 1].
        """
        rgb = _as_unit_frames(frames)
        if not self.needs_masks:
            return to_model_range(rgb)
        if masks is None:
            raise ValueError(f"the {self.name} task needs foreground masks, got masks=None")
        expected = (*rgb.shape[:-3], 1, *rgb.shape[-2:])
        if tuple(masks.shape) != expected:
            raise ValueError(f"masks must have shape {expected} to match the frames, got {tuple(masks.shape)}")
        foreground = masks > 0.5 if masks.dtype != torch.bool else masks
        return to_model_range(foreground.float())

    def display(self, output: torch.Tensor) -> torch.Tensor:
        """A model output (or target) ``[..., out_channels, H, W]`` in [-1, 1] as frames in [0, 1].

        RGB is rescaled with :func:`to_unit_range` and clamped; a mask becomes binary (foreground
        where the output is above 0, the middle of [-1, 1]). This is what is written to a
        translated video and what tOF compares.
        """
        if self.needs_masks:
            return (output > 0).float()
        return to_unit_range(output).clamp(0, 1)

    def score(
        self,
        output: torch.Tensor,
        target: torch.Tensor,
        input_video: torch.Tensor,
        options: ScoringOptions = DEFAULT_SCORING_OPTIONS,
        executor: Executor | None = None,
    ) -> dict[str, float]:
        """The task's own metrics (:attr:`own_metrics`) of one video.

        Args:
            output: generator output ``[T, out_channels, H, W]`` in [-1, 1].
            target: ground truth of the same shape.
            input_video: the model input ``[T, in_channels, H, W]`` in [-1, 1].
            options: protocol options.
            executor: optional pool in which T's pairs are computed (same results as without).

        Returns:
            One float per key of :attr:`own_metrics` (NaN where undefined, e.g. T of empty masks).
        """
        if output.shape != target.shape or output.shape[1] != self.out_channels:
            raise ValueError(f"output and target must both be [T, {self.out_channels}, H, W] for {self.name}, "
                             f"got {tuple(output.shape)} and {tuple(target.shape)}")
        return self.scorer(output, target, input_video, options, executor)


def _score_masks(output: torch.Tensor, target: torch.Tensor, input_video: torch.Tensor, options: ScoringOptions,
                 executor: Executor | None) -> dict[str, float]:
    """J, F (mean, recall, decay per sequence) and T of predicted masks (outputs above 0)."""
    predicted = (output[:, 0] > 0).numpy()
    truth = (target[:, 0] > 0).numpy()
    scores: dict[str, float] = {}
    for key, per_frame in (("J", metrics.region_similarity(predicted, truth)), ("F", metrics.contour_accuracy(predicted, truth))):
        stats = metrics.sequence_statistics(per_frame)
        scores.update({key: stats.mean, f"{key}_recall": stats.recall, f"{key}_decay": stats.decay})
    if options.t_protocol == "davis":
        # The DAVIS protocol needs three frames (frame 0's truth, then predictions 1 .. T-2).
        scores["T"] = (
            metrics.temporal_stability(predicted, first_target=truth[0], exact_ties=options.exact_ties, executor=executor)
            if len(predicted) >= 3 else math.nan
        )
    else:
        scores["T"] = metrics.temporal_stability(predicted, exact_ties=options.exact_ties, executor=executor)
    return scores


def _psnr_scorer(crop_border_applies: bool, output_base: Callable[[torch.Tensor], torch.Tensor]) -> Scorer:
    """PSNR of the output and of ``output_base(input)`` (the trivial baseline to beat) on [0, 1] RGB."""

    def score(output: torch.Tensor, target: torch.Tensor, input_video: torch.Tensor, options: ScoringOptions,
              executor: Executor | None) -> dict[str, float]:
        crop = options.psnr_crop_border if crop_border_applies else 0
        target_unit = to_unit_range(target).clamp(0, 1)
        baseline = to_unit_range(output_base(input_video)).clamp(0, 1)
        return {
            "psnr": float(metrics.psnr(to_unit_range(output).clamp(0, 1), target_unit, crop_border=crop)),
            "psnr_input": float(metrics.psnr(baseline, target_unit, crop_border=crop)),
        }

    return score


def _identity(frames: torch.Tensor) -> torch.Tensor:
    return frames


def _gray_rgb(luma: torch.Tensor) -> torch.Tensor:
    """``[..., 1, H, W]`` luma as ``[..., 3, H, W]`` gray RGB (the luma of gray RGB is itself)."""
    return luma.expand(*luma.shape[:-3], 3, *luma.shape[-2:])


TASK_REGISTRY: dict[str, Task] = {
    task.name: task
    for task in (
        Task("segmentation", 3, 1, needs_masks=True, unit_input=_identity,
             own_metrics=("J", "J_recall", "J_decay", "F", "F_recall", "F_decay", "T"), scorer=_score_masks,
             best_metric="J", output_base=None),
        Task("colorization", 1, 3, needs_masks=False, unit_input=rgb_to_luma,
             own_metrics=("psnr", "psnr_input"), scorer=_psnr_scorer(False, _gray_rgb),
             best_metric="psnr", output_base=_gray_rgb),
        Task("superres", 3, 3, needs_masks=False, unit_input=bicubic_degrade,
             own_metrics=("psnr", "psnr_input"), scorer=_psnr_scorer(True, _identity),
             best_metric="psnr", output_base=_identity),
    )
}
"""Every task, by name."""

TASKS = tuple(TASK_REGISTRY)
"""The task names: ``("segmentation", "colorization", "superres")``."""


def get_task(task: str | Task) -> Task:
    """The :class:`Task` named ``task`` (a :class:`Task` is returned as it is).

    Raises:
        ValueError: ``task`` is not a known task name.
    """
    if isinstance(task, Task):
        return task
    if task not in TASK_REGISTRY:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    return TASK_REGISTRY[task]


def task_channels(task: str) -> tuple[int, int]:
    """``(in_channels, out_channels)`` of a task: segmentation (3, 1), colorization (1, 3), superres (3, 3)."""
    return get_task(task).channels


def task_input(frames: torch.Tensor, task: str) -> torch.Tensor:
    """The input a task's model sees, from RGB frames (:meth:`Task.input`)."""
    return get_task(task).input(frames)


def task_target(frames: torch.Tensor, masks: torch.Tensor | None, task: str) -> torch.Tensor:
    """The target of a task: the mask for segmentation, the RGB frames otherwise (:meth:`Task.target`)."""
    return get_task(task).target(frames, masks)


def make_task_pair(frames: torch.Tensor, masks: torch.Tensor | None, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input, target)`` of a task for a clip.

    Args:
        frames: ``[T, 3, H, W]`` (or any ``[..., 3, H, W]``) float in [0, 1] or uint8.
        masks: ``[T, 1, H, W]`` foreground, required for segmentation, may be None otherwise.
        task: one of :data:`TASKS`.

    Returns:
        ``input`` ``[T, Cin, H, W]`` and ``target`` ``[T, Cout, H, W]``, float32 in [-1, 1].
    """
    spec = get_task(task)
    return spec.input(frames), spec.target(frames, masks)
