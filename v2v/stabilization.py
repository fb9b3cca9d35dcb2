"""Temporal stabilisation of a per-frame method's output, frame by frame: the training-free ``blend``
and the one streaming path every stabiliser runs through.

A per-frame method (a colorizer, a tone mapper, style transfer, :mod:`v2v.processors`) turns the
original video ``I`` into a processed video ``P`` that flickers. A stabiliser makes ``P``
consistent along the motion of ``I`` while staying close to it:

- :class:`Stabilizer`: what a stabiliser is: ``reset()`` at the start of a shot, then
  ``step(original, processed, flows)`` once per frame;
- :class:`BlendStabilizer`: flow-guided temporal blending, an exponential moving average of the
  processed frames along the original's motion (below); no training, and the baseline every
  learned stabiliser has to beat;
- :class:`LearnedStabilizer`: a generator trained on the ``stabilize`` task (:mod:`v2v.tasks`; the
  paper's networks and objective, its input the original frame and the processed one), run with
  its recurrent state carried within a shot;
- :func:`stream_stabilize`: original and processed frames read in lockstep, scene cuts detected on
  the original (:mod:`v2v.scene_cuts`; a cut resets the stabiliser), flows of each consecutive pair
  of the ORIGINAL computed as they stream by (:func:`v2v.flow.iter_pair_flows`, through a
  :mod:`v2v.flow` provider and the flow cache), the stabilised frame yielded before the next frame
  is read: constant memory whatever the length. :func:`stabilize_frames` collects it for a clip.

**Blend.** With ``b_t`` and ``f_t`` the backward and forward flows of the original's pair
``(t-1, t)`` and ``c_t = v2vcore.consistency_mask(f_t, b_t)`` (the sample point lies inside the
frame, the forward-backward test finds no occlusion, no motion boundary)::

    out_t = a * warp(out_{t-1}, b_t) + (1 - a) * proc_t    where c_t holds,
    out_t = proc_t                                          elsewhere and on a shot's first frame.

The strength ``a`` is in [0, 1): 0 returns the processed frames exactly; towards 1 the output holds
on to its past along the motion (more stable, further from each processed frame). The processed
flicker never enters the flows: they are the original video's. The state is the previous output in
float32 (not its 8-bit rounding, which would stall small updates at high strength).

**Measure with other flows.** On every pixel where ``c_t`` holds, the residual the warping error
measures with the same flows is ``out_t - warp(out_{t-1}, b_t) = (1 - a) (proc_t - warp(out_{t-1},
b_t))``: the method's own update shrunk by ``1 - a``, whatever the video. Warping error computed
with the flows blend used therefore reports the method back to itself (for independent per-frame
flicker on perfectly tracked content, ``(1 - a)^2 / (1 + a)`` times the processed video's); always
evaluate with flows from another estimator (docs/stabilize.md).

Convention:
    Frames in and out of the stream are ``uint8`` ``[H, W, 3]`` RGB as video readers give them; a
    stabiliser returns float32 ``[3, H, W]`` in [0, 1] (written with :func:`v2v.frames.to_uint8`).
    Flows follow docs/conventions.md: for frame t, ``(flow_fwd, flow_bwd)`` of the pair (t-1, t),
    each ``[2, H, W]`` in pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

import v2vcore
from v2v.flow import FlowCache, FlowProvider, iter_pair_flows
from v2v.frames import to_uint8
from v2v.inference import StreamingTranslator
from v2v.scene_cuts import DEFAULT_THRESHOLD, SceneCutDetector
from v2v.tasks import Task

__all__ = [
    "DEFAULT_STRENGTH",
    "Stabilizer",
    "BlendStabilizer",
    "LearnedStabilizer",
    "StabilizedFrame",
    "stream_stabilize",
    "stabilize_frames",
]

DEFAULT_STRENGTH = 0.8
"""Blend's default strength ``a``: where its fidelity-against-stability curve flattens. On the held-out
processors with fresh flicker (``benchmarks/results/stabilize.md``) it cuts the warping error under
Farneback flows to 0.10-0.19x the processed video's at 25-28 dB PSNR to it; above it, stability
hardly improves while fidelity keeps falling."""


class Stabilizer(Protocol):
    """A stabiliser run frame by frame by :func:`stream_stabilize`."""

    def reset(self) -> None:
        """Forget the past: the next frame starts a shot."""

    def step(self, original: np.ndarray, processed: np.ndarray,
             flows: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """The stabilised frame t.

        Args:
            original: frame t of the original video, ``uint8`` ``[H, W, 3]``.
            processed: frame t of the processed video, ``uint8`` ``[H, W, 3]``.
            flows: ``(flow_fwd, flow_bwd)`` of the original's pair (t-1, t), each ``[2, H, W]``;
                None on a shot's first frame.

        Returns:
            float32 ``[3, H, W]`` in [0, 1].
        """


def _unit_chw(frame: np.ndarray, name: str) -> torch.Tensor:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        described = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"{name} must be uint8 [H, W, 3] RGB, got {described}")
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float() / 255.0


class BlendStabilizer:
    """Flow-guided temporal blending (see the module docstring).

    Args:
        strength: ``a`` in [0, 1) (default :data:`DEFAULT_STRENGTH`).

    Raises:
        ValueError: a strength outside [0, 1).
    """

    def __init__(self, strength: float = DEFAULT_STRENGTH) -> None:
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength < 1:
            raise ValueError(f"blend strength must be in [0, 1), got {strength!r}")
        self.strength = float(strength)
        self._previous: torch.Tensor | None = None

    def reset(self) -> None:
        """Drop the previous output: the next frame is returned as processed."""
        self._previous = None

    def step(self, original: np.ndarray, processed: np.ndarray,
             flows: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """The blended frame t (see :meth:`Stabilizer.step`; ``original`` is not used: its motion
        arrives as ``flows``)."""
        current = _unit_chw(processed, "the processed frame")[None]
        if self._previous is None or flows is None:
            output = current
        else:
            flow_fwd, flow_bwd = (flow.float()[None] for flow in flows)
            if flow_bwd.shape[-2:] != current.shape[-2:] or self._previous.shape != current.shape:
                raise ValueError(f"blend: frame {tuple(current.shape[-2:])}, flow {tuple(flow_bwd.shape[-2:])} and previous "
                                 f"output {tuple(self._previous.shape[-2:])} must share one size")
            reliable = v2vcore.consistency_mask(flow_fwd, flow_bwd)
            warped = v2vcore.warp(self._previous, flow_bwd, check_flow=False)  # the mask has checked the flows
            output = torch.where(reliable, self.strength * warped + (1.0 - self.strength) * current, current)
        self._previous = output
        return output[0]


class LearnedStabilizer:
    """A generator trained on a :attr:`~v2v.tasks.Task.processed_input` task (``stabilize``) as a
    :class:`Stabilizer`: each frame's input is the original and the processed frame (the task's
    :meth:`~v2v.tasks.Task.input`), the recurrent state is carried from frame to frame and dropped
    at :meth:`reset`. Its flows come from its own recurrence, so ``step`` ignores ``flows``.

    Args:
        generator: the trained generator (``step(frame, state)``, :mod:`v2v.models`).
        task: its task; must process its clips.
        device: where the generator runs.

    Raises:
        ValueError: a task that does not take processed frames.
    """

    def __init__(self, generator: torch.nn.Module, task: Task, device: torch.device) -> None:
        if not task.processed_input:
            raise ValueError(f"a learned stabiliser is a generator of a task that takes processed frames (stabilize), "
                             f"not of the {task.name} task")
        self.task = task
        self.translator = StreamingTranslator(generator, device)
        self._new_shot = True

    def reset(self) -> None:
        """Drop the recurrent state before the next frame."""
        self._new_shot = True

    def step(self, original: np.ndarray, processed: np.ndarray,
             flows: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """The stabilised frame t (see :meth:`Stabilizer.step`)."""
        model_input = self.task.input(_unit_chw(original, "the original frame"), _unit_chw(processed, "the processed frame"))
        output = self.translator.step(model_input, new_shot=self._new_shot)
        self._new_shot = False
        return self.task.display(output)


@dataclass(frozen=True)
class StabilizedFrame:
    """One frame of a stabilised stream.

    Attributes:
        original: the original frame, ``uint8`` ``[H, W, 3]``.
        processed: the processed frame, ``uint8`` ``[H, W, 3]``.
        output: the stabilised frame, float32 ``[3, H, W]`` in [0, 1].
        new_shot: a scene cut was detected before this frame (the stabiliser was reset).
    """

    original: np.ndarray
    processed: np.ndarray
    output: torch.Tensor
    new_shot: bool


def stream_stabilize(
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    stabilizer: Stabilizer,
    provider: FlowProvider,
    cache: FlowCache | None = None,
    *,
    scene_cut_threshold: float | None = DEFAULT_THRESHOLD,
) -> Iterator[StabilizedFrame]:
    """Stabilise a processed video along its original's motion, one frame at a time.

    Args:
        frames: ``(original, processed)`` pairs of ``uint8`` ``[H, W, 3]`` RGB frames in order (two
            video readers zipped in lockstep, :func:`v2v.scoring.lockstep`).
        stabilizer: a :class:`Stabilizer` (reset before the first frame and at every cut).
        provider: the flow estimator of the original's pairs (not ``exact``).
        cache: optional :class:`v2v.flow.FlowCache` (one entry per pair).
        scene_cut_threshold: of :class:`v2v.scene_cuts.SceneCutDetector` on the original; None
            never resets within the stream.

    Yields:
        A :class:`StabilizedFrame` per frame, before the next pair is read.

    Raises:
        ValueError: a processed frame whose size differs from its original's (naming the frame).
    """
    detector = SceneCutDetector(scene_cut_threshold) if scene_cut_threshold is not None else None
    previous = None
    for index, (original, processed) in enumerate(frames):
        if processed.shape != original.shape:
            raise ValueError(f"frame {index}: the processed frame is {processed.shape[0]}x{processed.shape[1]} but the "
                             f"original is {original.shape[0]}x{original.shape[1]}: they must be in lockstep")
        new_shot = detector.update(original) if detector is not None else False
        if previous is None or new_shot:
            stabilizer.reset()
            flows = None  # no flow across a cut: its pixels would match nothing
        else:
            flows = next(iter_pair_flows((previous, original), provider, cache))
        output = stabilizer.step(original, processed, flows)
        previous = original
        yield StabilizedFrame(original=original, processed=processed, output=output, new_shot=new_shot)


def stabilize_frames(
    original: Iterable[np.ndarray],
    processed: Iterable[np.ndarray],
    stabilizer: Stabilizer,
    provider: FlowProvider,
    cache: FlowCache | None = None,
    *,
    scene_cut_threshold: float | None = DEFAULT_THRESHOLD,
) -> np.ndarray:
    """:func:`stream_stabilize` of a clip held in memory, as ``uint8`` ``[T, H, W, 3]`` (the
    8-bit frames a written video holds).

    Args:
        original, processed: the clips' ``uint8`` ``[H, W, 3]`` frames (arrays ``[T, H, W, 3]`` or
            sequences), of one length.
        stabilizer, provider, cache, scene_cut_threshold: see :func:`stream_stabilize`.

    Raises:
        ValueError: clips of different lengths or sizes, or no frame.
    """
    original, processed = list(original), list(processed)
    if len(original) != len(processed):
        raise ValueError(f"the original clip has {len(original)} frames but the processed one has {len(processed)}")
    if not original:
        raise ValueError("stabilize_frames needs at least one frame")
    stream = stream_stabilize(zip(original, processed), stabilizer, provider, cache, scene_cut_threshold=scene_cut_threshold)
    return np.stack([to_uint8(frame.output.permute(1, 2, 0).numpy()) for frame in stream])
