"""Per-sequence aggregates of per-frame scores: mean, recall and decay (DAVIS ``db_statistics``).

For the per-frame values ``v`` of one sequence (J or F):

- mean: ``nanmean(v)``;
- recall: the fraction of frames with ``v > 0.5``; a NaN frame counts as a miss, as in the
  official code (which compares before averaging);
- decay: the mean of the first quarter minus the mean of the last quarter. The quarters are
  delimited by ``round(linspace(1, N, 5))`` (1-based, halves rounded up) and include both ends,
  so neighbouring quarters share their boundary frame; NaNs are skipped.

The official code stores the quarter boundaries as ``uint8``, which wraps for sequences longer
than 256 frames; this implementation does not wrap (identical results up to 256 frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import to_numpy

__all__ = ["SequenceStatistics", "sequence_statistics", "nanmean", "mean", "recall", "decay"]

#: number of temporal bins of the decay statistic
DECAY_BINS = 4
#: per-frame score above which a frame counts as recalled
RECALL_THRESHOLD = 0.5


@dataclass(frozen=True)
class SequenceStatistics:
    """Mean, recall and decay of one sequence's per-frame scores."""

    mean: float
    recall: float
    decay: float


def _values(per_frame: Any) -> np.ndarray:
    values = to_numpy(per_frame, "per_frame").astype(np.float64)
    if values.ndim != 1:
        raise ValueError(f"per_frame must be a 1-D sequence of per-frame scores, got shape {values.shape}")
    if values.size == 0:
        raise ValueError("per_frame is empty: a sequence needs at least one scored frame")
    return values


def nanmean(values: Any) -> float:
    """The mean of ``values`` skipping NaN, NaN when nothing is left: the one NaN-skipping mean of
    the package (a data set's mean over videos, a video's T over pairs, a sequence's J and F)."""
    array = np.asarray(values, dtype=np.float64).ravel()
    finite = array[~np.isnan(array)]
    return float(finite.mean()) if finite.size else math.nan


def mean(per_frame: Any) -> float:
    """NaN-skipping mean of per-frame scores ``[N]`` (NaN when every frame is NaN)."""
    return nanmean(_values(per_frame))


def recall(per_frame: Any, threshold: float = RECALL_THRESHOLD) -> float:
    """Fraction of frames scoring strictly above ``threshold``; NaN frames count as misses."""
    values = _values(per_frame)
    with np.errstate(invalid="ignore"):
        return float(np.mean(values > threshold))


def decay(per_frame: Any, bins: int = DECAY_BINS) -> float:
    """Mean of the first temporal bin minus the mean of the last (bins share their boundary frames)."""
    values = _values(per_frame)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    # 1-based bin edges rounded half up (the + 1e-10 turns NumPy's half-to-even into half-up).
    edges = (np.round(np.linspace(1, len(values), bins + 1) + 1e-10) - 1).astype(np.int64)
    first = values[edges[0] : edges[1] + 1]
    last = values[edges[bins - 1] : edges[bins] + 1]
    return nanmean(first) - nanmean(last)


def sequence_statistics(per_frame: Any) -> SequenceStatistics:
    """Mean, recall and decay of one sequence's per-frame scores (DAVIS ``db_statistics``).

    Args:
        per_frame: per-frame J or F values ``[N]``, N >= 1 (NaN allowed).

    Returns:
        A :class:`SequenceStatistics`.
    """
    return SequenceStatistics(mean(per_frame), recall(per_frame), decay(per_frame))
