"""Tests of the compiled ops (v2vcore.ops) against the pure-PyTorch reference (v2vcore.reference).

Every test runs on the CPU kernels, and on the CUDA kernels where a GPU is present (`-m cuda`).
"""

from __future__ import annotations

import json
import os
import resource

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import v2vcore
from v2vcore import ops, reference

from op_inputs import (
    DEVICES,
    affine_flows,
    deterministic_algorithms,
    far_apart_flows,
    random_flows,
    random_video,
    requires_kernels,
    threshold_margins,
)

pytestmark = requires_kernels

# A float32 kernel may flip a mask only where a threshold test is this close to its threshold
# (float32 rounding of quantities of order 10-100 px^2).
FLIP_MARGIN = 1e-3


def run_both(video, flow_fwd, flow_bwd, device):
    """The op on ``device`` in the inputs' dtypes, and the reference in float64 on the CPU."""
    fused, mask = v2vcore.residual_error(
        video.to(device), flow_fwd.to(device), flow_bwd.to(device), return_mask=True
    )
    expected, expected_mask = reference.residual_error(
        video.double(), flow_fwd.double(), flow_bwd.double(), return_mask=True
    )
    return fused.cpu(), mask.cpu(), expected, expected_mask


def assert_flips_at_ties(mask, expected_mask, flow_fwd, flow_bwd, margin=FLIP_MARGIN):
    """Masks may differ only at pixels within ``margin`` of a threshold; returns the flip count."""
    flipped = mask != expected_mask
    if flipped.any():
        margins = threshold_margins(flow_fwd, flow_bwd)
        worst = margins[flipped].max().item()
        assert worst < margin, f"{int(flipped.sum())} mask flips, one {worst:.3g} from its threshold"
    return int(flipped.sum())


def assert_residual_close(fused, mask, expected, expected_mask, atol):
    agree = (mask == expected_mask).expand_as(fused)
    torch.testing.assert_close(fused.double()[agree], expected[agree], atol=atol, rtol=0)


# --- forward parity --------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("width", [29, 40])  # 40: whole 8-pixel SIMD blocks; 29: a scalar tail too
def test_residual_error_matches_float64_reference_on_random_flows(device, dtype, width):
    video = random_video(2, 4, 3, 23, width, seed=1, dtype=dtype)
    flow_fwd, flow_bwd = random_flows(2, 3, 23, width, amplitude=3.0, noise=0.4, seed=2)
    flow_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    flow_fwd, flow_bwd = flow_fwd.to(flow_dtype), flow_bwd.to(flow_dtype)
    fused, mask, expected, expected_mask = run_both(video, flow_fwd, flow_bwd, device)
    assert fused.dtype == dtype and mask.dtype == torch.bool
    assert fused.shape == (2, 3, 3, 23, width) and mask.shape == (2, 3, 1, 23, width)
    assert 0.2 < expected_mask.double().mean() < 0.95, "the fixture should mix valid and invalid pixels"
    flips = assert_flips_at_ties(mask, expected_mask, flow_fwd, flow_bwd, margin=FLIP_MARGIN if dtype == torch.float32 else 1e-9)
    assert flips <= 0.002 * mask.numel()
    assert_residual_close(fused, mask, expected, expected_mask, atol=2e-6 if dtype == torch.float32 else 1e-12)
    assert (fused[~mask.expand_as(fused)] == 0).all()


@pytest.mark.parametrize("device", DEVICES)
def test_residual_error_of_an_exact_warp_is_zero_where_valid(device):
    """Frame t built as the bilinear warp of frame t-1 under exact affine flow: E = 0 on valid pixels."""
    flow_fwd, flow_bwd = affine_flows(1, 3, 37, 45, seed=3)
    first = random_video(1, 1, 2, 37, 45, seed=4)[:, 0]
    frames = [first]
    for k in range(3):
        frames.append(reference.warp(frames[-1], flow_bwd[:, k]))
    video = torch.stack(frames, dim=1).float()
    fused, mask = v2vcore.residual_error(video.to(device), flow_fwd.float().to(device), flow_bwd.float().to(device), return_mask=True)
    assert mask.double().mean() > 0.7, "exact flow: only pixels whose source leaves the frame are invalid"
    assert fused.abs().max().item() < 1e-5


@pytest.mark.parametrize("device", DEVICES)
def test_zero_flow_gives_the_plain_frame_difference(device):
    video = random_video(1, 5, 3, 17, 26, seed=5, dtype=torch.float32).to(device)
    zero = torch.zeros(1, 4, 2, 17, 26, device=device)
    fused, mask = v2vcore.residual_error(video, zero, zero, return_mask=True)
    assert mask.all()
    assert torch.equal(fused, video[:, 1:] - video[:, :-1])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shift", [(3, 0), (0, -2), (-5, 4)])
