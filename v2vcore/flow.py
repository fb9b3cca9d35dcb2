"""Pure-PyTorch utilities for optical-flow fields: flips, crops, resizing, endpoint error, colouring.

These are the geometric operations a data pipeline applies to frames and their flows together, so
that a flow stays the flow of the transformed video. They depend on torch only.

Convention:
    A flow is ``[..., 2, H, W]`` in pixels (any number of leading dims): channel 0 is the x (column)
    displacement, channel 1 the y (row) displacement. Pixel centres sit at integer coordinates
    (docs/conventions.md). A flow maps a pixel ``p`` of one frame to ``p + flow(p)`` in the other frame.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "flip_flow_horizontal",
    "flip_flow_vertical",
    "crop_flow",
    "resize_flow",
    "endpoint_error",
    "flow_to_color",
]


def _check_flow(flow: torch.Tensor, name: str = "flow") -> None:
    if not isinstance(flow, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(flow).__name__}")
    if flow.dim() < 3 or flow.shape[-3] != 2:
        raise ValueError(f"{name} must have shape [..., 2, H, W], got {tuple(flow.shape)}")
    if not flow.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {flow.dtype}")


def flip_flow_horizontal(flow: torch.Tensor) -> torch.Tensor:
    """Flow of the horizontally mirrored frame pair.

    Mirroring maps column ``x`` to ``W-1-x``: the field is mirrored along the width and its x
    component negated (a motion to the right becomes a motion to the left); y is unchanged.

    Args:
        flow: ``[..., 2, H, W]`` in pixels.

    Returns:
        A new tensor of the same shape and dtype.
    """
    _check_flow(flow)
    flipped = flow.flip(-1)
    sign = torch.tensor([-1.0, 1.0], dtype=flow.dtype, device=flow.device).view(2, 1, 1)
    return flipped * sign


def flip_flow_vertical(flow: torch.Tensor) -> torch.Tensor:
    """Flow of the vertically mirrored frame pair: mirrored along the height, y negated.

    Args:
        flow: ``[..., 2, H, W]`` in pixels.

    Returns:
        A new tensor of the same shape and dtype.
    """
    _check_flow(flow)
    flipped = flow.flip(-2)
    sign = torch.tensor([1.0, -1.0], dtype=flow.dtype, device=flow.device).view(2, 1, 1)
    return flipped * sign


def crop_flow(flow: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """Crop a flow field: displacements are translation invariant, so only the window changes.

    Args:
        flow: ``[..., 2, H, W]`` in pixels.
        top, left: upper-left corner of the window (pixels, inclusive).
        height, width: window size; the window must lie inside the field.

    Returns:
        ``[..., 2, height, width]`` (a view of ``flow``).
    """
    _check_flow(flow)
    full_h, full_w = flow.shape[-2:]
    if height <= 0 or width <= 0:
        raise ValueError(f"crop size must be positive, got height={height}, width={width}")
    if top < 0 or left < 0 or top + height > full_h or left + width > full_w:
        raise ValueError(
            f"crop window top={top}, left={left}, height={height}, width={width} does not fit a "
            f"{full_h}x{full_w} flow"
        )
    return flow[..., top : top + height, left : left + width]


def resize_flow(flow: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resample a flow to ``size`` and rescale its values, matching a resize of the frames.

    The frames are assumed resized with the half-pixel convention of ``cv2.resize`` and
    ``F.interpolate(align_corners=False)``: ``x' = (x + 0.5) * W'/W - 0.5``. A displacement then
    scales by ``W'/W`` in x and ``H'/H`` in y.

    Args:
        flow: ``[..., 2, H, W]`` in pixels.
        size: target ``(H', W')``.
        mode: ``"bilinear"`` (default) or ``"nearest"`` (keeps motion boundaries sharp).

    Returns:
        ``[..., 2, H', W']`` in pixels of the resized frames.
    """
    _check_flow(flow)
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    new_h, new_w = (int(s) for s in size)
    if new_h <= 0 or new_w <= 0:
        raise ValueError(f"size must be positive, got {tuple(size)}")
    lead = flow.shape[:-3]
    old_h, old_w = flow.shape[-2:]
    flat = flow.reshape(-1, 2, old_h, old_w)
    if mode == "bilinear":
        resized = F.interpolate(flat, size=(new_h, new_w), mode="bilinear", align_corners=False)
    else:
        resized = F.interpolate(flat, size=(new_h, new_w), mode="nearest-exact")
    scale = torch.tensor([new_w / old_w, new_h / old_h], dtype=flow.dtype, device=flow.device)
    resized = resized * scale.view(1, 2, 1, 1)
    return resized.reshape(*lead, 2, new_h, new_w)


