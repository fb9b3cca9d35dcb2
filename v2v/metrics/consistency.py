"""Per-pair temporal-consistency measures and a streaming scorer fed one frame at a time.

This module holds the one implementation of the warping-error arithmetic: the whole-video
functions of :mod:`v2v.metrics.temporal` (clips scored by :mod:`v2v.scoring`) and the streaming
:class:`ConsistencyScorer` (streams scored by :mod:`v2v.scoring`) both call
:func:`pair_warping_errors` and :func:`flow_difference`.

Two warp conventions exist, named by :data:`WARP_CONVENTIONS`:

``"v2v"`` (the training loss's, docs/op.md)
    Pair (t-1, t): the previous frame is warped to frame t with the backward flow ``b_t``
    (``v2vcore.warp``, bilinear, taps outside the frame read 0) and compared with frame t on the
    pixels of ``v2vcore.consistency_mask``: the sample point lies inside the frame, the
    forward-backward test finds no occlusion, and the backward flow has no motion boundary
    (central differences, replicated border).

``"lai"`` (Lai et al. 2018, ``evaluate_WarpError.py`` with ``utils.detect_occlusion``)
    Pair (t-1, t): frame t is warped to frame t-1 with the FORWARD flow ``f_{t-1}`` (their
    ``Resample2d``: bilinear with the four taps clamped to the frame, which is the same as
    clamping the sample point, ``padding="border"``) and compared with frame t-1. A pixel q of
    frame t-1 is unreliable when::

        |f(q) + b~(q)|^2 > 0.01 (|f(q)|^2 + |b~(q)|^2) + 0.5,   b~ = border-warp of b_t by f_{t-1}

    (occlusion) or when::

        dx(fx)^2 + dy(fx)^2 + dx(fy)^2 + dy(fy)^2 > 0.01 |f(q)|^2 + 0.002

    (motion boundary), with ONE-SIDED differences ``dx(g)[r, c] = g[r, c] - g[r, c+1]``,
    ``dy(g)[r, c] = g[r, c] - g[r+1, c]`` and 0 in the last column / row. There is no
    inside-the-frame test: a pixel whose sample point leaves the frame reads the border.

Both normalise the same way: the squared (or absolute) residual summed over reliable pixels and
channels, divided by ``C x`` the number of reliable pixels (Lai et al.'s 3-channel mask divides by
3 x the reliable pixels); a pair with no reliable pixel scores 0 (their residual is all zero
then).

Convention:
    Frames ``[N, C, H, W]`` float in [0, 1]; flows ``[N, 2, H, W]`` in pixels, channel 0 = x;
    ``flow_fwd[k]`` lives on the earlier frame of pair k, ``flow_bwd[k]`` on the later one
    (docs/conventions.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

import v2vcore

__all__ = [
    "WARP_CONVENTIONS",
    "PairErrors",
    "lai_reliable_mask",
    "pair_warping_errors",
    "flow_difference",
    "mean_abs_difference",
    "ConsistencyScorer",
]

#: The two warp conventions of :func:`pair_warping_errors` (see the module docstring).
WARP_CONVENTIONS = ("v2v", "lai")

# Thresholds of Lai et al.'s utils.detect_occlusion (strict ``>``, as there).
_LAI_OCCLUSION_RELATIVE = 0.01
_LAI_OCCLUSION_ABSOLUTE = 0.5
_LAI_BOUNDARY_RELATIVE = 0.01
_LAI_BOUNDARY_ABSOLUTE = 0.002


@dataclass(frozen=True)
class PairErrors:
    """Warping residuals of a batch of frame pairs.

    Attributes:
        mse: ``[N]`` float64, mean squared residual over reliable pixels and channels.
        l1: ``[N]`` float64, mean absolute residual over the same pixels.
        reliable_fraction: ``[N]`` float64, fraction of the frame's pixels that are reliable.
    """

    mse: np.ndarray
    l1: np.ndarray
    reliable_fraction: np.ndarray


def _check_pair_batch(previous: torch.Tensor, current: torch.Tensor, flow_fwd: torch.Tensor, flow_bwd: torch.Tensor) -> None:
    if previous.dim() != 4 or previous.shape != current.shape:
        raise ValueError(
            f"previous and current frames must share a shape [N, C, H, W], got {tuple(previous.shape)} and {tuple(current.shape)}"
        )
    count, _, height, width = previous.shape
    expected = (count, 2, height, width)
    for name, flow in (("flow_fwd", flow_fwd), ("flow_bwd", flow_bwd)):
        if tuple(flow.shape) != expected:
            raise ValueError(f"{name} must have shape {expected} ([N, 2, H, W] for these frames), got {tuple(flow.shape)}")
        if not flow.is_floating_point():
            raise ValueError(f"{name} must be floating point (pixels), got dtype {flow.dtype}")
    for name, frames in (("previous", previous), ("current", current)):
        if not frames.is_floating_point():
            raise ValueError(f"{name} frames must be floating point in [0, 1], got dtype {frames.dtype}")


def _one_sided_gradient_energy(flow: torch.Tensor) -> torch.Tensor:
    """``sum over x, y components of dx^2 + dy^2`` with Lai's one-sided differences, ``[N, H, W]``."""
    dx = torch.zeros_like(flow)
    dy = torch.zeros_like(flow)
    dx[..., :, :-1] = flow[..., :, :-1] - flow[..., :, 1:]
    dy[..., :-1, :] = flow[..., :-1, :] - flow[..., 1:, :]
    return (dx**2 + dy**2).sum(dim=1)


