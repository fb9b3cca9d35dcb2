"""Pure-PyTorch reference of the residual-error op (docs/op.md).

This module is the oracle the compiled kernels are tested against and the baseline the benchmarks
compare with. It is written for clarity with stock PyTorch operators (``grid_sample`` for the
bilinear taps, ``F.pad`` for the replicated central differences); gradients come from autograd.
It shares no code with the compiled kernels, so a bug in one is caught by the other.

It is a drop-in for :mod:`v2vcore.ops`: the same functions with the same signatures (keyword-only
options included) and the same refusal of NaN/Inf flows (``ValueError``, unless the check is
switched off). Where it differs:

- it runs on any device and dtype PyTorch runs ``grid_sample`` on, with no compiled kernels;
- with the flow check switched off, non-finite flows are outside its contract: the op counts
  their pixels invalid, the reference's outputs there are unspecified (the tests compare the two
  on finite flows only);
- it does not reject flows that require grad (autograd differentiates them, the op refuses).

Convention:
    Flows are ``[B, 2, H, W]`` in pixels, channel 0 the x (column) displacement, channel 1 the y
    (row) displacement. ``flow_bwd`` maps frame t to frame t-1 (pixel p of frame t sits at
    ``p + b(p)`` in frame t-1); ``flow_fwd`` maps frame t-1 to frame t. Pixel centres are at
    integer coordinates (``align_corners=True``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["warp", "consistency_mask", "residual_error"]

# Thresholds of paper eq. 2 (occlusion) and eq. 3 (motion boundary); strict ``>`` comparisons.
OCCLUSION_RELATIVE = 0.01
OCCLUSION_ABSOLUTE = 0.5
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002


def _compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def _sample_positions(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Source coordinates ``s = p + flow(p)`` in pixels, each ``[B, H, W]``."""
    _, _, height, width = flow.shape
    ys = torch.arange(height, dtype=flow.dtype, device=flow.device).view(1, height, 1)
    xs = torch.arange(width, dtype=flow.dtype, device=flow.device).view(1, 1, width)
    return xs + flow[:, 0], ys + flow[:, 1]


def _bilinear(image: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, padding: str) -> torch.Tensor:
    """Bilinear samples of ``image`` [B,C,H,W] at pixel coordinates ``(sx, sy)`` [B,H,W]."""
    _, _, height, width = image.shape

    def normalise(s: torch.Tensor, size: int) -> torch.Tensor:
        # grid_sample maps every coordinate of a size-1 axis to pixel 0; the zero padding that a
        # bilinear tap at a fractional offset would see is applied below instead.
        return s * (2.0 / (size - 1)) - 1.0 if size > 1 else torch.zeros_like(s)

    grid = torch.stack([normalise(sx, width), normalise(sy, height)], dim=-1)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode=padding, align_corners=True)
    if padding == "zeros":
        if width == 1:
            out = out * (1.0 - sx.abs()).clamp(min=0.0).unsqueeze(1)
        if height == 1:
            out = out * (1.0 - sy.abs()).clamp(min=0.0).unsqueeze(1)
    return out


def _check_finite(function: str, **flows: torch.Tensor) -> None:
    """The op's refusal of NaN/Inf flows, with its message."""
    bad = [name for name, flow in flows.items() if not torch.isfinite(flow).all()]
    if bad:
        raise ValueError(f"v2vcore.{function}: {' and '.join(bad)} holds NaN or Inf; flows must be finite (pass "
                         "check_flows=False only for flows you validated yourself)")


def warp(x: torch.Tensor, flow: torch.Tensor, *, padding: str = "zeros", check_flow: bool = True) -> torch.Tensor:
    """Backward-warp ``x`` by ``flow``: ``y(p) = bilinear(x, p + flow(p))``.

    Args:
        x: image batch ``[B, C, H, W]``.
        flow: displacement ``[B, 2, H, W]`` in pixels.
        padding: ``"zeros"`` (taps outside the frame read 0) or ``"border"`` (clamped taps).
        check_flow: raise on NaN/Inf in ``flow``.

    Returns:
        The warped batch ``[B, C, H, W]`` in ``x``'s dtype.
    """
    if padding not in ("zeros", "border"):
        raise ValueError(f"padding must be 'zeros' or 'border', got {padding!r}")
    if check_flow:
        _check_finite("warp", flow=flow)
    dtype = _compute_dtype(x, flow)
    flow = flow.to(dtype)
    sx, sy = _sample_positions(flow)
    return _bilinear(x.to(dtype), sx, sy, padding).to(x.dtype)


