"""Frame value conventions: the model's range, the unit range, and the one 8-bit rounding rule.

Models work on frames in [-1, 1]; metrics, flows and pictures on frames in [0, 1]; files hold 8-bit
frames. :func:`to_uint8` is the one conversion to 8 bits used everywhere (written videos, sample
videos, pictures, the input baseline of real footage, the flow providers' gray frames), so a
number computed on a stored frame and one computed on the frame before it was stored agree.

Convention:
    8-bit values are ``round(255 x)`` of ``x`` clamped to [0, 1], rounding halves to even
    (``numpy.rint`` and ``torch.round``).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["to_model_range", "to_unit_range", "to_uint8", "from_uint8"]


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """Map [0, 1] to [-1, 1] (``2 x - 1``)."""
    return x * 2.0 - 1.0


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """Map [-1, 1] back to [0, 1] (``(x + 1) / 2``), the inverse of :func:`to_model_range`."""
    return (x + 1.0) * 0.5


def to_uint8(x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Float values in [0, 1] (clamped first) as 8-bit integers, in the input's layout and library.

    Raises:
        ValueError: a value that is NaN or infinite (it has no 8-bit value).
    """
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.uint8:
            return x
        if not torch.isfinite(x).all():
            raise ValueError("a frame contains NaN or infinite values")
        return torch.round(x.float().clamp(0.0, 1.0) * 255.0).to(torch.uint8)
    array = np.asarray(x)
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"a frame must be uint8 or float in [0, 1], got {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError("a frame contains NaN or infinite values")
    return np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


def from_uint8(x: torch.Tensor) -> torch.Tensor:
    """8-bit frames as float32 in [0, 1] (``x / 255``)."""
    return x.float() / 255.0
