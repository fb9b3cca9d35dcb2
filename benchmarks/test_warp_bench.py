"""``v2vcore.warp`` against ``torch.nn.functional.grid_sample`` (the reference's warp), forward and
forward+backward, on one frame batch of the op benchmark's shape."""

from __future__ import annotations

import pytest
import torch
from conftest import requires_cuda, synchronize

import v2vcore
from v2vcore import reference

from inputs import make_inputs

CASES = [
    pytest.param("cpu", torch.float32, id="cpu-float32"),
    pytest.param("cuda", torch.float32, id="cuda-float32", marks=requires_cuda),
    pytest.param("cuda", torch.bfloat16, id="cuda-bfloat16", marks=requires_cuda),
]


@pytest.mark.parametrize("mode", ["forward", "forward_backward"])
@pytest.mark.parametrize("implementation", ["fused", "grid_sample"])
@pytest.mark.parametrize("device, dtype", CASES)
def test_warp(benchmark, device, dtype, implementation, mode):
    video, _, flow_bwd = make_inputs((1, 8, 6, 480, 854), dtype=dtype, device=device)
    frames, flow = video[:, :-1].flatten(0, 1).contiguous(), flow_bwd.flatten(0, 1).contiguous()
    benchmark.group = f"warp {device} {str(dtype)[6:]} {tuple(frames.shape)} {mode}"
    benchmark.extra_info.update(implementation=implementation, mode=mode, device=device, dtype=str(dtype)[6:])
    function = (lambda x: v2vcore.warp(x, flow, check_flow=False)) if implementation == "fused" else (
        lambda x: reference.warp(x, flow)
    )
    leaf = frames.detach().requires_grad_(mode == "forward_backward")
    grad = torch.randn(frames.shape, device=device).to(dtype)

    def run():
        if mode == "forward":
            with torch.no_grad():
                function(leaf)
        else:
            leaf.grad = None
            function(leaf).backward(grad)
        synchronize(device)

    for _ in range(2):
        run()
    benchmark.pedantic(run, rounds=20 if device == "cuda" else 8, iterations=1, warmup_rounds=1)
