"""Input coercion shared by the metrics: tensors or arrays in, validated NumPy arrays out."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(value: Any, name: str) -> np.ndarray:
    """Return ``value`` (NumPy array, torch tensor or nested sequence) as a NumPy array.

    Torch tensors are detached and moved to the CPU; nothing is copied when ``value`` already is
    an array.

    Raises:
        TypeError: ``value`` is None or a string, naming the argument.
    """
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array or tensor, got {type(value).__name__}")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor without importing torch
        value = value.detach().cpu()
        if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
            value = value.float()
        value = value.numpy()
    return np.asarray(value)


def as_masks(value: Any, name: str, ndims: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """A boolean mask array ``[H, W]`` or ``[T, H, W]``.

    Boolean input is taken as is; integer or float input must hold only 0 and 1 (a soft mask or a
    label map would otherwise be binarised silently).

    Raises:
        ValueError: wrong number of dimensions, an empty spatial size, or non-binary values.
    """
    array = to_numpy(value, name)
    if array.ndim not in ndims:
        shapes = " or ".join({2: "[H, W]", 3: "[T, H, W]"}[n] for n in ndims)
        raise ValueError(f"{name} must be a boolean mask of shape {shapes}, got shape {array.shape}")
    if array.shape[-1] == 0 or array.shape[-2] == 0:
        raise ValueError(f"{name} has an empty spatial size {array.shape[-2:]}")
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must be boolean or numeric 0/1, got dtype {array.dtype}")
    if array.size and not np.isin(array, (0, 1)).all():
        raise ValueError(
            f"{name} must be binary (bool, or numbers that are all 0 or 1); got values such as "
            f"{np.unique(array[~np.isin(array, (0, 1))])[:3].tolist()} - threshold soft masks first"
        )
    return array.astype(bool)


def same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise a ValueError naming both arguments when their shapes differ."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")
