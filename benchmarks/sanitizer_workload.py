"""A small workload that launches every CUDA kernel of v2vcore once or twice, for compute-sanitizer.

    compute-sanitizer --tool memcheck --error-exitcode 1 python benchmarks/sanitizer_workload.py

Covers: residual_error forward (float32, float16, bfloat16, float64 frames; odd sizes; T=2; 1x1 and
1xW frames), its backward with float atomics and with the deterministic fixed-point scatter, warp
forward/backward (zeros and border padding, both scatter modes), consistency_mask, and the
non-finite flow check.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import v2vcore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inputs import make_inputs  # noqa: E402


def run_case(shape, dtype, deterministic):
    video, flow_fwd, flow_bwd = make_inputs(shape, dtype=dtype, device="cuda")
    if dtype == torch.float64:
        flow_fwd, flow_bwd = flow_fwd.double(), flow_bwd.double()
    torch.use_deterministic_algorithms(deterministic)
    video.requires_grad_(True)
    residual, mask = v2vcore.residual_error(video, flow_fwd, flow_bwd, return_mask=True)
    residual.backward(torch.randn_like(residual))
    x = video.detach()[:, 0].clone().requires_grad_(True)
    for padding in ("zeros", "border"):
        warped = v2vcore.warp(x, flow_bwd[:, 0], padding=padding)
        warped.backward(torch.randn_like(warped))
    v2vcore.consistency_mask(flow_fwd, flow_bwd)
    torch.use_deterministic_algorithms(False)
    return mask.float().mean().item()


def main() -> int:
    assert torch.cuda.is_available() and v2vcore.has_cuda_kernels(), "needs a GPU and the CUDA kernels"
    for shape in [(2, 3, 3, 37, 53), (1, 2, 6, 64, 64), (1, 3, 2, 1, 1), (1, 2, 1, 1, 29)]:
        for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
            for deterministic in (False, True):
                run_case(shape, dtype, deterministic)
    video, flow_fwd, flow_bwd = make_inputs((1, 2, 3, 16, 16), device="cuda")
    flow_bwd[0, 0, 0, 3, 3] = float("nan")
    try:
        v2vcore.residual_error(video, flow_fwd, flow_bwd)
    except ValueError:
        pass
    else:
        raise AssertionError("a NaN flow was not reported")
    torch.cuda.synchronize()
    print("sanitizer workload: every kernel ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
