"""Flows of a long video pair by pair, holding two frames at a time (constant memory).

Used to translate or evaluate videos too long to hold with all their flows: iterate a video reader
(:func:`v2v.data.video_io.open_video_reader`) and get the forward and backward flow of each
consecutive pair as it streams by.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from .cache import FlowCache
from .providers import ExactFlowProvider, FlowProvider

__all__ = ["iter_pair_flows"]


def _as_chw(frame, index: int) -> torch.Tensor:
    if isinstance(frame, np.ndarray):
        array = frame[:, :, None] if frame.ndim == 2 else frame
        if array.ndim != 3 or array.shape[2] not in (1, 3):
            raise ValueError(f"frame {index}: a numpy frame must be [H, W, 3] or [H, W], got {frame.shape}")
        return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
    if isinstance(frame, torch.Tensor):
        if frame.dim() != 3 or frame.shape[0] not in (1, 3):
            raise ValueError(f"frame {index}: a torch frame must be [C, H, W] with C in (1, 3), got {tuple(frame.shape)}")
        return frame
    raise TypeError(f"frame {index}: expected a numpy array or torch tensor, got {type(frame).__name__}")


def iter_pair_flows(
    frames: Iterable,
    provider: FlowProvider,
    cache: FlowCache | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(flow_fwd, flow_bwd)`` for every consecutive frame pair of a stream.

    Args:
        frames: an iterable of frames, numpy ``[H, W, 3]`` / ``[H, W]`` (uint8, or float in
            [0, 1]) or torch ``[C, H, W]``; all of one size and dtype.
        provider: any provider except ``exact``.
        cache: optional flow cache (one entry per pair).

    Yields:
        For pair ``k`` (frames ``k`` and ``k+1``): ``flow_fwd`` ``[2, H, W]`` defined on frame ``k``
        and ``flow_bwd`` ``[2, H, W]`` defined on frame ``k+1`` (docs/conventions.md), float32.
    """
    if isinstance(provider, ExactFlowProvider):
        raise ValueError("the 'exact' provider cannot estimate flows of a video stream; use 'dis', 'tvl1' or 'raft'")
    previous = None
    for index, frame in enumerate(frames):
        current = _as_chw(frame, index)
        if previous is not None:
            if current.shape != previous.shape or current.dtype != previous.dtype:
                raise ValueError(
                    f"frame {index} is {tuple(current.shape)} {current.dtype}, frame {index - 1} is "
                    f"{tuple(previous.shape)} {previous.dtype}: a stream must keep one size and dtype"
                )
            pair = torch.stack([previous, current])
            flow_fwd, flow_bwd = cache.get_or_compute(pair, provider) if cache else provider.compute(pair)
            yield flow_fwd[0], flow_bwd[0]
        previous = current