def _mask_2d(flow_fwd: torch.Tensor, flow_bwd: torch.Tensor) -> torch.Tensor:
    """Valid-pixel mask ``[B, 1, H, W]`` (bool) for one frame pair (docs/op.md, steps 2-5)."""
    _, _, height, width = flow_bwd.shape
    sx, sy = _sample_positions(flow_bwd)
    inside = (sx >= 0) & (sx <= width - 1) & (sy >= 0) & (sy <= height - 1)

    warped_fwd = _bilinear(flow_fwd, sx, sy, "zeros")  # w(p) = f(p + b(p)), eq. 1
    sum_sq = ((warped_fwd + flow_bwd) ** 2).sum(dim=1)
    norms_sq = (warped_fwd**2).sum(dim=1) + (flow_bwd**2).sum(dim=1)
    occluded = sum_sq > OCCLUSION_RELATIVE * norms_sq + OCCLUSION_ABSOLUTE

    padded = F.pad(flow_bwd, (1, 1, 1, 1), mode="replicate")
    grad_x = 0.5 * (padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2])
    grad_y = 0.5 * (padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1])
    grad_sq = (grad_x**2 + grad_y**2).sum(dim=1)
    boundary = grad_sq > BOUNDARY_RELATIVE * (flow_bwd**2).sum(dim=1) + BOUNDARY_ABSOLUTE

    return (inside & ~occluded & ~boundary).unsqueeze(1)


def consistency_mask(flow_fwd: torch.Tensor, flow_bwd: torch.Tensor, *, check_flows: bool = True) -> torch.Tensor:
    """Reliable-pixel mask from the forward-backward and motion-boundary tests.

    Args:
        flow_fwd: forward flow (frame t-1 to t), ``[B, 2, H, W]`` or ``[B, N, 2, H, W]``.
        flow_bwd: backward flow (frame t to t-1), same shape as ``flow_fwd``.
        check_flows: raise on NaN/Inf in a flow.

    Returns:
        Bool mask ``[B, 1, H, W]`` (or ``[B, N, 1, H, W]``), True where the pixel of frame t is
        inside after warping, not occluded and not on a motion boundary.
    """
    if flow_fwd.shape != flow_bwd.shape or flow_bwd.dim() not in (4, 5):
        raise ValueError(
            "flow_fwd and flow_bwd must share a shape [B,2,H,W] or [B,N,2,H,W], got "
            f"{tuple(flow_fwd.shape)} and {tuple(flow_bwd.shape)}"
        )
    if check_flows:
        _check_finite("consistency_mask", flow_fwd=flow_fwd, flow_bwd=flow_bwd)
    dtype = _compute_dtype(flow_fwd, flow_bwd)
    if flow_bwd.dim() == 4:
        return _mask_2d(flow_fwd.to(dtype), flow_bwd.to(dtype))
    batch, pairs = flow_bwd.shape[:2]
    mask = _mask_2d(flow_fwd.flatten(0, 1).to(dtype), flow_bwd.flatten(0, 1).to(dtype))
    return mask.view(batch, pairs, *mask.shape[1:])


def residual_error(
    video: torch.Tensor,
    flow_fwd: torch.Tensor,
    flow_bwd: torch.Tensor,
    *,
    return_mask: bool = False,
    check_flows: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Masked residual ``E_t = c * (O_t - warp(O_{t-1}, b_t))`` for every frame pair (paper eq. 1-3).

    Args:
        video: ``[B, T, C, H, W]`` with ``T >= 2``.
        flow_fwd: ``[B, T-1, 2, H, W]``; entry k maps frame k to frame k+1.
        flow_bwd: ``[B, T-1, 2, H, W]``; entry k maps frame k+1 to frame k.
        return_mask: also return the bool mask ``c``.
        check_flows: raise on NaN/Inf in a flow.

    Returns:
        ``E`` of shape ``[B, T-1, C, H, W]`` in ``video``'s dtype, and with ``return_mask`` the mask
        ``[B, T-1, 1, H, W]`` (bool).
    """
    if video.dim() != 5 or video.shape[1] < 2:
        raise ValueError(f"video must be [B,T,C,H,W] with T >= 2, got {tuple(video.shape)}")
    batch, frames, channels, height, width = video.shape
    expected = (batch, frames - 1, 2, height, width)
    for name, flow in (("flow_fwd", flow_fwd), ("flow_bwd", flow_bwd)):
        if tuple(flow.shape) != expected:
            raise ValueError(f"{name} must have shape {expected}, got {tuple(flow.shape)}")
    if check_flows:
        _check_finite("residual_error", flow_fwd=flow_fwd, flow_bwd=flow_bwd)
    dtype = _compute_dtype(video, flow_fwd, flow_bwd)
    mask = consistency_mask(flow_fwd, flow_bwd, check_flows=False)
    previous = video[:, :-1].flatten(0, 1).to(dtype)
    current = video[:, 1:].flatten(0, 1).to(dtype)
    backward = flow_bwd.flatten(0, 1).to(dtype)
    sx, sy = _sample_positions(backward)
    warped = _bilinear(previous, sx, sy, "zeros")
    residual = (current - warped) * mask.flatten(0, 1).to(dtype)
    residual = residual.view(batch, frames - 1, channels, height, width).to(video.dtype)
    return (residual, mask) if return_mask else residual
