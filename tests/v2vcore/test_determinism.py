"""The deterministic (fixed-point) backward: its scale, what the scale is bounded over, CPU vs CUDA bits,
and CUDA graphs. The CUDA tests are skipped without a GPU (`-m cuda`)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

import v2vcore

from op_inputs import CUDA_AVAILABLE, DEVICES, deterministic_algorithms, random_flows, random_video, requires_kernels

pytestmark = requires_kernels
needs_cuda = [pytest.mark.cuda, pytest.mark.skipif(not CUDA_AVAILABLE, reason="needs a GPU and CUDA kernels")]


def exact_scale(max_abs: float, plane: int) -> float:
    """The fixed-point scale of docs/op.md: 2^(62 - e), e the least integer with 2 H W max|g| <= 2^e."""
    bound = max_abs * plane * 2.0
    if math.isinf(bound):  # the product overflows: bound it by the exponents of its factors
        exponent = math.frexp(max_abs)[1] + math.frexp(plane * 2.0)[1]
    else:
        mantissa, exponent = math.frexp(bound)
        exponent = exponent - 1 if mantissa == 0.5 else exponent
    return math.ldexp(1.0, max(-1000, min(1000, 62 - exponent)))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("max_abs", [1.0, 2.0**-30, 3.0, 1.5 * 2.0**40, 1e308, 2.0**1023])
def test_fixed_point_scale_is_exact(device, max_abs):
    # Zero flow: every pixel scatters its own gradient with weight 1, so the result is the gradient
    # rounded to a multiple of 1/scale. A second value of 0.625/scale rounds to 1/scale at the exact
    # scale, and to a different value at twice or half of it, so the test sees the exponent.
    height, width = 8, 8
    scale = exact_scale(max_abs, height * width)
    grad = torch.zeros(1, 1, height, width, dtype=torch.float64)
    grad[0, 0, 0, 0] = max_abs
    grad[0, 0, 5, 3] = 0.625 / scale
    grad[0, 0, 7, 7] = -2.5 / scale  # ties round to even: -2
    flow = torch.zeros(1, 2, height, width, dtype=torch.float64)
    with deterministic_algorithms(True):
        out = torch.ops.v2vcore.warp_backward(grad.to(device), flow.to(device), "zeros").cpu()
    assert out[0, 0, 5, 3].item() == 1.0 / scale
    assert out[0, 0, 7, 7].item() == -2.0 / scale
    assert out[0, 0, 0, 0].item() == round(max_abs * scale) / scale
    assert math.isfinite(out[0, 0, 0, 0].item())


def masked_out_corner_inputs(dtype):
    """A clip whose flow sends the last column out of the frame (mask 0 there), and a gradient with
    NaN and Inf at two of those masked-out pixels."""
    video = random_video(1, 3, 2, 6, 9, seed=40, dtype=dtype)
    flow_bwd = torch.zeros(1, 2, 2, 6, 9)
    flow_bwd[:, :, 0] = 0.5  # x + 0.5 > W - 1 for the last column: outside, mask 0
    flow_fwd = -flow_bwd
    grad = torch.randn(1, 2, 2, 6, 9, generator=torch.Generator().manual_seed(41)).to(dtype)
    grad[0, 0, 1, 2, 8] = float("nan")
    grad[0, 1, 0, 4, 8] = float("inf")
    return video, flow_fwd, flow_bwd, grad


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_non_finite_gradient_at_a_masked_out_pixel_stays_out(device, dtype):
    video, flow_fwd, flow_bwd, grad = masked_out_corner_inputs(dtype)
    grads = {}
    for deterministic in (False, True):
        v = video.to(device).detach().clone().requires_grad_(True)  # a fresh leaf: on the CPU .to is a no-op
        with deterministic_algorithms(deterministic):
            residual, mask = v2vcore.residual_error(v, flow_fwd.to(device), flow_bwd.to(device), return_mask=True)
            residual.backward(grad.to(device))
        assert not mask[0, :, 0, :, 8].any()
        grads[deterministic] = v.grad.cpu().double()
    assert torch.isfinite(grads[True]).all() and torch.isfinite(grads[False]).all()
    # The fixed-point and the float sum round differently: by a unit of the output dtype at most.
    atol = {torch.float32: 1e-5, torch.float64: 1e-12, torch.bfloat16: 2e-2}[dtype]
    torch.testing.assert_close(grads[True], grads[False], atol=atol, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("padding", ["zeros", "border"])
def test_non_finite_gradient_of_a_warp_sample_without_taps_stays_out(device, padding):
    flow = torch.zeros(1, 2, 5, 7, dtype=torch.float64)
    grad = torch.randn(1, 2, 5, 7, generator=torch.Generator().manual_seed(42), dtype=torch.float64)
    if padding == "zeros":
        flow[0, 0, 2, 3] = 50.0  # sampled far outside: no tap, nothing scattered
    else:
        flow[0, :, 2, 3] = float("nan")  # border padding gives every other sample taps
    grad[0, 1, 2, 3] = float("inf")
    results = {}
    for deterministic in (False, True):
        with deterministic_algorithms(deterministic):
            results[deterministic] = torch.ops.v2vcore.warp_backward(grad.to(device), flow.to(device), padding).cpu()
    assert torch.isfinite(results[True]).all()
    torch.testing.assert_close(results[True], results[False], atol=1e-9, rtol=0)


# --- CUDA: the same bits as the CPU, and CUDA graphs ---------------------------------------------------

EDGE_SHAPES = [(1, 2, 1, 1, 1), (1, 2, 3, 1, 9), (1, 2, 3, 9, 1), (2, 3, 5, 7, 13), (1, 2, 9, 33, 40)]


@pytest.mark.parametrize("shape", EDGE_SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("flow_dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
def test_cpu_and_cuda_deterministic_backward_are_bitwise_equal(device, shape, dtype, flow_dtype):
    batch, frames, channels, height, width = shape
    flow_fwd, flow_bwd = (f.to(flow_dtype) for f in random_flows(batch, frames - 1, height, width, seed=43))
    video = random_video(*shape, seed=44, dtype=dtype)
    grad = (torch.randn(batch, frames - 1, channels, height, width, generator=torch.Generator().manual_seed(45)) * 3).to(
        dtype
    )
    results = {}
    for dev in ("cpu", device):
        with deterministic_algorithms(True):
            # The CPU's mask is given to both backward passes: a float32 mask may flip at a tie.
            _, mask = v2vcore.residual_error(video, flow_fwd, flow_bwd, return_mask=True)
            grad_video = torch.ops.v2vcore.residual_error_backward(grad.to(dev), flow_bwd.to(dev), mask.to(dev))
            grad_x = torch.ops.v2vcore.warp_backward(grad[:, 0].to(dev), flow_bwd[:, 0].to(dev), "border")
        results[dev] = (grad_video.cpu(), grad_x.cpu())
    for cpu_result, cuda_result in zip(results["cpu"], results[device]):
        assert cpu_result.dtype == cuda_result.dtype
        assert torch.equal(cpu_result.view(torch.uint8), cuda_result.view(torch.uint8))


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
@pytest.mark.parametrize("deterministic", [False, True])
def test_cuda_graph_replay_matches_eager(device, deterministic):
    video = random_video(2, 4, 3, 24, 40, seed=46, dtype=torch.float32).to(device)
    flow_fwd, flow_bwd = (f.float().to(device) for f in random_flows(2, 3, 24, 40, seed=47))
    grad = torch.randn(2, 3, 3, 24, 40, generator=torch.Generator().manual_seed(48)).to(device)
    static_video = video.clone().requires_grad_(True)

    def step():
        static_video.grad = None
        residual = v2vcore.residual_error(static_video, flow_fwd, flow_bwd, check_flows=False)
        residual.backward(grad)
        return residual.detach(), static_video.grad

    with deterministic_algorithms(deterministic):
        eager_residual, eager_grad = (t.clone() for t in step())
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            step()  # warm-up on a side stream, as torch.cuda.graphs asks
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        static_video.grad = None
        with torch.cuda.graph(graph):
            graph_residual, graph_grad = step()
        with torch.no_grad():
            static_video.copy_(video * 0.5)
        graph.replay()
        torch.cuda.synchronize()
        new_residual, new_grad = (t.clone() for t in step())
    assert torch.equal(graph_residual, new_residual)
    if deterministic:
        assert torch.equal(graph_grad, new_grad)
    else:
        torch.testing.assert_close(graph_grad, new_grad, atol=1e-6, rtol=1e-6)
    assert not torch.equal(graph_residual, eager_residual)  # the replay saw the new input


CAPTURE_SCRIPT = """
import warnings, torch, v2vcore
video = torch.rand(1, 2, 1, 8, 8, device="cuda")
flow = torch.zeros(1, 1, 2, 8, 8, device="cuda")
v2vcore.residual_error(video, flow, flow)  # warm-up
graph = torch.cuda.CUDAGraph()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with torch.cuda.graph(graph):
        v2vcore.residual_error(video, flow, flow)
        v2vcore.residual_error(video, flow, flow)
        v2vcore.residual_error(video, flow, flow, check_flows=False)
print(sum("CUDA graph is being captured" in str(w.message) for w in caught))
"""


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
def test_flow_check_skipped_under_graph_capture_is_said_once(device):
    # A fresh process: the warning is once per process.
    result = subprocess.run([sys.executable, "-c", CAPTURE_SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1"


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
def test_check_device_accepts_this_gpu(device):
    v2vcore.check_device(device)
    assert torch.ops.v2vcore.cuda_kernel_image_error(torch.cuda.current_device()) == ""
