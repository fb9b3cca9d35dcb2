"""The task registry: one :class:`Task` per translation task, holding every task-specific choice.

A task says what the model sees and produces (channels and the transforms from RGB frames), how an
output is shown (:meth:`Task.display`), which metrics it reports, how it scores a video frame by
frame (:meth:`Task.frame_scorer`), what Table 1 shows of it (:attr:`Task.table_metrics`), which
checkpoint is best, and what the trivial baseline is (:attr:`Task.output_base`). Data sets,
training, scoring, ``v2v.evaluate``, ``v2v.translate`` and the Table 1 grid all take their task
from :func:`get_task` and nothing else: adding a task means adding one entry to
:data:`TASK_REGISTRY` in this file. Conventions: ``docs/conventions.md``.

Frames come in as RGB ``[..., 3, H, W]`` float in [0, 1] (uint8 is accepted and divided by 255);
inputs and targets go out as float32 in [-1, 1], the range the models work in.

- ``segmentation``: input the RGB frames, target the foreground mask (1 channel, -1 / +1); scored by
  J, F (DAVIS mean, recall, decay) and T on the masks (outputs thresholded at 0).
- ``colorization``: input the luma (ITU-R BT.601: ``Y = 0.299 R + 0.587 G + 0.114 B`` on the
  gamma-encoded values), target the RGB frames; scored by PSNR and SSIM on [0, 1].
- ``superres``: input each frame downscaled by 1/2 then upscaled back with bicubic interpolation,
  target the original frames. An odd side ``n`` is downscaled to ``ceil(n / 2)`` and upscaled back
  to exactly ``n``, so input and target always share the frame size. The downscale is antialiased
  (``F.interpolate(..., antialias=True)``, like MATLAB's ``imresize`` and PIL); bicubic overshoot
  is clamped to [0, 1]. Scored by PSNR and SSIM (optionally with a border crop).

Every task also reports the metrics of :data:`COMMON_METRICS`, computed the same way for all tasks
by :mod:`v2v.scoring`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from v2v import metrics
from v2v.frames import to_model_range, to_unit_range

__all__ = [
    "TASK_REGISTRY",
    "TRANSLATION_TASKS",
    "COMMON_METRICS",
    "METRIC_GOALS",
    "T_PROTOCOLS",
    "Task",
    "FrameScorer",
    "FidelityScorer",
    "ScoringOptions",
    "DEFAULT_SCORING_OPTIONS",
    "get_task",
    "rgb_to_luma",
    "bicubic_degrade",
]

_LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601

COMMON_METRICS = ("l1", "warping_error", "warping_error_target", "tOF")
"""Metrics every task reports (``l1`` on the model's range; the warping errors of the output and of
the target from the input video's flows; tOF of the output against the target, when a tOF flow
estimator is set)."""

METRIC_GOALS = {"psnr": "max", "J": "max", "F": "max", "T": "min", "l1": "min", "warping_error": "min", "tOF": "min"}
"""Whether higher (``max``) or lower (``min``) is better, for the metrics a run may select its
``best`` checkpoint by (``train.best_metric``) and a table may compare; a task reports those among
its :attr:`Task.metrics`."""

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
    """ITU-R BT.601 luma of RGB frames ``[..., 3, H, W]`` in [0, 1] (or uint8), as ``[..., 1, H, W]``
    float32 in [0, 1]."""
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


# --------------------------------------------------------------------------------------------------
# Scoring a video frame by frame.


class FrameScorer(Protocol):
    """A task's own measures of one video, fed one displayed frame at a time.

    Frames are ``[C, H, W]`` float in [0, 1] as :meth:`Task.display` shows them (a mask task's are
    binary, one channel). The same scorer serves a whole clip (fed its frames in order) and a
    stream of any length.
    """

    def update(self, output: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor | None) -> None:
        """Add frame t of the output, of the target and of the input baseline (None for a task
        without one)."""

    def summary(self) -> dict[str, float]:
        """The task's own metrics (:attr:`Task.own_metrics`) of the frames fed so far."""

    def series(self) -> dict[str, list[float]]:
        """The per-frame values behind the summary (per pair for a pair measure such as T)."""


