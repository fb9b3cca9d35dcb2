"""Every score of a translated video: the one place that scores a clip or a stream.

Two entry points share the arithmetic (the task's own measures from :meth:`v2v.tasks.Task.frame_scorer`,
the warping error from :func:`v2v.metrics.consistency.pair_warping_errors`):

- :func:`score_clip`: a clip held as tensors with its input video's flows (training validation,
  ``v2v.evaluate``, ``v2v.reproduce``): every metric of the task (:attr:`v2v.tasks.Task.metrics`);
  :func:`mean_scores` averages them over a data set.
- :class:`StreamScorer`: videos fed one frame at a time, flows computed as they stream by through a
  :mod:`v2v.flow` provider (``python -m v2v.score``, ``v2v.translate --score``, real footage in
  ``v2v.reproduce``): warping error, tOF and flicker under a named :class:`Protocol`, and the task's
  measures against a target when one is fed. :func:`score_videos` runs it over video files;
  :func:`format_report` and :func:`format_csv` show its report.

Measures (lower is better unless said): warping error (``warping_error``, MSE, and
``warping_error_l1``), tOF, flicker (mean absolute difference of consecutive frames, no flow) and,
for mask videos (protocol ``davis``), J and F against the target (higher is better) and T. How
each is computed is fixed by a named protocol (:data:`PROTOCOLS`), printed with every result:

- ``v2v`` (default): the project's own convention, the same as :func:`score_clip` and the training
  loss: flows of the reference, previous frame warped forward by the backward flow,
  ``v2vcore.consistency_mask``.
- ``lai``: what Lai et al.'s released ``evaluate_WarpError.py`` computes (their warp direction,
  border clamping and ``detect_occlusion`` mask), with the reference's flows from our provider in
  place of FlowNet2.
- ``output-flow``: as ``v2v`` but with flows computed on each output itself.
- ``davis``: mask videos: as ``v2v`` on the binary masks, plus J, F and T.

See ``docs/metrics.md`` ("Scoring any video") for the protocols side by side.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from v2v import metrics
from v2v.data.video_io import open_video_reader
from v2v.flow import (
    DEFAULT_FLOW_PROVIDER,
    ESTIMATORS,
    FlowCache,
    FlowConfig,
    FlowProvider,
    iter_pair_flows,
    make_flow_provider,
)
from v2v.frames import to_unit_range
from v2v.metrics.consistency import ConsistencyScorer
from v2v.tables import text_table
from v2v.tasks import DEFAULT_SCORING_OPTIONS, FrameScorer, ScoringOptions, Task, get_task

__all__ = [
    "DEFAULT_TOF_FLOW",
    "TOF_FLOW_CHOICES",
    "make_tof_flow",
    "score_clip",
    "mean_scores",
    "Protocol",
    "PROTOCOLS",
    "DEFAULT_PROTOCOL",
    "BadInput",
    "StreamScorer",
    "check_video_pair",
    "lockstep",
    "score_videos",
    "format_report",
    "format_csv",
]


# --------------------------------------------------------------------------------------------------
# Clips held as tensors.

DEFAULT_TOF_FLOW = DEFAULT_FLOW_PROVIDER
"""Flow estimator of tOF unless told otherwise (a ``v2v.flow`` provider name)."""

TOF_FLOW_CHOICES = (*ESTIMATORS, "none")
"""What a tOF flow option accepts: an estimating provider, or ``none`` to leave tOF out."""


def make_tof_flow(name: str, raft_weights: str | None = None) -> FlowProvider | None:
    """The flow provider of tOF named ``name`` with its default settings, or None for ``"none"``.

    Args:
        name: one of :data:`TOF_FLOW_CHOICES`.
        raft_weights: the local RAFT weights file, required by ``raft`` (nothing is downloaded).

    Raises:
        ValueError: an unknown name, ``exact`` (outputs have no exact flow), or weights given for
            another provider.
        FileNotFoundError: ``raft`` without a weights file, or a weights file that does not exist.
    """
    if name == "none":
        return None
    if name not in ESTIMATORS:
        raise ValueError(f"tOF needs a flow estimator, one of {TOF_FLOW_CHOICES}, got {name!r} (translated outputs have no exact flow)")
    if raft_weights is not None and name != "raft":
        raise ValueError(f"a RAFT weights file was given but the tOF flow is {name!r}, not 'raft'")
    if name == "raft" and raft_weights is None:
        raise FileNotFoundError("tOF flow 'raft' needs a local RAFT weights file (--tof-raft-weights FILE); nothing is downloaded")
    return FlowConfig(provider=name, cache_dir=None, raft_weights=raft_weights).build_provider(has_exact_flow=False)


def score_clip(
    task: str | Task,
    output: torch.Tensor,
    target: torch.Tensor,
    input_video: torch.Tensor,
    flow_fwd: torch.Tensor,
    flow_bwd: torch.Tensor,
    *,
    options: ScoringOptions = DEFAULT_SCORING_OPTIONS,
    tof_flow: FlowProvider | None = None,
    executor: Executor | None = None,
) -> dict[str, float]:
    """Every metric of one translated clip.

    Args:
        task: the task (or its name).
        output: generator output ``[T, Cout, H, W]`` in [-1, 1] (a residual generator's overshoot
            is clamped away: every metric sees what is displayed).
        target: ground truth ``[T, Cout, H, W]`` in [-1, 1].
        input_video: the model input ``[T, Cin, H, W]`` in [-1, 1].
        flow_fwd, flow_bwd: flows of the input video ``[T-1, 2, H, W]`` in pixels.
        options: protocol options (T pairing, PSNR border).
        tof_flow: flow estimator of tOF (a ``v2v.flow`` provider); None leaves tOF out.
        executor: optional pool in which T's pairs are computed (identical values).

    Returns:
        A flat dict of floats, the keys of ``task.metrics`` (``tOF`` only with ``tof_flow``), NaN
        where a metric is undefined (T of empty masks; the temporal metrics of a one-frame video).
    """
    spec = get_task(task)
    if output.shape != target.shape or output.shape[1] != spec.out_channels:
        raise ValueError(f"output and target must both be [T, {spec.out_channels}, H, W] for {spec.name}, "
                         f"got {tuple(output.shape)} and {tuple(target.shape)}")
    output = output.clamp(-1.0, 1.0)
    shown_output, shown_target = spec.display(output), spec.display(target)
    baseline = spec.baseline(input_video)
    measures = spec.frame_scorer(options, executor)
    for t in range(output.shape[0]):
        measures.update(shown_output[t], shown_target[t], None if baseline is None else baseline[t])
    scores = measures.summary()
    scores["l1"] = float((output - target).abs().mean())
    two_frames = output.shape[0] >= 2
    # The warping error sees the continuous output (a mask task's too), tOF what a viewer sees.
    for key, video in (("warping_error", output), ("warping_error_target", target)):
        unit = to_unit_range(video).clamp(0, 1)
        scores[key] = float(metrics.warping_error(unit, flow_fwd, flow_bwd)) if two_frames else math.nan
    if tof_flow is not None:
        scores["tOF"] = float(metrics.tof(shown_output, shown_target, flow=tof_flow)) if two_frames else math.nan
    return {key: scores[key] for key in spec.metrics if key in scores}


def mean_scores(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, float]:
    """NaN-skipping mean (:func:`v2v.metrics.nanmean`) of each of ``keys`` over the rows that have
    it, in the order of ``keys`` (a key no row has is left out)."""
    return {key: metrics.nanmean([row[key] for row in rows if key in row]) for key in keys if any(key in row for row in rows)}


# --------------------------------------------------------------------------------------------------
# Streams: protocols.


@dataclass(frozen=True)
class Protocol:
    """One named way of scoring streams, with everything a reader needs to compare its numbers.

    Attributes:
        name: the ``--protocol`` value.
        title: one line saying what it is.
        flow_video: ``"reference"`` (flows of the input video) or ``"output"`` (of each output).
        convention: warp convention of :func:`v2v.metrics.consistency.pair_warping_errors`.
        masks: scores binary mask videos: J, F and T against the target, by the task whose
            measures they are (``segmentation``).
        warp, mask, norm, pairs, value_range, scale: the description printed with the numbers.
    """

    name: str
    title: str
    flow_video: str
    convention: str
    masks: bool
    warp: str
    mask: str
    norm: str
    pairs: str
    value_range: str
    scale: str

    def describe(self) -> dict[str, Any]:
        """The protocol's fields as a JSON-ready dict (without the flow provider)."""
        return {
            "name": self.name, "title": self.title, "flow_video": self.flow_video, "warp": self.warp,
            "mask": self.mask, "norm": self.norm, "pairs": self.pairs, "value_range": self.value_range,
            "scale": self.scale,
        }


