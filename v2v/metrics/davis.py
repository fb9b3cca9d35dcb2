"""DAVIS measures of a mask video fed one frame at a time: J and F per frame, T per pair.

:class:`MaskScorer` is the one implementation of a video's J, F and T: ``v2v.evaluate`` and
training validation feed it a clip's frames, ``python -m v2v.score --protocol davis`` a stream of
any length. Its values are those of the whole-video functions (:func:`region_similarity`,
:func:`contour_accuracy`, :func:`sequence_statistics`, :func:`temporal_stability`): each frame's J
and F and each pair's T are computed by the same code, the masks being described once each.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor, Future

import numpy as np

from .segmentation import contour_accuracy, region_similarity
from .stability import PAIRS_PER_TASK, VIDEO_SCALE, _consecutive_costs, _pair_cost, describe_mask
from .statistics import nanmean, sequence_statistics

__all__ = ["MaskScorer"]


class MaskScorer:
    """J, F (mean, recall, decay) and T of a video of predicted masks against the ground truth.

    Args:
        t_protocol: ``"consecutive"`` (T over every consecutive pair of predictions) or ``"davis"``
            (the first pair against the ground truth of frame 0, the last frame unused; NaN below
            three frames).
        exact_ties: break T's alignment ties exactly as the official code (slow).
        executor: optional pool: T's pairs are then computed there, in runs of
            :data:`~v2v.metrics.stability.PAIRS_PER_TASK` (the same values).

    Convention:
        T of the video is ``5 x`` the NaN-skipping mean of its pairs (davis-matlab's scale).
    """

    def __init__(self, t_protocol: str = "consecutive", exact_ties: bool = False, executor: Executor | None = None) -> None:
        if t_protocol not in ("consecutive", "davis"):
            raise ValueError(f"t_protocol must be 'consecutive' or 'davis', got {t_protocol!r}")
        self.t_protocol = t_protocol
        self.exact_ties = exact_ties
        self.executor = executor
        self.per_frame: dict[str, list[float]] = {"J": [], "F": []}
        # T's sequence of masks: the predictions (under the DAVIS protocol the ground truth of frame
        # 0 first, then the predictions from frame 1). Each waits one frame as ``_pending``, since
        # the DAVIS protocol leaves the last prediction out.
        self._pending: np.ndarray | None = None
        self._costs: list[float] = []  # serial: the costs of the pairs added so far
        self._previous = None  # serial: the description of the sequence's last mask
        self._length = 0  # masks in the sequence
        self._chunk: list[np.ndarray] = []  # with an executor: masks not yet handed to it
        self._futures: list[Future] = []

    def update(self, mask: np.ndarray, target: np.ndarray) -> dict[str, float]:
        """Add the next predicted mask and its target, bool ``[H, W]``.

        Returns:
            ``{"J": ..., "F": ...}`` of the frame.
        """
        values = {"J": float(region_similarity(mask, target)), "F": float(contour_accuracy(mask, target))}
        first = not self.per_frame["J"]
        self.per_frame["J"].append(values["J"])
        self.per_frame["F"].append(values["F"])
        if first and self.t_protocol == "davis":
            self._add(target)  # the ground truth of frame 0 stands for its prediction
            return values
        if self._pending is not None:
            self._add(self._pending)
        self._pending = mask
        return values

    def _add(self, mask: np.ndarray) -> None:
        """Append ``mask`` to T's sequence."""
        self._length += 1
        if self.executor is None:
            descriptor = describe_mask(mask)
            if self._length > 1:
                self._costs.append(_pair_cost(self._previous, descriptor, self.exact_ties))
            self._previous = descriptor
            return
        self._chunk.append(mask)
        if len(self._chunk) == PAIRS_PER_TASK + 1:
            self._futures.append(self.executor.submit(_consecutive_costs, self._chunk, self.exact_ties))
            self._chunk = [self._chunk[-1]]  # described again by the next run, as temporal_stability_pairs does

    def pair_costs(self) -> list[float]:
        """T's unscaled cost of every pair of its sequence so far, the pending prediction included where the
        protocol uses it (nothing is added to the sequence: more frames may follow)."""
        last = self._pending if self.t_protocol == "consecutive" else None
        if self.executor is None:
            costs = list(self._costs)
            if last is not None and self._length >= 1:
                costs.append(_pair_cost(self._previous, describe_mask(last), self.exact_ties))
            return costs
        costs = [cost for future in self._futures for cost in future.result().tolist()]
        tail = self._chunk + ([last] if last is not None else [])
        if len(tail) >= 2:
            costs += _consecutive_costs(tail, self.exact_ties).tolist()
        return costs

    def summary(self) -> dict[str, float]:
        """``J``, ``J_recall``, ``J_decay``, ``F``, ``F_recall``, ``F_decay`` and ``T`` of the video so
        far (NaN where undefined: T without a pair whose masks both have a contour)."""
        result: dict[str, float] = {}
        for key in ("J", "F"):
            if self.per_frame[key]:
                stats = sequence_statistics(np.asarray(self.per_frame[key]))
                result.update({key: stats.mean, f"{key}_recall": stats.recall, f"{key}_decay": stats.decay})
            else:
                result.update({key: math.nan, f"{key}_recall": math.nan, f"{key}_decay": math.nan})
        if self.t_protocol == "davis" and len(self.per_frame["J"]) < 3:
            result["T"] = math.nan  # the protocol needs frame 0's truth and predictions 1 .. T-2
        else:
            result["T"] = VIDEO_SCALE * nanmean(self.pair_costs())
        return result
