"""Running a trained generator on videos and scoring the results: the one path for validation
(``v2v.train.validation``), ``v2v.evaluate``, ``v2v.translate`` and the scorer.

- :func:`resolve_device`: a ``--device`` / ``train.device`` option as a ``torch.device``.
- :class:`StreamingTranslator` and :func:`stream_translate`: a video translated one frame at a time
  with the generator's ``step`` (paper section 3.2.1, the recurrent state of frame t-1 feeding frame
  t), a new shot (scene cut) starting from an empty state; memory does not grow with the length.
- :func:`translate_video`: the same for a whole video tensor.
- :func:`score_video`: every metric of one translated video, the same keys in every report
  (``metrics.json`` of a run, ``eval.json`` of an evaluation); :func:`mean_scores`: their
  NaN-skipping means over videos.

Conventions (ranges, flow layout, metric definitions): ``docs/conventions.md`` and ``docs/metrics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
import torch

from v2v import metrics
from v2v.data.tasks import DEFAULT_SCORING_OPTIONS, ScoringOptions, Task, get_task, to_unit_range
from v2v.flow import DEFAULT_FLOW_PROVIDER, FlowConfig

__all__ = [
    "DEFAULT_TOF_FLOW",
    "ScoringOptions",
    "make_tof_flow",
    "resolve_device",
    "StreamingTranslator",
    "stream_translate",
    "translate_video",
    "score_video",
    "mean_scores",
    "nanmean",
]


DEFAULT_TOF_FLOW = DEFAULT_FLOW_PROVIDER
"""Flow estimator of tOF unless told otherwise (a ``v2v.flow`` provider name)."""


def make_tof_flow(name: str, raft_weights: str | None = None) -> Any:
    """The flow provider of tOF named ``name`` with its default settings, or None for ``"none"``.

    Args:
        name: ``"none"`` or an estimating ``v2v.flow`` provider name (``dis``, ``tvl1``, ``raft``).
        raft_weights: the local RAFT weights file, required by ``raft`` (nothing is downloaded).

    Raises:
        ValueError: an unknown name, ``exact`` (outputs have no exact flow), or weights given for
            another provider.
        FileNotFoundError: ``raft`` without a weights file, or a weights file that does not exist.
    """
    if name == "none":
        return None
    if raft_weights is not None and name != "raft":
        raise ValueError(f"a RAFT weights file was given but the tOF flow is {name!r}, not 'raft'")
    if name == "exact":
        raise ValueError("tOF needs a flow estimator ('dis', 'tvl1' or 'raft'): translated outputs have no exact flow")
    if name == "raft" and raft_weights is None:
        raise FileNotFoundError("tOF flow 'raft' needs a local RAFT weights file (--tof-raft-weights FILE); nothing is downloaded")
    return FlowConfig(provider=name, cache_dir=None, raft_weights=raft_weights).build_provider(has_exact_flow=False)


def resolve_device(option: str, local_rank: int = 0) -> torch.device:
    """The device named by a device option.

    Args:
        option: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        local_rank: the GPU that ``"auto"`` and ``"cuda"`` mean (a distributed process's local rank).

    Raises:
        ValueError: an unknown option, or a CUDA device that this process cannot see.
    """
    if not isinstance(option, str) or not (option in ("auto", "cpu", "cuda") or option.startswith("cuda:")):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {option!r}")
    if option == "auto":
        option = "cuda" if torch.cuda.is_available() else "cpu"
    if option == "cpu":
        return torch.device("cpu")
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    try:
        device = torch.device(f"cuda:{local_rank}") if option == "cuda" else torch.device(option)
    except RuntimeError:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {option!r}") from None
    if device.index is None or device.index >= visible:
        raise ValueError(f"device {device} requested, but this process sees {visible} CUDA device(s) (use 'cpu')")
    return device


class StreamingTranslator:
    """A generator run frame by frame, holding the recurrent state between calls.

    Args:
        generator: a generator with ``step(frame [1, Cin, H, W], state) -> (output, state)``.
        device: where the generator runs.
        autocast: dtype for ``torch.autocast`` around the generator (e.g. ``torch.bfloat16``), or None.
    """

    def __init__(self, generator: torch.nn.Module, device: torch.device, autocast: torch.dtype | None = None) -> None:
        self.generator = generator
        self.device = device
        self.autocast = autocast
        self._state: Any = None

    @torch.no_grad()
    def step(self, frame: torch.Tensor, new_shot: bool = False) -> torch.Tensor:
        """Translate the next frame.

        Args:
            frame: model input ``[Cin, H, W]`` in [-1, 1].
            new_shot: the frame starts a new shot: the state of the previous frame is dropped.

        Returns:
            The output ``[Cout, H, W]``, float32 on the CPU, in [-1, 1].
        """
        if new_shot:
            self._state = None
        with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            output, self._state = self.generator.step(frame.unsqueeze(0).to(self.device), self._state)
        return output.squeeze(0).float().cpu()


def stream_translate(
    generator: torch.nn.Module,
    inputs: Iterable[torch.Tensor],
    device: torch.device,
    resets: Iterable[bool] | None = None,
    autocast: torch.dtype | None = None,
) -> Iterator[torch.Tensor]:
    """Translate model inputs one frame at a time, carrying the recurrent state.

    Args:
        generator: see :class:`StreamingTranslator`.
        inputs: ``[Cin, H, W]`` tensors in [-1, 1].
        device: where the generator runs.
        resets: optional booleans, one per frame: True starts a new shot (state reset).
        autocast: see :class:`StreamingTranslator`.

    Yields:
        ``[Cout, H, W]`` float32 CPU outputs in [-1, 1].
    """
    translator = StreamingTranslator(generator, device, autocast)
    if resets is None:
        for frame in inputs:
            yield translator.step(frame)
    else:
        for frame, new_shot in zip(inputs, resets):
            yield translator.step(frame, new_shot)


def translate_video(generator: torch.nn.Module, video: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Stream a whole video ``[T, Cin, H, W]`` through ``generator.step``; returns ``[T, Cout, H, W]`` on the CPU."""
    return torch.stack(list(stream_translate(generator, video, device)))


def score_video(
    task: str | Task,
    output: torch.Tensor,
    target: torch.Tensor,
    input_video: torch.Tensor,
    flow_fwd: torch.Tensor,
    flow_bwd: torch.Tensor,
    *,
    options: ScoringOptions = DEFAULT_SCORING_OPTIONS,
    tof_flow: Any = None,
    executor: Executor | None = None,
) -> dict[str, float]:
    """Every metric of one translated video.

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
    output = output.clamp(-1.0, 1.0)
    scores = spec.score(output, target, input_video, options, executor)
    scores["l1"] = float((output - target).abs().mean())
    two_frames = output.shape[0] >= 2
    # The warping error sees the continuous output (a mask task's too), tOF what a viewer sees.
    for key, video in (("warping_error", output), ("warping_error_target", target)):
        unit = to_unit_range(video).clamp(0, 1)
        scores[key] = float(metrics.warping_error(unit, flow_fwd, flow_bwd)) if two_frames else math.nan
    if tof_flow is not None:
        scores["tOF"] = float(metrics.tof(spec.display(output), spec.display(target), flow=tof_flow)) if two_frames else math.nan
    return {key: scores[key] for key in spec.metrics if key in scores}


def nanmean(values: Sequence[float]) -> float:
    """Mean of ``values`` skipping NaN; NaN when nothing is left."""
    array = np.asarray(values, dtype=np.float64)
    finite = array[~np.isnan(array)]
    return float(finite.mean()) if finite.size else math.nan


def mean_scores(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, float]:
    """NaN-skipping mean of each of ``keys`` over the rows that have it (a key no row has is left out).

    Args:
        rows: per-video scores.
        keys: the metric keys to average, in the order of the result.
    """
    return {key: nanmean([row[key] for row in rows if key in row]) for key in keys if any(key in row for row in rows)}

