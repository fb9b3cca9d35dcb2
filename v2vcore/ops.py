"""Python face of the compiled residual-error op: the one module of ``v2vcore`` that touches ``_C``.

The C++ extension registers the operators ``torch.ops.v2vcore.*`` with the dispatcher (schemas in
``csrc/ops.cpp``, CPU kernels in ``csrc/cpu``, CUDA kernels in ``csrc/cuda``). This module adds what
belongs in Python: fake kernels for ``torch.compile``, autograd formulas (each backward is its own
operator), and the public functions with their argument checks.

There is no fallback to :mod:`v2vcore.reference`: a build without kernels for a device raises a
``RuntimeError`` that says how to rebuild.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

try:
    from . import _C  # noqa: F401  (importing registers torch.ops.v2vcore.*)

    _LOAD_ERROR: Exception | None = None
except ImportError as error:  # the extension was not built, or was built against another torch
    _C = None
    _LOAD_ERROR = error

__all__ = ["residual_error", "warp", "consistency_mask", "has_cpu_kernels", "has_cuda_kernels", "check_device"]

_PADDINGS = ("zeros", "border")
_SOURCE_TREE = Path(__file__).resolve().parents[1]
_BUILD_INFO = Path(__file__).with_name("_build_info.json")
"""The note setup.py leaves beside the extension: the torch it was compiled against."""


def _rebuild_command() -> str:
    """How to rebuild the extension against the installed torch: in place for a source checkout
    (an editable install), else a reinstall from the source the user installed."""
    if (_SOURCE_TREE / "setup.py").is_file() and (_SOURCE_TREE / "csrc").is_dir():
        where = "." if Path.cwd().resolve() == _SOURCE_TREE else str(_SOURCE_TREE)
        return f"pip install --no-build-isolation -e {where}"
    return "pip install --no-build-isolation --force-reinstall --no-deps <the sdist or source folder you installed>"


_REBUILD = _rebuild_command()


def _load_failure() -> str:
    """Why the extension did not load: the error, the torch it was built against (from the note the
    build leaves beside it, ``_build_info.json``), the torch installed, and the fix."""
    try:
        built = json.loads(_BUILD_INFO.read_text())
        built_with = f"torch {built['torch']}" + (f" (CUDA {built['cuda']})" if built.get("cuda") else " (no CUDA)")
    except (OSError, ValueError, KeyError, TypeError):
        built_with = "an unknown torch (no build note beside it: never built, or built by an older setup.py)"
    running = f"torch {torch.__version__}" + (f" (CUDA {torch.version.cuda})" if torch.version.cuda else " (no CUDA)")
    return (f"the compiled extension v2vcore._C could not be loaded ({_LOAD_ERROR}). It was built against "
            f"{built_with}; the installed one is {running}. Build it against the installed torch with "
            f"`{_REBUILD}` (or `make install` in the source tree)")


def has_cpu_kernels() -> bool:
    """True when the compiled extension is importable (its CPU kernels are always built)."""
    return _C is not None


def has_cuda_kernels() -> bool:
    """True when the compiled extension was built with its CUDA kernels."""
    return _C is not None and bool(torch.ops.v2vcore.built_with_cuda())


def check_device(device: torch.device | str) -> None:
    """Raise ``RuntimeError`` naming the rebuild command unless the compiled ops can run on ``device``.

    For a CUDA device this runs one tiny kernel there, so that a build without a kernel image (or
    PTX) for that GPU's architecture fails here, before any heavy work, rather than at the first op
    call of a run with "no kernel image is available".

    Args:
        device: a ``torch.device`` or its string, e.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"v2vcore.check_device: device must be a torch.device or a string like 'cuda:0', got {device!r}"
        ) from error
    _require_kernels("check_device", device)
    if device.type != "cuda":
        return
    if not torch.cuda.is_available():
        raise RuntimeError(f"v2vcore.check_device: device {device} requested, but torch.cuda.is_available() is False")
    flow = torch.zeros(1, 2, 1, 1, device=device)
    try:
        torch.ops.v2vcore.consistency_mask(flow, flow, False)
        torch.cuda.synchronize(device)
    except RuntimeError as error:
        if "no kernel image" not in str(error) and "invalid device function" not in str(error):
            raise
        major, minor = torch.cuda.get_device_capability(device)
        raise RuntimeError(
            f"v2vcore: the CUDA kernels were not built for {torch.cuda.get_device_name(device)} (compute "
            f"capability {major}.{minor}). Rebuild them for this GPU: "
            f"`TORCH_CUDA_ARCH_LIST={major}.{minor} V2V_CUDA=1 {_REBUILD}`."
        ) from None