def endpoint_error(
    flow: torch.Tensor,
    reference: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Endpoint error ``|flow - reference|_2`` per pixel, optionally averaged over a mask.

    Args:
        flow: estimated flow ``[..., 2, H, W]``.
        reference: ground-truth flow, same shape.
        mask: optional ``[..., 1, H, W]`` (bool or 0/1) selecting the pixels to average over.
        reduction: ``"mean"`` (a scalar; NaN when the mask selects no pixel) or ``"none"``
            (the per-pixel error ``[..., 1, H, W]``, zero outside the mask).

    Returns:
        The mean endpoint error (scalar tensor) or the per-pixel error map.
    """
    _check_flow(flow, "flow")
    _check_flow(reference, "reference")
    if flow.shape != reference.shape:
        raise ValueError(
            f"flow and reference must share a shape, got {tuple(flow.shape)} and {tuple(reference.shape)}"
        )
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    error = (flow - reference).pow(2).sum(dim=-3, keepdim=True).sqrt()
    if mask is None:
        return error.mean() if reduction == "mean" else error
    expected = (*flow.shape[:-3], 1, *flow.shape[-2:])
    if tuple(mask.shape) != expected:
        raise ValueError(f"mask must have shape {expected}, got {tuple(mask.shape)}")
    weight = mask.to(error.dtype)
    if reduction == "none":
        return error * weight
    total = weight.sum()
    return (error * weight).sum() / total if total > 0 else error.new_tensor(math.nan)


def _middlebury_color_wheel(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The 55-colour wheel of Baker et al. (Middlebury flow benchmark), ``[55, 3]`` in [0, 1]."""
    segments = ((15, (1, 0, 0), (1, 1, 0)), (6, (1, 1, 0), (0, 1, 0)), (4, (0, 1, 0), (0, 1, 1)),
                (11, (0, 1, 1), (0, 0, 1)), (13, (0, 0, 1), (1, 0, 1)), (6, (1, 0, 1), (1, 0, 0)))
    colors = []
    for count, start, end in segments:
        ramp = torch.arange(count, dtype=dtype, device=device).unsqueeze(1) / count
        start_t = torch.tensor(start, dtype=dtype, device=device)
        end_t = torch.tensor(end, dtype=dtype, device=device)
        colors.append(start_t + ramp * (end_t - start_t))
    return torch.cat(colors)


def flow_to_color(flow: torch.Tensor, max_magnitude: float | None = None) -> torch.Tensor:
    """Visualise a flow with the Middlebury colour wheel: hue is direction, saturation magnitude.

    Args:
        flow: ``[..., 2, H, W]`` in pixels.
        max_magnitude: magnitude shown fully saturated; ``None`` uses the largest finite magnitude
            of the input (each call normalises on its own, so pass a value to compare fields).

    Returns:
        RGB ``[..., 3, H, W]`` float in [0, 1] (white is zero motion).
    """
    _check_flow(flow)
    work = flow.float() if flow.dtype in (torch.float16, torch.bfloat16) else flow
    u, v = work[..., 0, :, :], work[..., 1, :, :]
    magnitude = torch.sqrt(u * u + v * v)
    if max_magnitude is None:
        finite = magnitude[torch.isfinite(magnitude)]
        max_magnitude = float(finite.max()) if finite.numel() else 0.0
    elif max_magnitude <= 0:
        raise ValueError(f"max_magnitude must be positive, got {max_magnitude}")
    scale = max(float(max_magnitude), 1e-9)
    radius = (magnitude / scale).clamp(max=1.0)
    radius = torch.nan_to_num(radius, nan=0.0)
    wheel = _middlebury_color_wheel(work.dtype, work.device)
    ncols = wheel.shape[0]
    angle = torch.atan2(-v, -u) / math.pi  # in [-1, 1]
    position = torch.nan_to_num((angle + 1.0) / 2.0 * (ncols - 1), nan=0.0)
    index0 = position.floor().long().clamp(0, ncols - 1)
    index1 = (index0 + 1) % ncols
    fraction = (position - index0.to(position.dtype)).unsqueeze(-1)
    color = (1 - fraction) * wheel[index0] + fraction * wheel[index1]  # [..., H, W, 3]
    color = 1 - radius.unsqueeze(-1) * (1 - color)
    return color.movedim(-1, -3).to(flow.dtype).clamp(0.0, 1.0)