def lai_reliable_mask(flow_fwd: torch.Tensor, flow_bwd: torch.Tensor) -> torch.Tensor:
    """Lai et al.'s non-occlusion mask of the EARLIER frame of each pair (``1 - detect_occlusion``).

    Args:
        flow_fwd: ``[N, 2, H, W]``, pair k's flow from frame k to frame k+1 (defined on frame k).
        flow_bwd: ``[N, 2, H, W]``, pair k's flow from frame k+1 to frame k.

    Returns:
        Bool ``[N, 1, H, W]`` on frame k: True where the forward-backward test finds no occlusion
        and the forward flow has no motion boundary (formulas in the module docstring).

    Convention:
        Their ``compute_flow_occlusion.py`` calls ``detect_occlusion(bw_flow, fw_flow)``, so the
        flow whose boundaries are tested and along which the other is warped is the forward flow.
    """
    forward = flow_fwd.detach()
    backward = flow_bwd.detach()
    warped_backward = v2vcore.warp(backward.contiguous(), forward.contiguous(), padding="border")
    round_trip = ((forward + warped_backward) ** 2).sum(dim=1)
    forward_sq = (forward**2).sum(dim=1)
    occluded = round_trip > _LAI_OCCLUSION_RELATIVE * ((warped_backward**2).sum(dim=1) + forward_sq) + _LAI_OCCLUSION_ABSOLUTE
    boundary = _one_sided_gradient_energy(forward) > _LAI_BOUNDARY_RELATIVE * forward_sq + _LAI_BOUNDARY_ABSOLUTE
    return (~(occluded | boundary)).unsqueeze(1)


