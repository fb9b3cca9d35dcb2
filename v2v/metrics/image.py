"""PSNR and SSIM of translated frames against their targets, per frame, per video and per data set."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from skimage.metrics import structural_similarity

from ._arrays import same_shape, to_numpy

__all__ = ["psnr", "psnr_per_frame", "pooled_psnr", "ssim_per_frame", "UNIT_RANGE_TOLERANCE"]

#: values may stray this far outside [0, data_range] (rounding of resized or converted frames)
UNIT_RANGE_TOLERANCE = 1e-3


def _frames(value: Any, name: str, data_range: float) -> np.ndarray:
    array = to_numpy(value, name)
    if array.ndim not in (3, 4):
        raise ValueError(f"{name} must be a frame [C, H, W] or a video [T, C, H, W], got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    slack = UNIT_RANGE_TOLERANCE * data_range
    if low < -slack or high > data_range + slack:
        raise ValueError(
            f"{name} must hold values in [0, {data_range:g}], got [{low:.4f}, {high:.4f}]; "
            "model outputs in [-1, 1] convert with (x + 1) / 2"
        )
    return array


def psnr_per_frame(prediction: Any, target: Any, data_range: float = 1.0, crop_border: int = 0) -> np.ndarray:
    """PSNR of every frame: ``10 log10(data_range^2 / MSE)`` with the MSE over channels and pixels.

    Args:
        prediction: ``[C, H, W]`` or ``[T, C, H, W]`` array or tensor with values in ``[0, data_range]``.
        target: same shape and range.
        data_range: the peak value (1 for frames in [0, 1]).
        crop_border: pixels removed from each side before comparing (the super-resolution
            convention of ignoring the frame border, where the bicubic input has no support).

    Returns:
        float64 ``[T]`` (``[1]`` for a single frame); ``inf`` for a frame identical to its target.
    """
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    if crop_border < 0 or int(crop_border) != crop_border:
        raise ValueError(f"crop_border must be a non-negative integer, got {crop_border}")
    pred = _frames(prediction, "prediction", data_range)
    tgt = _frames(target, "target", data_range)
    same_shape(pred, tgt, "prediction", "target")
    if pred.ndim == 3:
        pred, tgt = pred[None], tgt[None]
    if crop_border:
        height, width = pred.shape[-2:]
        if 2 * crop_border >= min(height, width):
            raise ValueError(f"crop_border={crop_border} leaves nothing of a {height}x{width} frame")
        pred = pred[..., crop_border:-crop_border, crop_border:-crop_border]
        tgt = tgt[..., crop_border:-crop_border, crop_border:-crop_border]
    mse = np.mean((pred - tgt) ** 2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse)


def psnr(prediction: Any, target: Any, data_range: float = 1.0, crop_border: int = 0) -> float:
    """PSNR of a frame, or of a video as the mean of its per-frame PSNRs (in dB; higher is better).

    A data set's PSNR is the mean of its videos' PSNRs (``v2v.evaluate`` reports both).

    Args:
        prediction: ``[C, H, W]`` or ``[T, C, H, W]`` with values in ``[0, data_range]`` (RGB in [0, 1]).
        target: same shape and range.
        data_range: the peak value.
        crop_border: pixels removed from each side first (see :func:`psnr_per_frame`).

    Returns:
        The mean of the per-frame PSNRs; ``inf`` when every frame equals its target (a single
        identical frame makes the mean ``inf`` too: compare :func:`psnr_per_frame` to find it).
    """
    return float(np.mean(psnr_per_frame(prediction, target, data_range, crop_border)))


def pooled_psnr(per_frame_psnr: Any, data_range: float = 1.0) -> float:
    """PSNR of a video's pooled MSE, from its frames' PSNRs: ``10 log10(data_range^2 / mean_t MSE_t)``.

    Where some frames equal their targets, this stays finite (those frames count as MSE 0) while
    the mean of per-frame PSNRs (:func:`psnr`, the project's accuracy convention) is infinite: a
    stabiliser returns a shot's first frame as it was processed, and its fidelity to the processed
    video is this value.

    Args:
        per_frame_psnr: the frames' PSNRs in dB (:func:`psnr_per_frame`), ``inf`` for identical frames.
        data_range: the peak value they were computed with.

    Returns:
        dB; ``inf`` when every frame is identical to its target.
    """
    values = np.asarray(per_frame_psnr, dtype=np.float64).ravel()
    if values.size == 0 or np.isnan(values).any():
        raise ValueError(f"pooled_psnr needs at least one frame's PSNR and no NaN, got {values.tolist()}")
    mse = float(np.mean(data_range**2 * np.power(10.0, -values / 10.0)))
    with np.errstate(divide="ignore"):
        return float(10.0 * np.log10(data_range**2 / mse)) if mse > 0 else math.inf


def ssim_per_frame(prediction: Any, target: Any, data_range: float = 1.0, crop_border: int = 0) -> np.ndarray:
    """SSIM of every frame (Wang et al. 2004, scikit-image's ``structural_similarity``: 7x7 uniform
    window, K1 0.01, K2 0.03), the mean over the colour channels.

    Args:
        prediction: ``[C, H, W]`` or ``[T, C, H, W]`` with values in ``[0, data_range]``; frames of
            at least 7x7 pixels.
        target: same shape and range.
        data_range: the peak value.
        crop_border: pixels removed from each side first.

    Returns:
        float64 ``[T]`` (``[1]`` for a single frame), 1 for a frame identical to its target.
    """
    if crop_border < 0 or int(crop_border) != crop_border:
        raise ValueError(f"crop_border must be a non-negative integer, got {crop_border}")
    pred = _frames(prediction, "prediction", data_range)
    tgt = _frames(target, "target", data_range)
    same_shape(pred, tgt, "prediction", "target")
    if pred.ndim == 3:
        pred, tgt = pred[None], tgt[None]
    if crop_border:
        pred = pred[..., crop_border:-crop_border, crop_border:-crop_border]
        tgt = tgt[..., crop_border:-crop_border, crop_border:-crop_border]
    if min(pred.shape[-2:]) < 7:
        raise ValueError(f"SSIM needs frames of at least 7x7 pixels, got {pred.shape[-2]}x{pred.shape[-1]}")
    return np.array([structural_similarity(p, t, data_range=data_range, channel_axis=0) for p, t in zip(pred, tgt)])