MASK_TASK = "segmentation"
"""The task whose measures (J, F, T) a mask protocol reports."""

_V2V_WARP = "frame t-1 warped to frame t by the backward flow b_t (v2vcore.warp, bilinear, taps outside the frame read 0)"
_V2V_MASK = ("v2vcore.consistency_mask on frame t: sample point inside the frame, forward-backward test "
             "|b + f~|^2 <= 0.01 (|b|^2 + |f~|^2) + 0.5, no motion boundary |grad b|^2 <= 0.01 |b|^2 + 0.002 "
             "(central differences)")
_NORM = ("warping_error: squared residual, warping_error_l1: absolute residual, each summed over reliable pixels "
         "and channels / (channels x reliable pixels); a pair with no reliable pixel scores 0")
_PAIRS = "every consecutive pair (t-1, t); a video's value is the mean over its pairs"
_RGB_RANGE = "8-bit RGB / 255, in [0, 1] (gray frames replicated to 3 channels)"

PROTOCOLS: dict[str, Protocol] = {
    "v2v": Protocol(
        name="v2v",
        title="the project's default: v2v.evaluate's warping error and the training loss's mask",
        flow_video="reference", convention="v2v", masks=False,
        warp=_V2V_WARP, mask=_V2V_MASK, norm=_NORM, pairs=_PAIRS, value_range=_RGB_RANGE, scale="x1",
    ),
    "lai": Protocol(
        name="lai",
        title="Lai et al. 2018, as their released evaluate_WarpError.py computes it (FlowNet2 replaced by --flow)",
        flow_video="reference", convention="lai", masks=False,
        warp=("frame t warped to frame t-1 by the forward flow f_{t-1} (bilinear, the four taps clamped to the "
              "frame, as their Resample2d)"),
        mask=("utils.detect_occlusion on frame t-1: forward-backward test |f + b~|^2 <= 0.01 (|f|^2 + |b~|^2) + 0.5 "
              "with b~ the border-clamped warp of b_t, no motion boundary: one-sided differences of f, "
              "dx^2 + dy^2 of both components <= 0.01 |f|^2 + 0.002; no inside-the-frame test"),
        norm=_NORM + " (their 3-channel mask: / (3 x reliable pixels))",
        pairs=_PAIRS, value_range=_RGB_RANGE, scale="x1 (the released code's scale)",
    ),
    "output-flow": Protocol(
        name="output-flow",
        title="flows computed on each output itself (as some video-generation benchmarks do)",
        flow_video="output", convention="v2v", masks=False,
        warp=_V2V_WARP.replace("backward flow b_t", "output's own backward flow b_t"), mask=_V2V_MASK, norm=_NORM,
        pairs=_PAIRS, value_range=_RGB_RANGE, scale="x1",
    ),
    "davis": Protocol(
        name="davis",
        title="mask videos: J and F against --target (DAVIS 2017), T (DAVIS 2016), and the v2v warping error of the masks",
        flow_video="reference", convention="v2v", masks=True,
        warp=_V2V_WARP, mask=_V2V_MASK, norm=_NORM,
        pairs=_PAIRS + "; J and F per frame (mean, recall, decay); T over every consecutive pair, 5 x the NaN-skipping mean",
        value_range="binary masks: pixels thresholded at 128 (one channel, values 0 or 1)", scale="x1; T x5",
    ),
}
DEFAULT_PROTOCOL = "v2v"