class FidelityScorer:
    """PSNR and SSIM of each frame against the target, and the PSNR of the input baseline
    (``psnr_input``) when one is fed, on [0, 1] RGB; a video's value is the mean of its frames'
    (:func:`v2v.metrics.psnr`, :func:`v2v.metrics.ssim_per_frame`).

    Args:
        crop_border: pixels removed from each side first.
    """

    def __init__(self, crop_border: int = 0) -> None:
        self.crop_border = crop_border
        self.per_frame: dict[str, list[float]] = {"psnr": [], "ssim": [], "psnr_input": []}

    def update(self, output: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor | None) -> None:
        """Add one frame (see :class:`FrameScorer`); ``psnr_input`` needs ``baseline`` on every frame."""
        crop = self.crop_border
        self.per_frame["psnr"].append(float(metrics.psnr_per_frame(output[None], target[None], crop_border=crop)[0]))
        self.per_frame["ssim"].append(float(metrics.ssim_per_frame(output[None], target[None], crop_border=crop)[0]))
        if baseline is not None:
            self.per_frame["psnr_input"].append(float(metrics.psnr_per_frame(baseline[None], target[None], crop_border=crop)[0]))

    def summary(self) -> dict[str, float]:
        """``psnr`` and ``ssim`` (NaN before the first frame) and, if the baseline was fed,
        ``psnr_input``: means over frames."""
        scores = {key: float(np.mean(self.per_frame[key])) if self.per_frame[key] else math.nan for key in ("psnr", "ssim")}
        if self.per_frame["psnr_input"]:
            scores["psnr_input"] = float(np.mean(self.per_frame["psnr_input"]))
        return scores

    def series(self) -> dict[str, list[float]]:
        """``psnr``, ``ssim`` (and ``psnr_input``) per frame."""
        return {key: list(values) for key, values in self.per_frame.items() if values}


class _MaskFrames:
    """J, F and T of predicted masks against the ground truth (:class:`v2v.metrics.MaskScorer`),
    from displayed one-channel frames."""

    def __init__(self, options: ScoringOptions, executor: Executor | None) -> None:
        self.scorer = metrics.MaskScorer(t_protocol=options.t_protocol, exact_ties=options.exact_ties, executor=executor)

    def update(self, output: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor | None) -> None:
        self.scorer.update((output[0] > 0.5).numpy(), (target[0] > 0.5).numpy())

    def summary(self) -> dict[str, float]:
        return self.scorer.summary()

    def series(self) -> dict[str, list[float]]:
        return {"J": list(self.scorer.per_frame["J"]), "F": list(self.scorer.per_frame["F"]), "T": self.scorer.pair_costs()}


def _identity(frames: torch.Tensor) -> torch.Tensor:
    return frames


def _processed_frames(model_input: torch.Tensor) -> torch.Tensor:
    """The processed frames of a stabilize input ``[..., 6, H, W]`` (original, then processed): what
    a residual stabiliser corrects."""
    return model_input[..., 3:, :, :]


def _gray_rgb(luma: torch.Tensor) -> torch.Tensor:
    """``[..., 1, H, W]`` luma as ``[..., 3, H, W]`` gray RGB (the luma of gray RGB is itself)."""
    return luma.expand(*luma.shape[:-3], 3, *luma.shape[-2:])