def test_integer_translation(device, shift):
    """flow_bwd = (dx, dy): O_t(x, y) is compared with O_{t-1}(x + dx, y + dy) where that lies inside."""
    dx, dy = shift
    height, width = 19, 33
    video = random_video(1, 2, 2, height, width, seed=6, dtype=torch.float32)
    flow_bwd = torch.zeros(1, 1, 2, height, width)
    flow_bwd[:, :, 0], flow_bwd[:, :, 1] = dx, dy
    fused, mask = v2vcore.residual_error(video.to(device), (-flow_bwd).to(device), flow_bwd.to(device), return_mask=True)
    fused, mask = fused.cpu(), mask.cpu()
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    inside = (xs + dx >= 0) & (xs + dx < width) & (ys + dy >= 0) & (ys + dy < height)
    assert torch.equal(mask[0, 0, 0], inside)
    shifted = torch.roll(video[:, 0], shifts=(-dy, -dx), dims=(-2, -1))
    expected = torch.where(inside, video[:, 1] - shifted, torch.zeros(()))
    assert torch.equal(fused[:, 0], expected)


@pytest.mark.parametrize("device", DEVICES)
def test_flows_pointing_out_of_the_frame(device):
    video = random_video(1, 3, 2, 12, 20, seed=7, dtype=torch.float32).to(device)
    for value in (1e6, -1e6, 25.0, 12.5, 20.0001):
        flow = torch.full((1, 2, 2, 12, 20), value, device=device)
        fused, mask = v2vcore.residual_error(video, -flow, flow, return_mask=True)
        assert not mask.any() and (fused == 0).all() and torch.isfinite(fused).all()
    # A source exactly on the last column or row is inside; a hair beyond is outside.
    for component, size in ((0, 20), (1, 12)):
        flow = torch.zeros(1, 1, 2, 12, 20, device=device)
        flow[:, :, component] = 3.0
        _, mask = v2vcore.residual_error(video[:, :2], -flow, flow, return_mask=True)
        inside = mask[0, 0, 0].cpu().any(dim=component)  # per row (component 1) or column (0)
        assert inside[: size - 3].all() and not inside[size - 3 :].any()
        flow[:, :, component] = 3.001
        _, mask = v2vcore.residual_error(video[:, :2], -flow, flow, return_mask=True)
        assert not mask[0, 0, 0].cpu().any(dim=component)[size - 4]