class BadInput(ValueError):
    """Input that cannot be scored (mismatched videos, a colour video under a mask protocol, ...)."""


_MASK_MAX_CHANNEL_SPREAD = 16  # grey levels: a mask video may carry compression noise, not colour
_MASK_GREY_BAND = (32, 223)  # grey levels neither clearly background nor clearly foreground
_MASK_MAX_AMBIGUOUS = 0.01  # fraction of a frame's pixels allowed to be coloured or mid-grey


def _to_mask(image: np.ndarray, label: str, index: int) -> np.ndarray:
    """A uint8 ``[H, W, 3]`` frame of a mask video as bool ``[H, W]``, or a BadInput saying why not."""
    channels = image.astype(np.int16)
    spread = channels.max(axis=2) - channels.min(axis=2)
    grey = channels[:, :, 0]
    ambiguous = (spread > _MASK_MAX_CHANNEL_SPREAD) | ((grey >= _MASK_GREY_BAND[0]) & (grey <= _MASK_GREY_BAND[1]))
    fraction = float(ambiguous.mean())
    if fraction > _MASK_MAX_AMBIGUOUS:
        raise BadInput(
            f"{label} frame {index} is not a mask: {100 * fraction:.0f}% of its pixels are coloured or mid-grey; "
            "--protocol davis scores binary mask videos (black background, white foreground)"
        )
    return grey >= 128