@dataclass(frozen=True)
class Task:
    """One translation task: the model's input and target, the output's display, and its scores.

    Attributes:
        name: the name configs and checkpoints use (``task:`` in a run config).
        in_channels: channels of the model input.
        out_channels: channels of the model output and target.
        needs_masks: the target is a foreground mask (data sets must provide annotations).
        self_supervised: the target is the clip's own frames, so any colour video is its own
            ground truth: real footage is scored for accuracy against itself.
        unit_input: RGB frames ``[..., 3, H, W]`` in [0, 1] -> the model input in [0, 1].
        own_metrics: the task's own metric keys, in report order (see :attr:`metrics`).
        table_metrics: the accuracy columns of Table 1, the first being the accuracy its
            orderings compare (:attr:`accuracy_metric`).
        scorer_factory: ``(options, executor) ->`` a new :class:`FrameScorer` of :attr:`own_metrics`.
        best_metric: the validation metric that selects a run's ``best`` checkpoint unless the
            config names one (a key of :data:`METRIC_GOALS` among :attr:`metrics`).
        output_base: the model input ``[..., in_channels, H, W]`` in [-1, 1] as a guess of the output
            ``[..., out_channels, H, W]`` (colorization: the luma as gray RGB; superres: the bicubic
            upscale itself), or None where input and output live in different spaces
            (segmentation). It is what a residual generator (``model.residual``) corrects and the
            trivial baseline ``psnr_input`` scores.
        processed_input: the input is the clip and a per-frame processing of it (channels stacked:
            original, then processed), the target that processing: the frames of both come in;
            flows are the original's (the processing's flicker never enters them) and there is no
            input baseline (the processed video is the target itself).
    """

    name: str
    in_channels: int
    out_channels: int
    needs_masks: bool
    self_supervised: bool
    unit_input: Callable[[torch.Tensor], torch.Tensor]
    own_metrics: tuple[str, ...]
    table_metrics: tuple[str, ...]
    scorer_factory: Callable[[ScoringOptions, Executor | None], FrameScorer]
    best_metric: str
    output_base: Callable[[torch.Tensor], torch.Tensor] | None
    processed_input: bool = False

    @property
    def channels(self) -> tuple[int, int]:
        """``(in_channels, out_channels)``."""
        return self.in_channels, self.out_channels

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric key a scored video of this task has: :attr:`own_metrics` then :data:`COMMON_METRICS`."""
        return self.own_metrics + COMMON_METRICS

    @property
    def accuracy_metric(self) -> tuple[str, bool]:
        """``(metric, higher is better)``: the accuracy Table 1's orderings compare."""
        metric = self.table_metrics[0]
        return metric, METRIC_GOALS[metric] == "max"

    def _processed(self, processed: torch.Tensor | None) -> torch.Tensor:
        if processed is None:
            raise ValueError(f"the {self.name} task needs the processed frames beside the originals, got processed=None")
        return _as_unit_frames(processed, "processed")

    def input(self, frames: torch.Tensor, processed: torch.Tensor | None = None) -> torch.Tensor:
        """The model input ``[..., in_channels, H, W]`` float32 in [-1, 1] from RGB frames
        ``[..., 3, H, W]`` (float in [0, 1] or uint8), and for a :attr:`processed_input` task their
        processed frames (stacked after them)."""
        unit = self.unit_input(_as_unit_frames(frames))
        if self.processed_input:
            unit = torch.cat([unit, self._processed(processed)], dim=-3)
        return to_model_range(unit)

    def target(self, frames: torch.Tensor, masks: torch.Tensor | None, processed: torch.Tensor | None = None) -> torch.Tensor:
        """The target ``[..., out_channels, H, W]`` float32 in [-1, 1]: the foreground mask for a
        mask task, the processed frames for a :attr:`processed_input` task, the RGB frames otherwise.

        Args:
            frames: ``[..., 3, H, W]`` float in [0, 1] or uint8.
            masks: ``[..., 1, H, W]`` foreground (any value > 0.5, or True, is foreground); required
                when :attr:`needs_masks`, ignored otherwise.
            processed: the processed frames, as ``frames``; required when :attr:`processed_input`.
        """
        if self.processed_input:
            return to_model_range(self._processed(processed))
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

    def pair(self, frames: torch.Tensor, masks: torch.Tensor | None,
             processed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input, target)`` of a clip ``[T, 3, H, W]`` (masks ``[T, 1, H, W]`` for a mask task,
        processed frames for a :attr:`processed_input` task)."""
        return self.input(frames, processed), self.target(frames, masks, processed)

    def flow_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """The frames ``[..., C, H, W]`` in [0, 1] whose flows a clip of RGB ``frames`` is trained and
        scored with: the model input (what the model sees: luma, the bicubic frames), or for a
        :attr:`processed_input` task the original frames (the processing's flicker never enters
        the flows)."""
        if self.processed_input:
            return _as_unit_frames(frames).contiguous()
        return to_unit_range(self.input(frames)).clamp(0.0, 1.0).contiguous()

    def display(self, output: torch.Tensor) -> torch.Tensor:
        """A model output (or target) ``[..., out_channels, H, W]`` in [-1, 1] as frames in [0, 1].

        RGB is rescaled with :func:`~v2v.frames.to_unit_range` and clamped; a mask becomes binary
        (foreground where the output is above 0, the middle of [-1, 1]). This is what is written to
        a translated video, what tOF compares and what the frame scorer reads.
        """
        if self.needs_masks:
            return (output > 0).float()
        return to_unit_range(output).clamp(0, 1)

    def shown_input(self, model_input: torch.Tensor) -> torch.Tensor:
        """The part of a model input ``[..., in_channels, H, W]`` in [-1, 1] that pictures show as the
        input: the processed frames for a :attr:`processed_input` task (the original is the flows'
        source, not what is corrected), the whole input otherwise."""
        return self.output_base(model_input) if self.processed_input else model_input

    def baseline(self, model_input: torch.Tensor) -> torch.Tensor | None:
        """The input taken as the output, displayed (``output_base`` in [0, 1]), or None (no base, or
        a :attr:`processed_input` task, whose base is its target)."""
        if self.output_base is None or self.processed_input:
            return None
        return to_unit_range(self.output_base(model_input)).clamp(0, 1)

    def frame_scorer(self, options: ScoringOptions = DEFAULT_SCORING_OPTIONS, executor: Executor | None = None) -> FrameScorer:
        """A new scorer of the task's own metrics, fed displayed frames (:class:`FrameScorer`).

        Args:
            options: protocol options (T pairing, PSNR border).
            executor: optional pool in which T's pairs are computed (identical values).
        """
        return self.scorer_factory(options, executor)


TASK_REGISTRY: dict[str, Task] = {
    task.name: task
    for task in (
        Task("segmentation", 3, 1, needs_masks=True, self_supervised=False, unit_input=_identity,
             own_metrics=("J", "J_recall", "J_decay", "F", "F_recall", "F_decay", "T"), table_metrics=("J", "F", "T"),
             scorer_factory=_MaskFrames, best_metric="J", output_base=None),
        Task("colorization", 1, 3, needs_masks=False, self_supervised=True, unit_input=rgb_to_luma,
             own_metrics=("psnr", "ssim", "psnr_input"), table_metrics=("psnr", "ssim"),
             scorer_factory=lambda options, executor: FidelityScorer(), best_metric="psnr", output_base=_gray_rgb),
        Task("superres", 3, 3, needs_masks=False, self_supervised=True, unit_input=bicubic_degrade,
             own_metrics=("psnr", "ssim", "psnr_input"), table_metrics=("psnr", "ssim"),
             scorer_factory=lambda options, executor: FidelityScorer(options.psnr_crop_border), best_metric="psnr",
             output_base=_identity),
        Task("stabilize", 6, 3, needs_masks=False, self_supervised=False, unit_input=_identity,
             own_metrics=("psnr", "ssim"), table_metrics=("psnr", "ssim"),
             scorer_factory=lambda options, executor: FidelityScorer(options.psnr_crop_border), best_metric="warping_error",
             output_base=_processed_frames, processed_input=True),
    )
}
"""Every task, by name: ``segmentation``, ``colorization``, ``superres`` and ``stabilize`` (a
per-frame method's flickering output made consistent along the original's motion: the input is
the original frame and the processed one, the target the processed frame; its fidelity to it
is ``psnr``/``ssim``, and the run's best checkpoint is its steadiest, by warping error)."""

TRANSLATION_TASKS = tuple(name for name, task in TASK_REGISTRY.items() if not task.processed_input)
"""The paper's three tasks, which translate one video into another: the tasks of Table 1's grids
(``stabilize`` takes a second, processed video, and is evaluated by ``benchmarks/stabilize_eval.py``)."""


def get_task(task: str | Task) -> Task:
    """The :class:`Task` named ``task`` (a :class:`Task` is returned as it is).

    Raises:
        ValueError: ``task`` is not a known task name.
    """
    if isinstance(task, Task):
        return task
    if task not in TASK_REGISTRY:
        raise ValueError(f"unknown task {task!r}; expected one of {tuple(TASK_REGISTRY)}")
    return TASK_REGISTRY[task]