SHAPES = [
    (1, 2, 3, 9, 11),  # T = 2
    (2, 3, 2, 1, 1),  # 1x1 frames
    (1, 3, 2, 1, 37),  # 1xW
    (1, 3, 2, 23, 1),  # Hx1
    (1, 3, 1, 13, 18),  # C = 1
    (1, 2, 64, 8, 21),  # C = 64
    (3, 2, 2, 5, 9),  # several clips
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_edge_case_shapes_match_reference(device, shape):
    batch, frames, channels, height, width = shape
    video = random_video(*shape, seed=8, dtype=torch.float32)
    flow_fwd, flow_bwd = random_flows(batch, frames - 1, height, width, amplitude=0.7, noise=0.05, seed=9)
    flow_fwd, flow_bwd = flow_fwd.float(), flow_bwd.float()
    fused, mask, expected, expected_mask = run_both(video, flow_fwd, flow_bwd, device)
    assert fused.shape == (batch, frames - 1, channels, height, width)
    assert_flips_at_ties(mask, expected_mask, flow_fwd, flow_bwd)
    assert_residual_close(fused, mask, expected, expected_mask, atol=2e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_empty_batch(device):
    video = torch.zeros(0, 3, 2, 8, 9, device=device, requires_grad=True)
    flows = torch.zeros(0, 2, 2, 8, 9, device=device)
    fused, mask = v2vcore.residual_error(video, flows, flows, return_mask=True)
    assert fused.shape == (0, 2, 2, 8, 9) and mask.shape == (0, 2, 1, 8, 9)
    fused.sum().backward()
    assert video.grad.shape == video.shape
    assert v2vcore.warp(torch.zeros(0, 3, 4, 5, device=device), torch.zeros(0, 2, 4, 5, device=device)).shape == (0, 3, 4, 5)
    assert v2vcore.consistency_mask(flows[:, 0], flows[:, 0]).shape == (0, 1, 8, 9)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_frames(device, dtype):
    video = random_video(1, 3, 3, 21, 30, seed=10, dtype=torch.float32)
    flow_fwd, flow_bwd = random_flows(1, 2, 21, 30, amplitude=2.0, noise=0.2, seed=11)
    flow_fwd, flow_bwd = flow_fwd.float().to(device), flow_bwd.float().to(device)
    low = video.to(dtype).to(device)
    fused, mask = v2vcore.residual_error(low, flow_fwd, flow_bwd, return_mask=True)
    assert fused.dtype == dtype
    # Arithmetic runs in float32: the result is the float32 result on the rounded frames, rounded once.
    exact, exact_mask = v2vcore.residual_error(low.float(), flow_fwd, flow_bwd, return_mask=True)
    assert torch.equal(mask, exact_mask)
    assert torch.equal(fused, exact.to(dtype))
    grad = torch.randn(fused.shape, dtype=torch.float32, device=device)
    low.requires_grad_(True)
    (v2vcore.residual_error(low, flow_fwd, flow_bwd) * grad.to(dtype)).sum().backward()
    wide = low.detach().float().requires_grad_(True)
    (v2vcore.residual_error(wide, flow_fwd, flow_bwd) * grad.to(dtype).float()).sum().backward()
    if device == "cpu":  # the half (generic) and float32 (SIMD) kernels sum in the same order
        assert torch.equal(low.grad, wide.grad.to(dtype))
    else:  # float atomics land in any order
        torch.testing.assert_close(low.grad.float(), wide.grad, atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("device", DEVICES)
def test_non_contiguous_and_channels_last_inputs(device):
    video = random_video(2, 3, 4, 16, 22, seed=12, dtype=torch.float32).to(device)
    flow_fwd, flow_bwd = (f.float().to(device) for f in random_flows(2, 2, 16, 22, seed=13))
    expected, expected_mask = v2vcore.residual_error(video, flow_fwd, flow_bwd, return_mask=True)
    strided_video = video.transpose(3, 4).contiguous().transpose(3, 4)  # same values, W-major strides
    strided_fwd = torch.stack([flow_fwd[:, :, 0], flow_fwd[:, :, 1]], dim=-1).movedim(-1, 2)  # x, y interleaved
    wide_bwd = torch.zeros(*flow_bwd.shape[:-1], 2 * flow_bwd.shape[-1], device=device)
    wide_bwd[..., ::2] = flow_bwd
    strided_bwd = wide_bwd[..., ::2]  # every other column of a wider tensor
    fused, mask = v2vcore.residual_error(strided_video, strided_fwd, strided_bwd, return_mask=True)
    assert not any(t.is_contiguous() for t in (strided_video, strided_fwd, strided_bwd))
    assert torch.equal(fused, expected) and torch.equal(mask, expected_mask)
    frames = video[:, 0].contiguous(memory_format=torch.channels_last)
    flow = flow_bwd[:, 0].contiguous(memory_format=torch.channels_last)
    assert torch.equal(v2vcore.warp(frames, flow), v2vcore.warp(frames.contiguous(), flow.contiguous()))


# --- consistency_mask and warp -------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_consistency_mask_is_the_residual_mask(device):
    flow_fwd, flow_bwd = (f.float().to(device) for f in random_flows(2, 3, 15, 26, amplitude=2.5, seed=14))
    video = random_video(2, 4, 1, 15, 26, seed=15, dtype=torch.float32).to(device)
    _, mask = v2vcore.residual_error(video, flow_fwd, flow_bwd, return_mask=True)
    assert torch.equal(v2vcore.consistency_mask(flow_fwd, flow_bwd), mask)  # video-shaped [B, P, 2, H, W]
    assert torch.equal(v2vcore.consistency_mask(flow_fwd[:, 1], flow_bwd[:, 1]), mask[:, 1])
    expected = reference.consistency_mask(flow_fwd.double().cpu(), flow_bwd.double().cpu())
    assert_flips_at_ties(mask.cpu(), expected, flow_fwd.cpu(), flow_bwd.cpu())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("padding", ["zeros", "border"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_warp_matches_reference(device, padding, dtype):
    x = random_video(3, 1, 5, 14, 27, seed=16)[:, 0]
    _, flow = random_flows(3, 1, 14, 27, amplitude=4.0, seed=17)
    flow = flow[:, 0]
    flow_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    fused = v2vcore.warp(x.to(dtype).to(device), flow.to(flow_dtype).to(device), padding=padding).cpu()
    expected = reference.warp(x.to(dtype).double(), flow.to(flow_dtype).double(), padding=padding)
    atol = {torch.float64: 1e-12, torch.float32: 2e-6, torch.float16: 2e-3}[dtype]
    torch.testing.assert_close(fused.double(), expected, atol=atol, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size", [(1, 1), (1, 9), (7, 1)])
def test_warp_degenerate_frames(device, size):
    x = random_video(2, 1, 2, *size, seed=18)[:, 0]
    _, flow = random_flows(2, 1, *size, amplitude=0.8, seed=19)
    for padding in ("zeros", "border"):
        fused = v2vcore.warp(x.to(device), flow[:, 0].to(device), padding=padding).cpu()
        torch.testing.assert_close(fused, reference.warp(x, flow[:, 0], padding=padding), atol=1e-12, rtol=0)


# --- gradients ------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_residual_error(device):
    video = random_video(1, 3, 2, 6, 7, seed=20).to(device).requires_grad_(True)
    flow_fwd, flow_bwd = (f.to(device) for f in random_flows(1, 2, 6, 7, amplitude=1.5, noise=0.3, seed=21))
    mask = v2vcore.consistency_mask(flow_fwd, flow_bwd)
    assert mask.any() and not mask.all()
    assert torch.autograd.gradcheck(lambda v: v2vcore.residual_error(v, flow_fwd, flow_bwd), (video,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("padding", ["zeros", "border"])
def test_gradcheck_warp(device, padding):
    x = random_video(2, 1, 3, 5, 6, seed=22)[:, 0].to(device).requires_grad_(True)
    _, flow = random_flows(2, 1, 5, 6, amplitude=2.5, seed=23)
    flow = flow[:, 0].to(device)
    assert torch.autograd.gradcheck(lambda v: v2vcore.warp(v, flow, padding=padding), (x,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("deterministic", [False, True])
def test_backward_matches_reference_autograd(device, deterministic):
    video = random_video(2, 4, 3, 20, 27, seed=24, dtype=torch.float32)
    flow_fwd, flow_bwd = (f.float() for f in random_flows(2, 3, 20, 27, amplitude=2.0, noise=0.1, seed=25))
    grad = torch.randn(2, 3, 3, 20, 27, generator=torch.Generator().manual_seed(26))
    fused_video = video.to(device).clone().requires_grad_(True)
    with deterministic_algorithms(deterministic):
        fused, mask = v2vcore.residual_error(fused_video, flow_fwd.to(device), flow_bwd.to(device), return_mask=True)
        fused.backward(grad.to(device))
    # The reference's gradient with the kernel's own mask, so that a mask flip at a tie cannot differ.
    expected_video = video.detach().double().requires_grad_(True)
    previous, current = expected_video[:, :-1].flatten(0, 1), expected_video[:, 1:].flatten(0, 1)
    warped = reference.warp(previous, flow_bwd.flatten(0, 1).double())
    residual = (current - warped) * mask.cpu().flatten(0, 1)
    residual.backward(grad.double().flatten(0, 1))
    torch.testing.assert_close(fused_video.grad.cpu().double(), expected_video.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op_name", ["residual_error", "warp"])
def test_deterministic_backward_is_bitwise_reproducible(device, op_name):
    video = random_video(2, 4, 3, 25, 31, seed=27, dtype=torch.float32).to(device)
    flow_fwd, flow_bwd = (f.float().to(device) for f in random_flows(2, 3, 25, 31, amplitude=1.5, noise=0.05, seed=28))
    grad_seed = torch.Generator().manual_seed(29)

    def backward():
        v = video.clone().requires_grad_(True)
        if op_name == "residual_error":
            out = v2vcore.residual_error(v, flow_fwd, flow_bwd)
        else:
            out = v2vcore.warp(v[:, 0], flow_bwd[:, 0], padding="border")
        out.backward(torch.randn(out.shape, generator=grad_seed.manual_seed(29)).to(device) * 1e-3)
        return v.grad

    with deterministic_algorithms(True):
        first = backward()
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(1)
            single_thread = backward()
        finally:
            torch.set_num_threads(threads)
        again = backward()
    assert torch.equal(first, again) and torch.equal(first, single_thread)
    torch.testing.assert_close(first, backward(), atol=1e-9, rtol=1e-5)  # float scatter, same gradient


def test_deterministic_backward_of_non_finite_gradients_is_nan():
    video = random_video(1, 2, 1, 6, 8, seed=30, dtype=torch.float32).requires_grad_(True)
    zero = torch.zeros(1, 1, 2, 6, 8)
    zero[..., 0, :] = 0.5  # every pixel scatters into two taps
    grad = torch.ones(1, 1, 1, 6, 8)
    grad[..., 2, 3] = float("inf")
    with deterministic_algorithms(True):
        v2vcore.residual_error(video, -zero, zero).backward(grad)
    assert torch.isnan(video.grad[:, 0]).all()
    assert torch.isfinite(video.grad[:, 1]).sum() == 6 * 8 - 1


# --- dispatcher integration ------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    video = random_video(1, 3, 2, 7, 9, seed=31, dtype=torch.float32).to(device).requires_grad_(True)
    flow_fwd, flow_bwd = (f.float().to(device) for f in random_flows(1, 2, 7, 9, seed=32))
    residual, mask = torch.ops.v2vcore.residual_error(video, flow_fwd, flow_bwd, True)
    x = video[:, 0].detach().clone().requires_grad_(True)
    cases = [
        (torch.ops.v2vcore.residual_error.default, (video, flow_fwd, flow_bwd, True)),
        (torch.ops.v2vcore.residual_error_backward.default, (torch.randn_like(residual), flow_bwd, mask)),
        (torch.ops.v2vcore.warp.default, (x, flow_bwd[:, 0], "zeros", True)),
        (torch.ops.v2vcore.warp.default, (x, flow_bwd[:, 0], "border", True)),
        (torch.ops.v2vcore.warp_backward.default, (torch.randn_like(x), flow_bwd[:, 0], "border")),
        (torch.ops.v2vcore.consistency_mask.default, (flow_fwd[:, 0], flow_bwd[:, 0], True)),
    ]
    for op, args in cases:
        torch.library.opcheck(op, args)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_compile_fullgraph(device):
    video = random_video(1, 3, 2, 12, 17, seed=33, dtype=torch.float32).to(device)
    flow_fwd, flow_bwd = (f.float().to(device) for f in random_flows(1, 2, 12, 17, seed=34))

    def temporal_loss(v):
        residual = v2vcore.residual_error(v, flow_fwd, flow_bwd, check_flows=False)
        warped = v2vcore.warp(v[:, 0], flow_bwd[:, 0])
        mask = v2vcore.consistency_mask(flow_fwd, flow_bwd)
        return residual.abs().mean() + (warped * mask[:, 0]).square().mean()

    compiled = torch.compile(temporal_loss, fullgraph=True, backend="aot_eager")
    eager_video, compiled_video = video.clone().requires_grad_(True), video.clone().requires_grad_(True)
    eager_loss, compiled_loss = temporal_loss(eager_video), compiled(compiled_video)
    eager_loss.backward()
    compiled_loss.backward()
    torch.testing.assert_close(compiled_loss, eager_loss)
    torch.testing.assert_close(compiled_video.grad, eager_video.grad)


# --- properties ------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(0, 2),
    frames=st.integers(2, 4),
    channels=st.integers(1, 3),
    height=st.integers(1, 10),
    width=st.integers(1, 19),
    amplitude=st.sampled_from([0.0, 0.3, 1.5, 6.0, 40.0]),
    noise=st.sampled_from([0.0, 0.05, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_property_float64_kernel_equals_reference(batch, frames, channels, height, width, amplitude, noise, seed):
    video = random_video(batch, frames, channels, height, width, seed=seed)
    flow_fwd, flow_bwd = random_flows(batch, frames - 1, height, width, amplitude=amplitude, noise=noise, seed=seed)
    fused, mask = v2vcore.residual_error(video, flow_fwd, flow_bwd, return_mask=True)
    expected, expected_mask = reference.residual_error(video, flow_fwd, flow_bwd, return_mask=True)
    assert_flips_at_ties(mask, expected_mask, flow_fwd, flow_bwd, margin=1e-9)
    assert_residual_close(fused, mask, expected, expected_mask, atol=1e-12)
    # Linear in the video, so the backward is its adjoint: <E(v), g> == <v, E^T(g)>.
    grad = torch.randn(fused.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    adjoint = torch.ops.v2vcore.residual_error_backward(grad, flow_bwd, mask)
    torch.testing.assert_close((fused * grad).sum(), (video * adjoint).sum(), atol=1e-9, rtol=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, 12),
    width=st.integers(1, 20),
    amplitude=st.sampled_from([0.0, 0.5, 3.0, 30.0, 1e7]),
    padding=st.sampled_from(["zeros", "border"]),
    seed=st.integers(0, 2**16),
)
def test_property_float32_warp_and_its_adjoint(height, width, amplitude, padding, seed):
    x = random_video(2, 1, 2, height, width, seed=seed, dtype=torch.float32)[:, 0]
    _, flow = random_flows(2, 1, height, width, amplitude=amplitude, seed=seed)
    flow = flow[:, 0].float()
    fused = v2vcore.warp(x, flow, padding=padding)
    assert torch.isfinite(fused).all()
    torch.testing.assert_close(fused.double(), reference.warp(x.double(), flow.double(), padding=padding), atol=1e-5, rtol=0)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    adjoint = torch.ops.v2vcore.warp_backward(grad, flow, padding)
    torch.testing.assert_close((fused.double() * grad).sum(), (x.double() * adjoint).sum(), atol=1e-4, rtol=1e-5)


# --- bad input -------------------------------------------------------------------------------------


def good_inputs(device="cpu"):
    video = torch.zeros(1, 3, 2, 6, 7, device=device)
    flows = torch.zeros(1, 2, 2, 6, 7, device=device)
    return video, flows, flows.clone()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda v, f, b: (v[0], f, b), r"video must be \[B, T, C, H, W\]"),
        (lambda v, f, b: (v[:, :1], f[:, :0], b[:, :0]), r"T >= 2"),
        (lambda v, f, b: (v[:, :, :0], f, b), r"C, H, W >= 1"),
        (lambda v, f, b: (v, f[:, :1], b), r"flow_fwd must be \[B, T-1, 2, H, W\]"),
        (lambda v, f, b: (v, f, b[..., :5]), r"flow_bwd must be \[B, T-1, 2, H, W\]"),
        (lambda v, f, b: (v, f, b[:, :, :1]), r"flow_bwd must be"),
        (lambda v, f, b: (v.int(), f, b), r"video must be float16, bfloat16, float32 or float64"),
        (lambda v, f, b: (v, f.half(), b.half()), r"flow_fwd must be float32 or float64"),
        (lambda v, f, b: (v, f.double(), b), r"flow_fwd and flow_bwd must share a dtype"),
    ],
)
def test_residual_error_rejects_bad_arguments(change, message):
    with pytest.raises(ValueError, match=message):
        v2vcore.residual_error(*change(*good_inputs()))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_flows_are_rejected(device, bad):
    video, flow_fwd, flow_bwd = good_inputs(device)
    for name in ("flow_fwd", "flow_bwd"):
        fwd, bwd = flow_fwd.clone(), flow_bwd.clone()
        (fwd if name == "flow_fwd" else bwd)[0, 1, 1, 4, 5] = bad
        with pytest.raises(ValueError, match="NaN or Inf"):
            v2vcore.residual_error(video, fwd, bwd)
        with pytest.raises(ValueError, match="NaN or Inf"):
            v2vcore.consistency_mask(fwd, bwd)
        # Unchecked, the pixel is merely invalid and nothing else changes.
        residual, mask = v2vcore.residual_error(video + 1, fwd, bwd, return_mask=True, check_flows=False)
        assert not mask[0, 1, 0, 4, 5] and mask.sum() >= mask.numel() - 5
        assert torch.isfinite(residual).all()
    with pytest.raises(ValueError, match="NaN or Inf"):
        v2vcore.warp(video[:, 0], torch.full_like(flow_bwd[:, 0], bad))


def test_flows_that_require_grad_are_rejected():
    video, flow_fwd, flow_bwd = good_inputs()
    with pytest.raises(ValueError, match="flow_bwd requires grad"):
        v2vcore.residual_error(video, flow_fwd, flow_bwd.requires_grad_(True))
    with pytest.raises(ValueError, match="flow requires grad"):
        v2vcore.warp(video[:, 0], flow_fwd[:, 0].clone().requires_grad_(True))


def test_warp_rejects_bad_arguments():
    video, flow, _ = good_inputs()
    with pytest.raises(ValueError, match="padding must be one of"):
        v2vcore.warp(video[:, 0], flow[:, 0], padding="reflect")
    with pytest.raises(ValueError, match=r"x must be \[B, C, H, W\]"):
        v2vcore.warp(video, flow[:, 0])
    with pytest.raises(ValueError, match=r"flow must be \[B, 2, H, W\]"):
        v2vcore.warp(video[:, 0], flow[:, 0, :1])
    with pytest.raises(ValueError, match=r"flow_bwd must be \[B, 2, H, W\] or \[B, N, 2, H, W\]"):
        v2vcore.consistency_mask(flow[0, 0], flow[0, 0])
    with pytest.raises(ValueError, match="flow_fwd must have flow_bwd's shape"):
        v2vcore.consistency_mask(flow[:, 0, :, :5], flow[:, 0])


def test_backward_op_rejects_bad_arguments():
    grad = torch.zeros(1, 2, 3, 4, 5)
    flow = torch.zeros(1, 2, 2, 4, 5)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        torch.ops.v2vcore.residual_error_backward(grad, flow, torch.zeros(1, 2, 1, 4, 5))
    with pytest.raises(ValueError, match="flow_bwd must be"):
        torch.ops.v2vcore.residual_error_backward(grad, flow[:, :1], torch.zeros(1, 2, 1, 4, 5, dtype=torch.bool))


@pytest.mark.parametrize("shape", [(1, 2, 0, 4, 5), (1, 2, 3, 0, 5), (1, 2, 3, 4, 0)])
def test_backward_op_rejects_empty_channels_rows_or_columns(shape):
    grad = torch.zeros(shape)
    flow = torch.zeros(shape[0], shape[1], 2, *shape[3:])
    mask = torch.zeros(shape[0], shape[1], 1, *shape[3:], dtype=torch.bool)
    with pytest.raises(ValueError, match=r"grad_residual needs C, H, W >= 1"):
        torch.ops.v2vcore.residual_error_backward(grad, flow, mask)


@pytest.mark.parametrize("dim", [2, 3, 4])
def test_backward_op_rejects_dimensions_of_2_31(dim):
    # Expanded (stride 0) tensors: 2^31 elements along one dimension in a few bytes of memory; the
    # check runs before anything is read.
    sizes = [1, 1, 1, 1, 1]
    sizes[dim] = 2**31
    grad = torch.zeros(1).expand(sizes)
    flow = torch.zeros(1).expand(1, 1, 2, *sizes[3:])
    mask = torch.zeros(1, dtype=torch.bool).expand(1, 1, 1, *sizes[3:])
    with pytest.raises(ValueError, match=r"grad_residual has 2147483648 elements along dimension .*at most 2\^31 - 1"):
        torch.ops.v2vcore.residual_error_backward(grad, flow, mask)


def test_warp_rejects_channels_of_2_31():
    x = torch.zeros(1).expand(1, 2**31, 1, 1)
    with pytest.raises(ValueError, match=r"x has 2147483648 elements along dimension 1"):
        v2vcore.warp(x, torch.zeros(1, 2, 1, 1))


@pytest.mark.parametrize("op_name", ["residual_error", "warp"])
def test_double_backward_is_a_clear_error(op_name):
    video = random_video(1, 3, 2, 6, 7, seed=60, dtype=torch.float64).requires_grad_(True)
    flow_fwd, flow_bwd = random_flows(1, 2, 6, 7, seed=61)
    if op_name == "residual_error":
        out = v2vcore.residual_error(video, flow_fwd, flow_bwd)
    else:
        out = v2vcore.warp(video[:, 0], flow_bwd[:, 0])
    # (out ** 2).sum(): the gradient fed to the backward op depends on the video, so it has a graph.
    (grad,) = torch.autograd.grad((out**2).sum(), video, create_graph=True)
    assert grad.requires_grad
    with pytest.raises(RuntimeError, match=f"v2vcore.{op_name}: double backward .* is not supported"):
        grad.sum().backward()


def test_check_device_accepts_the_cpu_and_rejects_bad_devices(monkeypatch):
    v2vcore.check_device("cpu")
    v2vcore.check_device(torch.device("cpu"))
    with pytest.raises(ValueError, match="device must be a torch.device or a string"):
        v2vcore.check_device("not-a-device")
    with pytest.raises(RuntimeError, match="no kernels for device 'mps'"):
        v2vcore.check_device("mps")
    monkeypatch.setattr(ops, "has_cuda_kernels", lambda: False)
    with pytest.raises(RuntimeError, match="built without CUDA kernels.*V2V_CUDA=1 pip install --no-build-isolation"):
        v2vcore.check_device("cuda:0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_check_device_on_a_machine_without_a_gpu(monkeypatch):
    monkeypatch.setattr(ops, "has_cuda_kernels", lambda: True)
    with pytest.raises(RuntimeError, match=r"torch.cuda.is_available\(\) is False"):
        v2vcore.check_device("cuda")


def test_build_records_its_cuda_architectures():
    archs = torch.ops.v2vcore.built_cuda_archs()
    assert (archs != "") == v2vcore.has_cuda_kernels()
    if not v2vcore.has_cuda_kernels():
        assert "without CUDA kernels" in torch.ops.v2vcore.cuda_kernel_image_error(0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_mixed_devices_are_rejected():
    video, flow_fwd, flow_bwd = good_inputs()
    with pytest.raises(RuntimeError, match="all arguments must be on one device"):
        v2vcore.residual_error(video.cuda(), flow_fwd, flow_bwd.cuda())


def test_cuda_tensors_without_cuda_kernels_say_how_to_rebuild(monkeypatch):
    monkeypatch.setattr(ops, "has_cuda_kernels", lambda: False)
    with pytest.raises(RuntimeError, match="built without CUDA kernels.*V2V_CUDA=1 pip install"):
        ops._require_kernels("residual_error", torch.device("cuda"))


def test_missing_extension_says_how_to_build(monkeypatch, tmp_path):
    monkeypatch.setattr(ops, "_C", None)
    monkeypatch.setattr(ops, "_LOAD_ERROR", ImportError("no module named v2vcore._C"))
    monkeypatch.setattr(ops, "_BUILD_INFO", tmp_path / "absent.json")
    assert not ops.has_cpu_kernels() and not ops.has_cuda_kernels()
    with pytest.raises(RuntimeError, match="could not be loaded.*built against an unknown torch.*pip install --no-build-isolation -e "):
        v2vcore.residual_error(*good_inputs())


def test_an_extension_that_does_not_load_names_both_torches_and_the_fix(monkeypatch, tmp_path):
    """What a user sees after an isolated build compiled against a CUDA torch that is not installed."""
    note = tmp_path / "_build_info.json"
    note.write_text(json.dumps({"torch": "2.14.1+cu130", "cuda": "13.0", "flavour": "CPU kernels only"}))
    monkeypatch.setattr(ops, "_C", None)
    monkeypatch.setattr(ops, "_LOAD_ERROR", ImportError("libc10_cuda.so: cannot open shared object file"))
    monkeypatch.setattr(ops, "_BUILD_INFO", note)
    with pytest.raises(RuntimeError) as raised:
        v2vcore.check_device("cpu")
    message = str(raised.value)
    assert "libc10_cuda.so" in message and "built against torch 2.14.1+cu130 (CUDA 13.0)" in message
    assert f"the installed one is torch {torch.__version__}" in message
    assert "pip install --no-build-isolation -e " in message


def test_the_build_leaves_a_note_of_its_torch_beside_the_extension():
    note = json.loads(ops._BUILD_INFO.read_text())
    assert note["torch"] == torch.__version__ and note["cuda"] == torch.version.cuda


# --- the CPU float32 kernels ------------------------------------------------------------------------
#
# The float32 SIMD path (csrc/cpu/residual_f32.cpp) reads frame t-1 through copies of just the rows
# that each band of rows reaches, and scatters through a ring of rows; the float64 path reads and
# writes whole frames. Flows whose sources lie rows apart make the bands reach far (whole-frame copies
# and rings); scattered outliers make a few bands reach far; sources out of the frame must be ignored.

CPU_FLOWS = {
    "smooth": lambda shape: random_flows(*shape, amplitude=3.0, noise=0.2, seed=50),
    "far_apart": lambda shape: far_apart_flows(*shape, seed=51),
    "outliers": lambda shape: far_apart_flows(*shape, reach=0.04, outliers=0.01, seed=52),
    "out_of_frame": lambda shape: far_apart_flows(*shape, reach=1.2, outliers=0.05, seed=53),
    "mixed": lambda shape: mixed_pairs(  # pairs copied whole and pairs copied band by band in one call
        random_flows(*shape, amplitude=2.0, noise=0.1, seed=60), far_apart_flows(*shape, seed=61)
    ),
}


def mixed_pairs(first, second):
    """Flow pairs ``(fwd, bwd)`` whose odd pairs come from ``second`` and even pairs from ``first``."""
    odd = torch.arange(first[0].shape[1]) % 2 == 1
    return tuple(torch.where(odd.view(1, -1, 1, 1, 1), b, a) for a, b in zip(first, second))


@pytest.mark.parametrize("flows", CPU_FLOWS)
def test_float32_cpu_kernels_match_float64_kernels(flows):
    batch, frames, channels, height, width = 2, 4, 5, 70, 61  # several bands of rows; a scalar tail
    video = random_video(batch, frames, channels, height, width, seed=54)
    flow_fwd, flow_bwd = (f.float() for f in CPU_FLOWS[flows]((batch, frames - 1, height, width)))
    fused, mask = v2vcore.residual_error(video.float(), flow_fwd, flow_bwd, return_mask=True)
    expected, expected_mask = v2vcore.residual_error(video, flow_fwd.double(), flow_bwd.double(), return_mask=True)
    assert expected_mask.any()
    assert_flips_at_ties(mask, expected_mask, flow_fwd, flow_bwd)
    assert_residual_close(fused, mask, expected, expected_mask, atol=1e-5)  # float32 tap weights at |s| ~ 70 px
    # The backward op takes any mask: the forward's, and one that marks pixels whose taps fall
    # outside the frame or anywhere in it.
    grad = torch.randn(fused.shape, generator=torch.Generator().manual_seed(55), dtype=torch.float64)
    any_mask = torch.rand(mask.shape, generator=torch.Generator().manual_seed(56)) < 0.5
    for some_mask in (mask, any_mask):
        torch.testing.assert_close(
            torch.ops.v2vcore.residual_error_backward(grad.float(), flow_bwd, some_mask).double(),
            torch.ops.v2vcore.residual_error_backward(grad, flow_bwd.double(), some_mask),
            atol=1e-4,  # float32 tap weights times gradients of up to ~4, a few per pixel
            rtol=1e-5,
        )


def test_float32_cpu_kernels_do_not_depend_on_the_thread_count():
    """The bands of rows depend on the thread count; the copies are exact, so the bits do not."""
    video = random_video(1, 4, 3, 70, 61, seed=57, dtype=torch.float32)
    flow_fwd, flow_bwd = (f.float() for f in far_apart_flows(1, 3, 70, 61, reach=0.1, outliers=0.01, seed=58))
    grad = torch.randn(1, 3, 3, 70, 61, generator=torch.Generator().manual_seed(59))
    results = []
    threads = torch.get_num_threads()
    try:
        for count in (1, 3, 5):
            torch.set_num_threads(count)
            fused, mask = v2vcore.residual_error(video, flow_fwd, flow_bwd, return_mask=True)
            results.append((fused, mask, torch.ops.v2vcore.residual_error_backward(grad, flow_bwd, mask)))
    finally:
        torch.set_num_threads(threads)
    assert results[0][1].any()
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))


# --- CPU output buffers ----------------------------------------------------------------------------


def test_large_outputs_reuse_cached_buffers_without_aliasing_live_tensors():
    """Outputs over 8 MiB come from a cache of buffers (csrc/cpu/buffer_cache.cpp)."""
    video = random_video(1, 3, 8, 300, 480, seed=40, dtype=torch.float32)  # residual: 2 x 8 x 300 x 480 floats
    flow_fwd, flow_bwd = (f.float() for f in random_flows(1, 2, 300, 480, amplitude=1.0, noise=0.05, seed=41))
    first = v2vcore.residual_error(video, flow_fwd, flow_bwd)
    assert first.nbytes >= 8 * 2**20
    expected = first.clone()
    second = v2vcore.residual_error(video * 2, flow_fwd, flow_bwd)
    assert second.data_ptr() != first.data_ptr()  # both alive: distinct buffers
    assert torch.equal(first, expected) and torch.equal(second, 2 * expected)
    del first
    # Freed buffers are reused, not faulted in afresh: a fresh 9 MB buffer costs ~2300 page faults.
    tripled = video * 3
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        third = None
        third = v2vcore.residual_error(tripled, flow_fwd, flow_bwd)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 1000
    torch.testing.assert_close(third, 3 * expected)
    third.mul_(0.5).add_(1)  # outputs are ordinary tensors for in-place maths
    assert second.data_ptr() != third.data_ptr() and torch.equal(second, 2 * expected)


def test_backward_workspaces_come_back_zeroed_between_calls():
    """The float32 backward's workspaces are cached zeroed (ZeroedScratch); each call must leave them so."""
    # Sources rows apart make each workspace a ring of the whole frame: 9 channels, two groups, 9 MB.
    video = random_video(1, 3, 9, 300, 480, seed=42, dtype=torch.float32)
    flow_fwd, flow_bwd = (f.float() for f in far_apart_flows(1, 2, 300, 480, seed=43))
    grad = torch.randn(1, 2, 9, 300, 480, generator=torch.Generator().manual_seed(44))

    def video_grad(g):
        leaf = video.clone().requires_grad_(True)
        v2vcore.residual_error(leaf, flow_fwd, flow_bwd).backward(g)
        return leaf.grad

    first = video_grad(grad)
    poisoned = grad.clone()
    poisoned[0, 0, 3, 100:140, 200:260] = float("nan")
    poisoned[0, 1, 8, 7:9] = float("inf")
    assert video_grad(poisoned).isnan().any()
    video_grad(grad * 3)
    assert torch.equal(video_grad(grad), first)


def test_cache_size_setting_is_validated(tmp_path):
    import subprocess
    import sys

    script = (
        "import torch, v2vcore\n"
        "v = torch.rand(1, 2, 9, 512, 512, requires_grad=True)\n"
        "b = torch.zeros(1, 1, 2, 512, 512)\n"
        "b[:, :, 1, :, :256], b[:, :, 1, :, 256:] = 200.0, -200.0  # sources rows apart: whole-frame rings\n"
        "for _ in range(2):  # the backward's 13 MiB rings: cached zeroed, or allocated zeroed each call\n"
        "    v2vcore.residual_error(v, -b, b).square().sum().backward()\n"
        "print(v.grad.abs().sum().item())\n"
    )
    for value, ok in (("0", True), ("64", True), ("lots", False), ("-1", False)):
        done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "V2V_CPU_CACHE_MB": value},
                              capture_output=True, text=True)
        assert (done.returncode == 0) == ok, done.stderr
        if not ok:
            assert "V2V_CPU_CACHE_MB must be a whole number of megabytes" in done.stderr


def test_the_rebuild_command_fits_an_editable_checkout_and_an_installed_copy(monkeypatch, tmp_path):
    assert ops._rebuild_command().startswith("pip install --no-build-isolation -e ")  # this source tree
    monkeypatch.setattr(ops, "_SOURCE_TREE", tmp_path / "site-packages")  # no setup.py, no csrc: a wheel's copy
    assert ops._rebuild_command() == ("pip install --no-build-isolation --force-reinstall --no-deps "
                                      "<the sdist or source folder you installed>")