def _unit_frame(frame: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A stream frame as the measures read it: float ``[C, H, W]`` in [0, 1] (a bool mask as one
    channel of 0/1, uint8 divided by 255)."""
    if isinstance(frame, np.ndarray):
        if frame.dtype == bool:
            return torch.from_numpy(frame).float()[None]
        array = frame[:, :, None] if frame.ndim == 2 else frame
        tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
        return tensor.float() / 255.0 if tensor.dtype == torch.uint8 else tensor.float()
    return frame.float() / 255.0 if frame.dtype == torch.uint8 else frame.float()


def _flow_frame(frame):
    """What a flow provider is given for a frame: masks as uint8 0/255 gray, anything else as it is."""
    if isinstance(frame, np.ndarray) and frame.dtype == bool:
        return frame.astype(np.uint8) * 255
    return frame


def _score_frame(frame):
    """What the warping error is computed on: masks as one channel of 0/1, anything else as it is."""
    if isinstance(frame, np.ndarray) and frame.dtype == bool:
        return torch.from_numpy(frame).float()[None]
    return frame


def _flow_description(provider: FlowProvider, cache: FlowCache | None) -> dict[str, Any]:
    identity = provider.identity()
    return {"provider": identity["name"], "settings": identity["settings"], "versions": identity["versions"],
            "cache": str(cache.root) if cache is not None else None}


# --------------------------------------------------------------------------------------------------
# Streams: the scorer.


class StreamScorer:
    """Scores several output videos of one reference under a protocol, one frame of each at a time.

    Flows are computed here, one pair at a time, with :func:`v2v.flow.iter_pair_flows` (and so
    through the provider and the cache): the reference's once for all outputs, each output's when
    the protocol warps with them or tOF needs them.

    Args:
        protocol: a :class:`Protocol` or its name.
        provider: a :mod:`v2v.flow` estimating provider.
        cache: optional :class:`v2v.flow.FlowCache`.
        num_outputs: how many outputs are fed with each reference frame.
        tof: compute tOF (needs flows of every output).
        task: the task whose own measures are computed against the target (each output gets a
            :meth:`~v2v.tasks.Task.frame_scorer`); a mask protocol implies ``segmentation``; None:
            no measure against a target.

    Convention:
        tOF compares each output's forward flows with those of the comparison video: the target
        when one is fed and it is not the reference itself, else the reference (the output should
        move as the input does).
    """

    def __init__(
        self,
        protocol: Protocol | str,
        provider: FlowProvider,
        cache: FlowCache | None = None,
        num_outputs: int = 1,
        tof: bool = True,
        task: str | Task | None = None,
    ) -> None:
        self.protocol = PROTOCOLS[protocol] if isinstance(protocol, str) else protocol
        self.provider = provider
        self.cache = cache
        self.tof = tof
        if self.protocol.masks:
            task = MASK_TASK
        self.task = get_task(task) if task is not None else None
        self.scorers = [ConsistencyScorer(self.protocol.convention) for _ in range(num_outputs)]
        self.measures: list[FrameScorer] | None = (
            [self.task.frame_scorer() for _ in range(num_outputs)] if self.task is not None else None
        )
        self._previous: dict[str, Any] = {}
        self.frames = 0

    def _pair_flows(self, key: str, frame: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        previous = self._previous.get(key)
        self._previous[key] = frame
        if previous is None:
            return None
        return next(iter_pair_flows((previous, frame), self.provider, self.cache))

    def update(self, outputs: Sequence, reference, target=None, baseline=None) -> None:
        """Feed frame t of every output, of the reference and (optionally) of the target.

        Args:
            outputs: one frame per output: uint8 ``[H, W, 3]`` numpy (or, for a mask protocol, bool
                ``[H, W]`` masks), or float ``[C, H, W]`` torch in [0, 1].
            reference: the reference's frame t (uint8 ``[H, W, 3]`` or float torch ``[C, H, W]``).
            target: the target's frame t in the outputs' form, or None; required when the scorer
                has a task. Pass the reference object itself when the reference is the target.
            baseline: the input baseline's frame t (:meth:`v2v.tasks.Task.baseline`), for a task
                that has one.
        """
        if len(outputs) != len(self.scorers):
            raise ValueError(f"expected {len(self.scorers)} output frames, got {len(outputs)}")
        if self.measures is not None and target is None:
            raise BadInput(f"--protocol {self.protocol.name} needs --target (the ground truth)" if self.protocol.masks
                           else f"scoring the {self.task.name} task's measures needs the target frames")
        reference_flows = self._pair_flows("reference", reference)
        comparison_flows = None
        if self.tof:
            if target is None or target is reference:
                comparison_flows = reference_flows
            else:
                comparison_flows = self._pair_flows("target", _flow_frame(target))
        for index, frame in enumerate(outputs):
            output_flows = None
            if self.tof or self.protocol.flow_video == "output":
                output_flows = self._pair_flows(f"output{index}", _flow_frame(frame))
            warp_flows = output_flows if self.protocol.flow_video == "output" else reference_flows
            tof_flows = None
            if self.tof and output_flows is not None:
                tof_flows = (output_flows[0], comparison_flows[0])
            self.scorers[index].update(_score_frame(frame), *(warp_flows or (None, None)), tof_flows=tof_flows)
            if self.measures is not None:
                shown_baseline = None if baseline is None else _unit_frame(baseline)
                self.measures[index].update(_unit_frame(frame), _unit_frame(target), shown_baseline)
        self.frames += 1

    def results(self) -> list[dict[str, Any]]:
        """Per output: the summary values and ``per_frame`` lists (see :func:`score_videos`)."""
        rows = []
        for index, scorer in enumerate(self.scorers):
            row: dict[str, Any] = {"frames": scorer.frames, **scorer.summary()}
            per_frame = {key: list(values) for key, values in scorer.per_pair.items() if values or key != "tOF"}
            if self.measures is not None:
                measures = self.measures[index]
                row.update(measures.summary())
                per_frame.update(measures.series())
            row["per_frame"] = per_frame
            rows.append(row)
        return rows

    def report(self, outputs: Sequence[str], reference: str, target: str | None = None) -> dict[str, Any]:
        """The protocol's description and the results, as :func:`score_videos` returns them.

        Args:
            outputs: the outputs' names, in the order their frames were fed.
            reference: the reference's name; target: the target's, if one was fed.
        """
        description = self.protocol.describe()
        description["flow"] = {**_flow_description(self.provider, self.cache),
                               "computed_on": "each output" if self.protocol.flow_video == "output" else f"the reference {reference}"}
        compared = f"the target {target}" if target and target != reference else f"the reference {reference}"
        description["tOF"] = (f"each output's forward flows against those of {compared}, same provider; mean per-pixel "
                              "Euclidean norm of the difference, pixels") if self.tof else "not computed (--no-tof)"
        description["flicker"] = "mean absolute difference of consecutive frames over pixels and channels, no flow"
        videos = [{"path": str(path), **row} for path, row in zip(outputs, self.results())]
        return {"protocol": description, "videos": videos}


def check_video_pair(reader, path: str, label: str, ref_reader, ref_path: str, max_frames: int | None = None, *,
                     ref_label: str = "--reference") -> None:
    """Raise a :class:`BadInput` naming both videos when a video's frame size, or its length where
    both readers know it, differs from the reference's (a length only one knows is checked by
    :func:`lockstep` when the shorter ends).

    Args:
        reader, ref_reader: video readers (:func:`v2v.data.video_io.open_video_reader`).
        path, ref_path: their paths; label, ref_label: their roles (``OUTPUT``, ``--reference``...).
        max_frames: compare only the first frames.
    """
    if tuple(reader.frame_size) != tuple(ref_reader.frame_size):
        (h, w), (rh, rw) = reader.frame_size, ref_reader.frame_size
        raise BadInput(f"{label} {path} is {h}x{w} but {ref_label} {ref_path} is {rh}x{rw}: every video must have the reference's frame size")
    count, ref_count = reader.num_frames, ref_reader.num_frames
    if count is not None and ref_count is not None:
        if max_frames is not None:
            count, ref_count = min(count, max_frames), min(ref_count, max_frames)
        if count != ref_count:
            raise BadInput(f"{label} {path} has {count} frames but {ref_label} {ref_path} has {ref_count}: every video must have the reference's length")


def lockstep(readers: Sequence, paths: Sequence[str], labels: Sequence[str], max_frames: int | None = None) -> Iterator[tuple]:
    """Frames of several videos in lockstep; a :class:`BadInput` naming two of them when their
    lengths differ (found when the shorter one ends).

    Args:
        readers: iterables of frames (video readers).
        paths, labels: each reader's path and role (``--reference``, ``OUTPUT``...), for the message.
        max_frames: stop after this many frames (None: at the end).
    """
    iterators = [iter(reader) for reader in readers]
    index = 0
    while max_frames is None or index < max_frames:
        frames = [next(iterator, None) for iterator in iterators]
        ended = [frame is None for frame in frames]
        if all(ended):
            return
        if any(ended):
            counts = [index if done else index + 1 + sum(1 for _ in iterator) for done, iterator in zip(ended, iterators)]
            short = ended.index(True)
            other = ended.index(False)
            raise BadInput(
                f"{labels[short]} {paths[short]} has {counts[short]} frames but {labels[other]} {paths[other]} has "
                f"{counts[other]}: every video must have the reference's length"
            )
        yield tuple(frames)
        index += 1


def score_videos(
    outputs: Sequence[str],
    reference: str,
    *,
    protocol: str = DEFAULT_PROTOCOL,
    target: str | None = None,
    provider: FlowProvider | None = None,
    cache: FlowCache | None = None,
    tof: bool = True,
    max_frames: int | None = None,
    fps: float | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score output videos against their reference, streaming (see the module docstring).

    Args:
        outputs: video files or frame folders, all made from ``reference``.
        reference: the input video (file or frame folder) whose flows are used.
        protocol: a name of :data:`PROTOCOLS`.
        target: ground-truth video (masks for ``davis``), optional otherwise (tOF against it).
        provider: a :mod:`v2v.flow` provider; default :data:`~v2v.flow.DEFAULT_FLOW_PROVIDER` with its
            default settings.
        cache: optional :class:`v2v.flow.FlowCache`.
        tof: compute tOF (flows of every output; the slowest part besides the reference's flows).
        max_frames: score only the first frames.
        fps: unused by the measures; accepted for frame folders' readers.
        progress: show a progress bar on stderr.

    Returns:
        ``{"protocol": {...}, "videos": [{"path", "frames", "warping_error", "warping_error_l1",
        "tOF", "flicker", ["J", "J_recall", "J_decay", "F", "F_recall", "F_decay", "T"],
        "per_frame": {name: [...]}}, ...]}`` in the order of ``outputs``. Pair measures have one
        value per frame pair (entry k is the pair (k, k+1)); J and F one per frame.

    Raises:
        FileNotFoundError: a missing video.
        ValueError: an unreadable video, videos of different sizes or lengths (naming both), a
            mask protocol on colour video, bad options.
    """
    if protocol not in PROTOCOLS:
        raise BadInput(f"--protocol must be one of {tuple(PROTOCOLS)}, got {protocol!r}")
    spec = PROTOCOLS[protocol]
    if not outputs:
        raise BadInput("give at least one OUTPUT video to score")
    if spec.masks and target is None:
        raise BadInput(f"--protocol {protocol} needs --target (the ground-truth masks)")
    if max_frames is not None and max_frames < 2:
        raise BadInput(f"--max-frames must be at least 2 (one frame pair), got {max_frames}")
    provider = provider if provider is not None else make_flow_provider(DEFAULT_FLOW_PROVIDER)

    def open_reader(path: str, label: str):
        if not Path(path).exists():
            raise FileNotFoundError(f"{label} {path} does not exist (expected a video file or a folder of frames)")
        return open_video_reader(path, fps=fps if Path(path).is_dir() else None)

    reference_reader = open_reader(reference, "--reference")
    paths = [str(path) for path in outputs]
    readers = [open_reader(path, "OUTPUT") for path in paths]
    labels = ["OUTPUT"] * len(paths)
    if target is not None:
        readers.append(open_reader(target, "--target"))
        paths.append(str(target))
        labels.append("--target")
    for reader, path, label in zip(readers, paths, labels):
        check_video_pair(reader, path, label, reference_reader, reference, max_frames)

    scorer = StreamScorer(spec, provider, cache, num_outputs=len(outputs), tof=tof)
    total = reference_reader.num_frames
    if total is not None and max_frames is not None:
        total = min(total, max_frames)
    bar = tqdm(total=total, unit="frame", desc=f"score ({protocol})", disable=not progress, file=sys.stderr)
    try:
        for frames in lockstep([reference_reader, *readers], [str(reference), *paths], ["--reference", *labels], max_frames):
            index = scorer.frames
            reference_frame, rest = frames[0], frames[1:]
            output_frames = list(rest[: len(outputs)])
            target_frame = rest[len(outputs)] if target is not None else None
            if spec.masks:
                output_frames = [_to_mask(frame, "OUTPUT " + path, index) for frame, path in zip(output_frames, outputs)]
                target_frame = _to_mask(target_frame, f"--target {target}", index)
            scorer.update(output_frames, reference_frame, target_frame)
            bar.update(1)
    finally:
        bar.close()
    if scorer.frames < 2:
        raise BadInput(f"--reference {reference} has {scorer.frames} frame(s): scoring needs at least one frame pair")
    return scorer.report(outputs, reference, target)


