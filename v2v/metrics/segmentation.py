"""Region similarity J and contour accuracy F, as the DAVIS 2017 evaluation computes them.

Both follow ``davis2017/metrics.py`` of the official evaluation (davisvideochallenge/davis2017-evaluation):

- ``J`` is the intersection over union of the predicted and the ground-truth masks, restricted to
  pixels that are not void. Two empty masks (an empty union) score 1.
- ``F`` is the F-measure of boundary precision and recall. Boundaries are one pixel wide maps in
  which a pixel is on the boundary when it differs from its right, lower or lower-right neighbour
  (the ``seg2bmap`` of the Berkeley segmentation benchmark). A boundary pixel is matched when the
  other boundary lies within a disk of radius ``ceil(0.008 * image diagonal)`` pixels. An empty
  prediction against a non-empty target has precision 1 and recall 0 (F = 0); both empty give F = 1.

Void pixels (``void``) are removed from J's counts and zeroed in both masks before their
boundaries are extracted, as the official code does.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from ._arrays import as_masks, same_shape

__all__ = ["region_similarity", "contour_accuracy", "boundary_map", "boundary_tolerance", "BOUNDARY_THRESHOLD"]

#: DAVIS boundary tolerance: a fraction of the image diagonal (values >= 1 are taken as pixels).
BOUNDARY_THRESHOLD = 0.008


def _prepare(prediction: Any, target: Any, void: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    pred = as_masks(prediction, "prediction")
    gt = as_masks(target, "target")
    same_shape(pred, gt, "prediction", "target")
    void_mask = None
    if void is not None:
        void_mask = as_masks(void, "void")
        same_shape(void_mask, gt, "void", "target")
    return pred, gt, void_mask


def region_similarity(prediction: Any, target: Any, void: Any = None) -> float | np.ndarray:
    """Region similarity ``J``: intersection over union of two masks (DAVIS ``db_eval_iou``).

    Args:
        prediction: predicted mask, boolean (or 0/1) array or tensor ``[H, W]`` or ``[T, H, W]``.
        target: ground-truth mask of the same shape.
        void: optional mask of pixels to ignore, same shape.

    Returns:
        A float for ``[H, W]`` input, a float64 array ``[T]`` (one value per frame) for ``[T, H, W]``.
        A frame whose union is empty (both masks empty) scores 1.
    """
    pred, gt, void_mask = _prepare(prediction, target, void)
    keep = np.ones_like(gt) if void_mask is None else ~void_mask
    inter = np.count_nonzero(pred & gt & keep, axis=(-2, -1))
    union = np.count_nonzero((pred | gt) & keep, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    return float(jaccard) if jaccard.ndim == 0 else jaccard.astype(np.float64)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary of a boolean mask ``[H, W]`` (Berkeley ``seg2bmap`` at full size).

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour,
    pixels beyond the image counting as background; on the last row only the right neighbour is
    compared, on the last column only the lower one, and the bottom-right pixel is never a boundary.
    The boundary therefore sits half a pixel towards the origin from the true region border.

    Args:
        mask: boolean array ``[H, W]``.

    Returns:
        Boolean array ``[H, W]``.
    """
    mask = np.asarray(mask, dtype=bool)
    right = np.zeros_like(mask)
    below = np.zeros_like(mask)
    diagonal = np.zeros_like(mask)
    right[:, :-1] = mask[:, 1:]
    below[:-1, :] = mask[1:, :]
    diagonal[:-1, :-1] = mask[1:, 1:]
    boundary = (mask ^ right) | (mask ^ below) | (mask ^ diagonal)
    boundary[-1, :] = mask[-1, :] ^ right[-1, :]
    boundary[:, -1] = mask[:, -1] ^ below[:, -1]
    boundary[-1, -1] = False
    return boundary


def boundary_tolerance(height: int, width: int, bound_th: float = BOUNDARY_THRESHOLD) -> int:
    """Radius in pixels of the boundary-matching disk: ``bound_th`` if >= 1, else ``ceil(bound_th * diagonal)``."""
    if not bound_th > 0:
        raise ValueError(f"bound_th must be positive, got {bound_th}")
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(f"bound_th >= 1 is a radius in pixels and must be a whole number, got {bound_th}")
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(height, width)))


def _disk(radius: int) -> np.ndarray:
    """Structuring element of the pixels within Euclidean distance ``radius`` of the centre."""
    offsets = np.arange(-radius, radius + 1)
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).astype(np.uint8)


def _f_measure_frame(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None, radius: int) -> float:
    if void is not None:
        pred = pred & ~void
        gt = gt & ~void
    pred_boundary = boundary_map(pred)
    gt_boundary = boundary_map(gt)
    n_pred = int(np.count_nonzero(pred_boundary))
    n_gt = int(np.count_nonzero(gt_boundary))
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0:  # nothing predicted: precision 1, recall 0
        return 0.0
    if n_gt == 0:  # predicted a boundary where there is none: precision 0, recall 1
        return 0.0
    kernel = _disk(radius)
    # cv2.dilate treats pixels outside the image as background for dilation, like zero padding.
    pred_dilated = cv2.dilate(pred_boundary.astype(np.uint8), kernel).astype(bool)
    gt_dilated = cv2.dilate(gt_boundary.astype(np.uint8), kernel).astype(bool)
    precision = np.count_nonzero(pred_boundary & gt_dilated) / n_pred
    recall = np.count_nonzero(gt_boundary & pred_dilated) / n_gt
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def contour_accuracy(
    prediction: Any, target: Any, void: Any = None, bound_th: float = BOUNDARY_THRESHOLD
) -> float | np.ndarray:
    """Contour accuracy ``F``: boundary F-measure with a distance tolerance (DAVIS ``f_measure``).

    Args:
        prediction: predicted mask, boolean (or 0/1) array or tensor ``[H, W]`` or ``[T, H, W]``.
        target: ground-truth mask of the same shape.
        void: optional mask of pixels to ignore, same shape.
        bound_th: matching tolerance as a fraction of the image diagonal (``>= 1``: in pixels).

    Returns:
        A float for ``[H, W]`` input, a float64 array ``[T]`` for ``[T, H, W]``.
    """
    pred, gt, void_mask = _prepare(prediction, target, void)
    radius = boundary_tolerance(gt.shape[-2], gt.shape[-1], bound_th)
    if gt.ndim == 2:
        return _f_measure_frame(pred, gt, void_mask, radius)
    return np.array(
        [
            _f_measure_frame(pred[t], gt[t], None if void_mask is None else void_mask[t], radius)
            for t in range(gt.shape[0])
        ],
        dtype=np.float64,
    )