def pair_warping_errors(
    previous: torch.Tensor,
    current: torch.Tensor,
    flow_fwd: torch.Tensor,
    flow_bwd: torch.Tensor,
    convention: str = "v2v",
) -> PairErrors:
    """Masked warping residual of a batch of frame pairs, MSE and L1.

    Args:
        previous: frames t-1 ``[N, C, H, W]`` in [0, 1].
        current: frames t ``[N, C, H, W]``.
        flow_fwd: ``[N, 2, H, W]`` flows from frame t-1 to frame t.
        flow_bwd: ``[N, 2, H, W]`` flows from frame t to frame t-1.
        convention: ``"v2v"`` or ``"lai"`` (see the module docstring): which frame is warped, with
            which flow, padding and mask.

    Returns:
        :class:`PairErrors` with one value per pair.

    Convention:
        Arithmetic runs in float64 for float64 frames, float32 otherwise; the sums are float64.
    """
    if convention not in WARP_CONVENTIONS:
        raise ValueError(f"convention must be one of {WARP_CONVENTIONS}, got {convention!r}")
    _check_pair_batch(previous, current, flow_fwd, flow_bwd)
    dtype = torch.float64 if previous.dtype == torch.float64 or current.dtype == torch.float64 else torch.float32
    flow_dtype = torch.float64 if flow_fwd.dtype == torch.float64 or flow_bwd.dtype == torch.float64 else torch.float32
    forward = flow_fwd.detach().to(flow_dtype).contiguous()
    backward = flow_bwd.detach().to(flow_dtype).contiguous()
    earlier = previous.detach().to(dtype).contiguous()
    later = current.detach().to(dtype).contiguous()
    with torch.no_grad():
        if convention == "v2v":
            mask = v2vcore.consistency_mask(forward, backward).to(dtype)  # on frame t
            # consistency_mask has checked both flows: a second check costs a device sync on CUDA.
            residual = later - v2vcore.warp(earlier, backward, check_flow=False)
        else:
            mask = lai_reliable_mask(forward, backward).to(dtype)  # on frame t-1
            # lai_reliable_mask has checked the forward flow (its warp's flow): check it once.
            residual = v2vcore.warp(later, forward, padding="border", check_flow=False) - earlier
    channels = earlier.shape[1]
    squared = (residual**2 * mask).sum(dim=(1, 2, 3)).double()
    absolute = (residual.abs() * mask).sum(dim=(1, 2, 3)).double()
    reliable = mask.sum(dim=(1, 2, 3)).double()
    denominator = (reliable * channels).clamp(min=1)
    mse = torch.where(reliable > 0, squared / denominator, torch.zeros_like(squared))
    l1 = torch.where(reliable > 0, absolute / denominator, torch.zeros_like(absolute))
    pixels = earlier.shape[2] * earlier.shape[3]
    return PairErrors(mse.cpu().numpy(), l1.cpu().numpy(), (reliable / pixels).cpu().numpy())


def flow_difference(flow_a: torch.Tensor, flow_b: torch.Tensor, crop_border: int = 0) -> np.ndarray:
    """tOF of a batch of pairs: the per-pixel Euclidean norm of ``flow_a - flow_b``, averaged.

    Args:
        flow_a, flow_b: ``[N, 2, H, W]`` flows of the same pairs of two videos (e.g. output and
            target), in pixels.
        crop_border: pixels removed from each side before averaging.

    Returns:
        float64 ``[N]`` in pixels.
    """
    if flow_a.shape != flow_b.shape or flow_a.dim() != 4 or flow_a.shape[1] != 2:
        raise ValueError(f"flows must share a shape [N, 2, H, W], got {tuple(flow_a.shape)} and {tuple(flow_b.shape)}")
    norm = torch.linalg.vector_norm(flow_a.detach().double() - flow_b.detach().double(), dim=1)
    if crop_border:
        norm = norm[:, crop_border:-crop_border, crop_border:-crop_border]
    return norm.mean(dim=(1, 2)).cpu().numpy()


def mean_abs_difference(previous: torch.Tensor, current: torch.Tensor) -> np.ndarray:
    """Flicker of a batch of pairs: mean absolute difference of consecutive frames (no flow).

    Args:
        previous, current: ``[N, C, H, W]`` in [0, 1].

    Returns:
        float64 ``[N]``, the mean over channels and pixels.
    """
    if previous.shape != current.shape or previous.dim() != 4:
        raise ValueError(f"frames must share a shape [N, C, H, W], got {tuple(previous.shape)} and {tuple(current.shape)}")
    return (current.detach().double() - previous.detach().double()).abs().mean(dim=(1, 2, 3)).cpu().numpy()


def _frame_tensor(frame, name: str) -> torch.Tensor:
    """A frame as float32 ``[C, H, W]`` in [0, 1] (uint8 ``[H, W, C]`` numpy, or torch ``[C, H, W]``)."""
    if isinstance(frame, np.ndarray):
        array = frame[:, :, None] if frame.ndim == 2 else frame
        if array.ndim != 3:
            raise ValueError(f"{name} must be [H, W, C] or [H, W], got shape {frame.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
    elif isinstance(frame, torch.Tensor):
        if frame.dim() != 3:
            raise ValueError(f"{name} must be [C, H, W], got shape {tuple(frame.shape)}")
        tensor = frame.detach().cpu()
    else:
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(frame).__name__}")
    if tensor.dtype == torch.uint8:
        return tensor.float() / 255.0
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be uint8 or float in [0, 1], got dtype {tensor.dtype}")
    return tensor.float()


