"""The fused residual-error op against the pure-PyTorch reference, eager and torch.compile'd.

Every case of one (device, dtype, shape, mode) shares a benchmark group, so one run measures the
three side by side; a ``copy`` case in the same group times a plain copy of the bytes the op must
move at minimum (the roofline's reference bandwidth). ``benchmarks/report.py`` turns the JSON into
ratios and fractions of that bandwidth.

The fused op runs with ``check_flows=False``, as the training loop calls it (flows are validated
when loaded); the reference checks nothing either.
"""

from __future__ import annotations

import os

import pytest
import torch
from conftest import requires_cuda, synchronize

import v2vcore
from v2vcore import reference

from inputs import make_inputs, minimum_bytes

CPU_SHAPES = [(1, 8, 6, 480, 854)]
if os.environ.get("V2V_BENCH_ALL_SHAPES") == "1":
    CPU_SHAPES += [(4, 5, 6, 256, 256), (1, 4, 6, 1080, 1920)]
GPU_SHAPES = [(1, 8, 6, 480, 854), (4, 5, 6, 256, 256), (1, 4, 6, 1080, 1920)]

CASES = [pytest.param("cpu", torch.float32, shape, id=f"cpu-float32-{'x'.join(map(str, shape))}") for shape in CPU_SHAPES]
CASES += [
    pytest.param("cuda", dtype, shape, id=f"cuda-{str(dtype)[6:]}-{'x'.join(map(str, shape))}", marks=requires_cuda)
    for dtype in (torch.float32, torch.bfloat16)
    for shape in GPU_SHAPES
]
IMPLEMENTATIONS = ["fused", "eager", "compiled", "copy"]
MODES = ["forward", "forward_backward"]


def fused(video, flow_fwd, flow_bwd):
    return v2vcore.residual_error(video, flow_fwd, flow_bwd, check_flows=False)


_compiled = {}


def compiled_reference(device):
    if device not in _compiled:
        _compiled[device] = torch.compile(reference.residual_error, dynamic=False)
    return _compiled[device]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("device, dtype, shape", CASES)
def test_residual_error(benchmark, device, dtype, shape, implementation, mode):
    video, flow_fwd, flow_bwd = make_inputs(shape, dtype=dtype, device=device)
    batch, frames, channels, height, width = shape
    nbytes = minimum_bytes(shape, dtype, mode)
    benchmark.group = f"residual_error {device} {str(dtype)[6:]} {'x'.join(map(str, shape))} {mode}"
    benchmark.extra_info.update(
        implementation=implementation, mode=mode, device=device, dtype=str(dtype)[6:], shape=list(shape),
        minimum_bytes=nbytes,
    )
    if implementation == "copy":
        source = torch.empty(nbytes // 2, dtype=torch.uint8, device=device).fill_(1)
        target = torch.empty_like(source)

        def run():
            target.copy_(source)
            synchronize(device)

    else:
        function = {"fused": fused, "eager": reference.residual_error}.get(implementation) or compiled_reference(device)
        if mode == "forward":

            def run():
                with torch.no_grad():
                    function(video, flow_fwd, flow_bwd)
                synchronize(device)

        else:
            leaf = video.detach().requires_grad_(True)
            grad = torch.randn((batch, frames - 1, channels, height, width), device=device).to(dtype)

            def run():
                leaf.grad = None
                function(leaf, flow_fwd, flow_bwd).backward(grad)
                synchronize(device)

    for _ in range(2):  # warm-up, outside the timed rounds: compilation, allocator, caches
        run()
    rounds = 20 if device == "cuda" else (5 if implementation in ("eager", "compiled") else 10)
    benchmark.pedantic(run, rounds=rounds, iterations=1, warmup_rounds=1)
