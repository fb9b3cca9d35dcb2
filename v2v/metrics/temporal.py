"""Temporal consistency of any output video: warping error (Lai et al. 2018) and tOF (TecoGAN).

Warping error
    For every pair (t-1, t), the previous output frame is warped to frame t with the backward flow
    of the INPUT video (``v2vcore.warp``, bilinear, pixel units), and the squared difference is
    averaged over the reliable pixels of the consistency mask used by the training loss
    (``v2vcore.consistency_mask``: inside the frame, not occluded, not on a motion boundary) and
    over the channels::

        E_t = sum_p c_t(p) * |O_t(p) - warp(O_{t-1}, b_t)(p)|^2 / (C * sum_p c_t(p))

    as Lai et al.'s ``evaluate_WarpError.py`` does (its 3-channel non-occlusion mask divides by
    3 x the number of reliable pixels). A pair without any reliable pixel contributes 0, as there.
    The video's error is the mean over its pairs, for frames in [0, 1]; lower is better.

tOF
    TecoGAN's temporal optical-flow error: for every pair, the flow between consecutive output
    frames and the flow between the corresponding target frames are estimated with the same
    estimator, and the per-pixel Euclidean norm of their difference is averaged over the frame;
    the video's tOF is the mean over pairs, in pixels (TecoGAN uses Farneback flow and crops the
    border to a centred multiple of 32 pixels; here the estimator is a parameter, OpenCV DIS by
    default, and ``crop_border`` crops a fixed margin). Lower is better.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from v2v.flow import DEFAULT_FLOW_PROVIDER, make_flow_provider

from .consistency import flow_difference, pair_warping_errors

__all__ = ["warping_error", "warping_error_per_pair", "tof", "tof_per_pair"]


def _video_tensor(value: Any, name: str) -> torch.Tensor:
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if tensor.dim() != 4:
        raise ValueError(f"{name} must be a video [T, C, H, W], got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be floating point in [0, 1], got dtype {tensor.dtype}")
    if tensor.shape[0] == 0:
        raise ValueError(f"{name} has no frames")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return tensor.detach()


def _flow_tensor(value: Any, name: str, expected: tuple[int, ...]) -> torch.Tensor:
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if tuple(tensor.shape) != expected:
        raise ValueError(f"{name} must have shape {expected} ([T-1, 2, H, W] for the video), got {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be floating point (pixels), got dtype {tensor.dtype}")
    return tensor.detach()


def warping_error_per_pair(video: Any, flow_fwd: Any, flow_bwd: Any) -> np.ndarray:
    """Masked mean squared warping residual of every consecutive pair (see the module docstring).

    Args:
        video: output video ``[T, C, H, W]`` in [0, 1] (torch tensor or array).
        flow_fwd: forward flows of the input video ``[T-1, 2, H, W]``, entry k maps frame k to k+1.
        flow_bwd: backward flows ``[T-1, 2, H, W]``, entry k maps frame k+1 to frame k.

    Returns:
        float64 ``[T-1]``; empty for a one-frame video.
    """
    frames = _video_tensor(video, "video")
    count, _, height, width = frames.shape
    expected = (count - 1, 2, height, width)
    fwd = _flow_tensor(flow_fwd, "flow_fwd", expected)
    bwd = _flow_tensor(flow_bwd, "flow_bwd", expected)
    if count < 2:
        return np.zeros(0, dtype=np.float64)
    # One implementation of the arithmetic for evaluate, the scorer and translate --score.
    return pair_warping_errors(frames[:-1], frames[1:], fwd, bwd, "v2v").mse


def warping_error(video: Any, flow_fwd: Any, flow_bwd: Any) -> float:
    """Warping error of Lai et al. 2018 of an output video, from the input video's flows.

    Args:
        video: output video ``[T, C, H, W]`` in [0, 1].
        flow_fwd: forward flows of the INPUT video ``[T-1, 2, H, W]`` (frame k to k+1).
        flow_bwd: backward flows ``[T-1, 2, H, W]`` (frame k+1 to k).

    Returns:
        Mean over the frame pairs; NaN for a one-frame video (no pair).
    """
    errors = warping_error_per_pair(video, flow_fwd, flow_bwd)
    return float(errors.mean()) if errors.size else float("nan")


def _forward_flows(estimator: Any, frames: torch.Tensor, name: str) -> torch.Tensor:
    compute = getattr(estimator, "compute", estimator)
    if not callable(compute):
        raise TypeError(f"flow must be a flow provider (with .compute) or a callable, got {type(estimator).__name__}")
    result = compute(frames)
    forward = result[0] if isinstance(result, (tuple, list)) else result
    forward = torch.as_tensor(forward).detach().to(torch.float64)
    expected = (frames.shape[0] - 1, 2, frames.shape[2], frames.shape[3])
    if tuple(forward.shape) != expected:
        raise ValueError(f"the flow estimator returned {tuple(forward.shape)} for the {name}, expected {expected}")
    return forward


def tof_per_pair(output: Any, target: Any, flow: Any = None, crop_border: int = 0) -> np.ndarray:
    """tOF of every consecutive pair: mean per-pixel norm of the difference of the two flows.

    Args:
        output: output video ``[T, C, H, W]`` in [0, 1].
        target: target video of the same shape.
        flow: the flow estimator, applied to both videos: a provider from :mod:`v2v.flow`
            (anything with ``compute(frames) -> (flow_fwd, flow_bwd)``) or a callable with the same
            contract (returning the forward flows alone is accepted too). Default: the default
            provider (``v2v.flow.DEFAULT_FLOW_PROVIDER``, OpenCV DIS).
        crop_border: pixels removed from each side before averaging.

    Returns:
        float64 ``[T-1]`` in pixels; empty for a one-frame video.
    """
    out = _video_tensor(output, "output").float()
    tgt = _video_tensor(target, "target").float()
    if out.shape != tgt.shape:
        raise ValueError(f"output and target must have the same shape, got {tuple(out.shape)} and {tuple(tgt.shape)}")
    if crop_border < 0 or int(crop_border) != crop_border:
        raise ValueError(f"crop_border must be a non-negative integer, got {crop_border}")
    height, width = out.shape[-2:]
    if 2 * crop_border >= min(height, width):
        raise ValueError(f"crop_border={crop_border} leaves nothing of a {height}x{width} frame")
    if out.shape[0] < 2:
        return np.zeros(0, dtype=np.float64)
    if flow is None:
        flow = make_flow_provider(DEFAULT_FLOW_PROVIDER)
    out_flow = _forward_flows(flow, out, "output")
    tgt_flow = _forward_flows(flow, tgt, "target")
    return flow_difference(out_flow, tgt_flow, crop_border)


def tof(output: Any, target: Any, flow: Any = None, crop_border: int = 0) -> float:
    """tOF (TecoGAN) of an output video against its target: mean over pairs of :func:`tof_per_pair`.

    Returns:
        The mean in pixels; NaN for a one-frame video (no pair).
    """
    values = tof_per_pair(output, target, flow, crop_border)
    return float(values.mean()) if values.size else float("nan")