def _require_kernels(function: str, device: torch.device) -> None:
    if _C is None:
        raise RuntimeError(f"v2vcore.{function}: {_load_failure()} (v2vcore.reference has pure-PyTorch versions of every op).")
    if device.type == "cuda" and not has_cuda_kernels():
        raise RuntimeError(
            f"v2vcore.{function}: got CUDA tensors, but v2vcore._C was built without CUDA kernels. "
            f"Rebuild with a CUDA build of torch and nvcc on PATH: `V2V_CUDA=1 {_REBUILD}`."
        )
    if device.type not in ("cpu", "cuda", "meta"):
        raise RuntimeError(f"v2vcore.{function}: no kernels for device {device.type!r} (cpu and cuda only)")


def _reject_flow_grad(function: str, **flows: torch.Tensor) -> None:
    for name, flow in flows.items():
        if isinstance(flow, torch.Tensor) and flow.requires_grad:
            raise ValueError(
                f"v2vcore.{function}: {name} requires grad, but flows are constants of the input video "
                f"(docs/conventions.md) and receive no gradient; pass {name}.detach()"
            )


def residual_error(
    video: torch.Tensor,
    flow_fwd: torch.Tensor,
    flow_bwd: torch.Tensor,
    *,
    return_mask: bool = False,
    check_flows: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Masked warping residual of every consecutive frame pair, in one fused kernel pass.

    For pixel p of frame t, ``s = p + b(p)``; ``E_t(p) = c(p) * (O_t(p) - bilinear(O_{t-1}, s))``
    where ``c`` is 1 when s lies inside the frame, the forward-backward test finds no occlusion
    and the backward flow has no motion boundary at p (paper eq. 1-3, docs/op.md).

    Args:
        video: ``[B, T, C, H, W]``, T >= 2; float16, bfloat16, float32 or float64.
        flow_fwd: ``[B, T-1, 2, H, W]`` float32 or float64; entry k maps frame k to frame k+1.
        flow_bwd: ``[B, T-1, 2, H, W]``, same dtype as ``flow_fwd``; entry k maps frame k+1 to k.
        return_mask: also return the valid-pixel mask ``c``.
        check_flows: raise on NaN/Inf in a flow. Free on CPU; on CUDA it costs one device-to-host
            sync per call (skipped while a CUDA graph is being captured), so a hot loop whose flows
            were validated when they were loaded may pass False.

    Returns:
        ``E`` ``[B, T-1, C, H, W]`` in ``video``'s dtype; with ``return_mask`` also the bool mask
        ``[B, T-1, 1, H, W]``. ``E`` is differentiable with respect to ``video`` only.

    Shape:
        Stack videos along channels (``torch.cat([generated, target], dim=2)``) to share one call:
        flows and masks are read and computed once for all channels.

    Convention:
        Flows are in pixels, channel 0 = x (column), channel 1 = y (row); pixel centres at integer
        coordinates (``align_corners=True``). Thresholds are strict ``>``.
    """
    _require_kernels("residual_error", video.device)
    _reject_flow_grad("residual_error", flow_fwd=flow_fwd, flow_bwd=flow_bwd)
    residual, mask = torch.ops.v2vcore.residual_error(video, flow_fwd, flow_bwd, check_flows)
    return (residual, mask) if return_mask else residual


def warp(x: torch.Tensor, flow: torch.Tensor, *, padding: str = "zeros", check_flow: bool = True) -> torch.Tensor:
    """Backward-warp ``x`` by ``flow``: ``y(p) = bilinear(x, p + flow(p))``.

    Args:
        x: ``[B, C, H, W]``; float16, bfloat16, float32 or float64.
        flow: ``[B, 2, H, W]`` float32 or float64, in pixels.
        padding: ``"zeros"`` (taps outside the frame read 0) or ``"border"`` (coordinates clamped
            to the frame, as ``grid_sample(padding_mode="border")``).
        check_flow: raise on NaN/Inf in ``flow`` (see :func:`residual_error`).

    Returns:
        ``[B, C, H, W]`` in ``x``'s dtype, differentiable with respect to ``x``.

    Convention:
        As :func:`residual_error`: pixel units, x then y, pixel centres at integers.
    """
    if padding not in _PADDINGS:
        raise ValueError(f"v2vcore.warp: padding must be one of {_PADDINGS}, got {padding!r}")
    _require_kernels("warp", x.device)
    _reject_flow_grad("warp", flow=flow)
    return torch.ops.v2vcore.warp(x, flow, padding, check_flow)


def consistency_mask(flow_fwd: torch.Tensor, flow_bwd: torch.Tensor, *, check_flows: bool = True) -> torch.Tensor:
    """Reliable-pixel mask of frame t: inside after warping, not occluded, not on a motion boundary.

    Args:
        flow_fwd: forward flow (frame t-1 to t), ``[B, 2, H, W]`` or ``[B, N, 2, H, W]``.
        flow_bwd: backward flow (frame t to t-1), same shape and dtype.
        check_flows: raise on NaN/Inf in a flow (see :func:`residual_error`).

    Returns:
        Bool mask ``[B, 1, H, W]`` (or ``[B, N, 1, H, W]``), the ``c`` of :func:`residual_error`.
    """
    _require_kernels("consistency_mask", flow_bwd.device)
    if flow_fwd.dim() == 5 and flow_bwd.dim() == 5 and flow_fwd.shape == flow_bwd.shape:
        batch, pairs = flow_bwd.shape[:2]
        mask = torch.ops.v2vcore.consistency_mask(flow_fwd.flatten(0, 1), flow_bwd.flatten(0, 1), check_flows)
        return mask.unflatten(0, (batch, pairs))
    return torch.ops.v2vcore.consistency_mask(flow_fwd, flow_bwd, check_flows)


if _C is not None:

    @torch.library.register_fake("v2vcore::residual_error")
    def _residual_error_fake(video, flow_fwd, flow_bwd, check_flows=True):
        batch, frames, channels, height, width = video.shape
        residual = video.new_empty((batch, frames - 1, channels, height, width))
        mask = video.new_empty((batch, frames - 1, 1, height, width), dtype=torch.bool)
        return residual, mask

    @torch.library.register_fake("v2vcore::residual_error_backward")
    def _residual_error_backward_fake(grad_residual, flow_bwd, mask):
        batch, pairs, channels, height, width = grad_residual.shape
        return grad_residual.new_empty((batch, pairs + 1, channels, height, width))

    @torch.library.register_fake("v2vcore::warp")
    def _warp_fake(x, flow, padding="zeros", check_flow=True):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @torch.library.register_fake("v2vcore::warp_backward")
    def _warp_backward_fake(grad_output, flow, padding):
        return torch.empty_like(grad_output, memory_format=torch.contiguous_format)

    @torch.library.register_fake("v2vcore::consistency_mask")
    def _consistency_mask_fake(flow_fwd, flow_bwd, check_flows=True):
        batch, _, height, width = flow_bwd.shape
        return flow_bwd.new_empty((batch, 1, height, width), dtype=torch.bool)

    # Arguments left at their schema defaults may be missing from `inputs`.
    def _residual_error_setup(ctx, inputs, output):
        flow_bwd = inputs[2]
        _, mask = output
        ctx.save_for_backward(flow_bwd, mask)

    def _residual_error_backward(ctx, grad_residual, grad_mask):
        flow_bwd, mask = ctx.saved_tensors
        grad_video = torch.ops.v2vcore.residual_error_backward(grad_residual, flow_bwd, mask)
        return grad_video, None, None, None

    torch.library.register_autograd(
        "v2vcore::residual_error", _residual_error_backward, setup_context=_residual_error_setup
    )

    def _warp_setup(ctx, inputs, output):
        flow = inputs[1]
        ctx.save_for_backward(flow)
        ctx.padding = inputs[2] if len(inputs) > 2 else "zeros"

    def _warp_backward(ctx, grad_output):
        (flow,) = ctx.saved_tensors
        return torch.ops.v2vcore.warp_backward(grad_output, flow, ctx.padding), None, None, None

    torch.library.register_autograd("v2vcore::warp", _warp_backward, setup_context=_warp_setup)

    # The backward ops have no derivative formula of their own. Registering one that raises makes a
    # double backward (a gradient penalty through the op, say) fail loudly, instead of PyTorch's
    # warning about a missing autograd kernel and a silently dropped term.
    def _no_double_backward(op_name: str):
        def backward(ctx, *grads):
            raise RuntimeError(
                f"v2vcore.{op_name}: double backward (a gradient of its gradient, e.g. "
                "torch.autograd.grad(..., create_graph=True) followed by another backward) is not "
                f"supported; use v2vcore.reference.{op_name}, which is plain PyTorch, for that term"
            )

        return backward

    torch.library.register_autograd(
        "v2vcore::residual_error_backward",
        _no_double_backward("residual_error"),
        setup_context=lambda ctx, inputs, output: None,
    )
    torch.library.register_autograd(
        "v2vcore::warp_backward", _no_double_backward("warp"), setup_context=lambda ctx, inputs, output: None
    )