class ConsistencyScorer:
    """Temporal consistency of one video, fed one frame (and the flows of its pair) at a time.

    Holds the previous frame only; the per-pair values it returns are also kept (a few floats
    per pair) for :meth:`summary` and :attr:`per_pair`.

    Args:
        convention: warp convention of the warping error, ``"v2v"`` or ``"lai"``.

    Example::

        scorer = ConsistencyScorer("v2v")
        for frame, flows in zip(frames, [None] + pair_flows):
            scorer.update(frame, *(flows or (None, None)))
        scorer.summary()   # {"warping_error": ..., "warping_error_l1": ..., "flicker": ..., "tOF": ...}
    """

    #: Per-pair measures this scorer reports (``tOF`` only when comparison flows are given).
    KEYS = ("warping_error", "warping_error_l1", "flicker", "tOF")

    def __init__(self, convention: str = "v2v") -> None:
        if convention not in WARP_CONVENTIONS:
            raise ValueError(f"convention must be one of {WARP_CONVENTIONS}, got {convention!r}")
        self.convention = convention
        self._previous: torch.Tensor | None = None
        self.frames = 0
        self.per_pair: dict[str, list[float]] = {key: [] for key in self.KEYS}

    def update(
        self,
        frame,
        flow_fwd: torch.Tensor | None = None,
        flow_bwd: torch.Tensor | None = None,
        tof_flows: Sequence[torch.Tensor] | None = None,
    ) -> dict[str, float] | None:
        """Add the next frame and score the pair it closes.

        Args:
            frame: uint8 ``[H, W, C]`` numpy or float ``[C, H, W]`` torch in [0, 1].
            flow_fwd, flow_bwd: ``[2, H, W]`` flows of the pair (previous frame, this frame), as
                :func:`v2v.flow.iter_pair_flows` yields them; ignored (may be None) for the first frame.
            tof_flows: optional ``(flow of this video, flow of the comparison video)`` for the
                pair, each ``[2, H, W]`` forward flows; gives ``tOF``.

        Returns:
            The pair's values (``warping_error``, ``warping_error_l1``, ``flicker`` and, with
            ``tof_flows``, ``tOF``), or None for the first frame.
        """
        current = _frame_tensor(frame, f"frame {self.frames}")
        previous = self._previous
        if previous is not None:  # checked before anything changes: a rejected frame is not counted
            if current.shape != previous.shape:
                raise ValueError(
                    f"frame {self.frames} is {tuple(current.shape)}, frame {self.frames - 1} is {tuple(previous.shape)}: "
                    "a video must keep one size and channel count"
                )
            if flow_fwd is None or flow_bwd is None:
                raise ValueError(f"frame {self.frames} closes a pair: flow_fwd and flow_bwd of the pair are required")
        self._previous = current
        self.frames += 1
        if previous is None:
            return None
        errors = pair_warping_errors(previous[None], current[None], flow_fwd[None], flow_bwd[None], self.convention)
        values = {
            "warping_error": float(errors.mse[0]),
            "warping_error_l1": float(errors.l1[0]),
            "flicker": float(mean_abs_difference(previous[None], current[None])[0]),
        }
        if tof_flows is not None:
            mine, theirs = tof_flows
            values["tOF"] = float(flow_difference(mine[None], theirs[None])[0])
        for key, value in values.items():
            self.per_pair[key].append(value)
        return values

    def summary(self) -> dict[str, float]:
        """Means over the pairs seen so far (NaN with fewer than two frames; tOF only if it was given)."""
        means = {}
        for key in self.KEYS:
            values = self.per_pair[key]
            if key == "tOF" and not values:
                continue
            means[key] = float(np.mean(values)) if values else math.nan
        return means