# --------------------------------------------------------------------------------------------------
# A stream report, shown.

_SUMMARY_KEYS = ("warping_error", "warping_error_l1", "tOF", "flicker", "psnr", "psnr_input", "J", "J_recall", "J_decay",
                 "F", "F_recall", "F_decay", "T")
_PER_FRAME_KEYS = ("J", "F", "psnr", "psnr_input")  # one value per frame; the others one per pair


def _number(value: Any) -> str:
    if value is None or isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def format_report(report: dict[str, Any]) -> str:
    """The protocol block and one row per video, as ``python -m v2v.score`` prints them."""
    protocol = report["protocol"]
    flow = protocol["flow"]
    settings = ", ".join(f"{key}={value}" for key, value in flow["settings"].items())
    versions = ", ".join(f"{key} {value}" for key, value in flow["versions"].items())
    lines = [
        f"protocol {protocol['name']}: {protocol['title']}",
        f"  flows:   {flow['provider']} ({settings or 'defaults'}{'; ' + versions if versions else ''}), computed on {flow['computed_on']}",
        f"  warp:    {protocol['warp']}",
        f"  mask:    {protocol['mask']}",
        f"  norm:    {protocol['norm']}",
        f"  pairs:   {protocol['pairs']}",
        f"  range:   {protocol['value_range']}; scale {protocol['scale']}",
        f"  tOF:     {protocol['tOF']}",
        f"  flicker: {protocol['flicker']}",
        "",
    ]
    keys = [key for key in _SUMMARY_KEYS if any(key in video for video in report["videos"])]
    rows = [[video["path"], str(video["frames"]), *(_number(video.get(key)) for key in keys)] for video in report["videos"]]
    lines += text_table(["video", "frames", *keys], rows)
    lines.append("lower is better, except J, F and psnr")
    return "\n".join(lines)


def format_csv(report: dict[str, Any]) -> str:
    """Per-frame values, one row per video and frame t: pair measures of the pair (t-1, t) on row t (empty on row 0)."""
    keys = [key for key in _SUMMARY_KEYS if any(key in video["per_frame"] for video in report["videos"])]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["video", "frame", *keys])
    for video in report["videos"]:
        per_frame = video["per_frame"]
        for frame in range(video["frames"]):
            cells = []
            for key in keys:
                values = per_frame.get(key, [])
                index = frame if key in _PER_FRAME_KEYS else frame - 1
                value = values[index] if 0 <= index < len(values) else None
                cells.append("" if value is None or isinstance(value, float) and math.isnan(value) else repr(float(value)))
            writer.writerow([video["path"], frame, *cells])
    return buffer.getvalue()
