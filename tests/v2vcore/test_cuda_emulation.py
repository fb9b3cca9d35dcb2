"""The CUDA kernels of csrc/cuda/ops_cuda.cu, run without a GPU and checked against the CPU kernels.

Backend "emulated": ``torch.ops.v2vcore_cuda_emulated``, the CUDA emulation (docs/op.md, "CUDA
emulation"): ops_cuda.cu compiled as C++, every block of every launch run on OpenMP threads with real
atomics, for CPU tensors. Built with ``V2V_CUDA_EMULATION=1 pip install --no-build-isolation -e .``;
without it these cases skip, and with ``V2V_REQUIRE_EMULATION=1`` (CI's emulation stage) they fail.
``V2V_EMULATION_LIBRARY=path.so`` loads the library from a file instead of ``v2vcore._C_cuda_emulated``
(``cuda_emulation_mutants.py`` points it at deliberately broken builds).

Backend "cuda": the same cases on a real GPU (``torch.ops.v2vcore`` on CUDA tensors, marked ``cuda``;
benchmarks/gpu_suite.sh runs them), so that the emulation's verdicts can be checked against the device.

What must hold, for each backend against the CPU kernels (``torch.ops.v2vcore`` on the CPU):
  - forward, mask, consistency_mask and warp: the same bits;
  - the deterministic (fixed-point) backward passes: the same bits, whatever the thread count, the
    order blocks and threads run in, the grid size, and the run;
  - the float-atomic backward passes: within the rounding of a sum taken in another order.
"Same bits" compares every element's bit pattern, except that a NaN only has to be a NaN (payloads
are not part of the op's contract, and a GPU's conversions may produce another NaN than the CPU's).
"""

from __future__ import annotations

import importlib
import math
import os
import random
from dataclasses import dataclass

import pytest
import torch

from op_inputs import (
    CUDA_AVAILABLE,
    affine_flows,
    deterministic_algorithms,
    far_apart_flows,
    random_flows,
    random_video,
    requires_kernels,
)

pytestmark = requires_kernels

FRAME_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
FLOW_DTYPES = [torch.float32, torch.float64]
DTYPE_PAIRS = [(frame, flow) for frame in FRAME_DTYPES for flow in FLOW_DTYPES]
PADDINGS = ["zeros", "border"]
BUILD_HINT = "build it with `V2V_CUDA_EMULATION=1 pip install --no-build-isolation -e .`"


def _load_emulation():
    """(torch.ops.v2vcore_cuda_emulated, None), or (None, why it could not be loaded)."""
    path = os.environ.get("V2V_EMULATION_LIBRARY", "")
    try:
        if path:
            torch.ops.load_library(path)
        else:
            importlib.import_module("v2vcore._C_cuda_emulated")
    except (ImportError, OSError, RuntimeError) as error:
        return None, f"the CUDA emulation could not be loaded ({error}); {BUILD_HINT}"
    return torch.ops.v2vcore_cuda_emulated, None


EMULATED, EMULATION_ERROR = _load_emulation()
REQUIRE_EMULATION = os.environ.get("V2V_REQUIRE_EMULATION", "") == "1"


@dataclass(frozen=True)
class Backend:
    """The ops under test: ``ops`` (a torch.ops namespace) on tensors moved to ``device``."""

    name: str
    ops: object
    device: str

    def put(self, tensor):
        return tensor.to(self.device)


@pytest.fixture(
    params=[
        "emulated",
        pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not CUDA_AVAILABLE, reason="needs a GPU and CUDA kernels")]),
    ]
)
def backend(request):
    threads = torch.get_num_threads()  # the cases set their own
    if request.param == "cuda":
        try:
            yield Backend("cuda", torch.ops.v2vcore, "cuda")
        finally:
            torch.set_num_threads(threads)
        return
    needs_emulation()
    # Every allocation junk-filled (NaN patterns): an output element that a kernel never writes, or
    # a workspace read before it is cleared, shows up as a difference.
    EMULATED.configure(0, 0, True)
    try:
        yield Backend("emulated", EMULATED, "cpu")
    finally:
        EMULATED.configure(0, 0, False)
        torch.set_num_threads(threads)


def needs_emulation():
    """Skip without the emulation, or fail where it is required (CI's emulation stage)."""
    if EMULATED is None:
        if REQUIRE_EMULATION:
            pytest.fail(f"V2V_REQUIRE_EMULATION=1 but {EMULATION_ERROR}")
        pytest.skip(EMULATION_ERROR)


def configure(backend, schedule_seed=0, max_blocks=0):
    """The emulation's launch settings (cuda_shim.h); a real GPU chooses its own schedule."""
    if backend.name == "emulated":
        backend.ops.configure(schedule_seed, max_blocks, True)


# --- comparisons -------------------------------------------------------------------------------------

_BITS = {
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
    torch.float32: torch.int32,
    torch.float64: torch.int64,
    torch.bool: torch.uint8,
}


def assert_same_bits(actual, expected, what):
    actual = actual.cpu()
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, the CPU kernels give {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)}, the CPU kernels give {tuple(expected.shape)}"
    if actual.is_floating_point():
        nan = actual.isnan()
        assert torch.equal(nan, expected.isnan()), f"{what}: NaN at other elements than on the CPU"
        actual, expected = actual.masked_fill(nan, 0), expected.masked_fill(nan, 0)
    differ = actual.view(_BITS[actual.dtype]) != expected.view(_BITS[expected.dtype])
    if differ.any():
        first = tuple(differ.nonzero()[0].tolist())
        raise AssertionError(
            f"{what}: {int(differ.sum())} of {differ.numel()} elements differ from the CPU kernels' bits; "
            f"first at {first}: {actual[first].item()!r} vs {expected[first].item()!r}"
        )


def assert_within_reordering(actual, expected, magnitude, acc_dtype, what):
    """A float sum taken in another order: |actual - expected| within a few roundings of sum |terms|.

    ``magnitude`` is the same op applied to |grad| (every weight is >= 0): the sum of |terms| of each
    element. Non-finite elements must match exactly (Inf + x and Inf - Inf do not depend on order).
    """
    actual = actual.cpu()
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, what
    output_eps = torch.finfo(actual.dtype).eps
    actual, expected, magnitude = actual.double(), expected.double(), magnitude.double()
    finite = torch.isfinite(expected)
    assert torch.equal(finite, torch.isfinite(actual)), f"{what}: non-finite at other elements than on the CPU"
    same_non_finite = (actual[~finite] == expected[~finite]) | (actual[~finite].isnan() & expected[~finite].isnan())
    assert same_non_finite.all(), f"{what}: another Inf or NaN than on the CPU"
    # Each element sums at most a few dozen terms; then one rounding to the output dtype.
    bound = (64 * torch.finfo(acc_dtype).eps + 2 * output_eps) * magnitude
    error = (actual - expected).abs()
    worst = (error - bound)[finite]
    if worst.numel() and worst.max() > 0:
        index = int(worst.argmax())
        raise AssertionError(
            f"{what}: the float-atomic result is off by {error[finite][index].item():.3g} where the reordering "
            f"bound is {bound[finite][index].item():.3g}"
        )


def acc_dtype(frame_dtype, flow_dtype):
    return torch.float64 if torch.float64 in (frame_dtype, flow_dtype) else torch.float32


# --- one case: every op of the backend against the CPU kernels -----------------------------------------


@dataclass(frozen=True)
class Case:
    batch: int
    frames: int
    channels: int
    height: int
    width: int
    frame_dtype: torch.dtype
    flow_dtype: torch.dtype
    flows: str = "smooth"  # smooth, far, affine, huge, nonfinite, zero
    amplitude: float = 2.0
    grad_scale: float = 1.0
    nonfinite_grad: bool = False
    threads: int = 2
    schedule_seed: int = 0
    max_blocks: int = 0
    seed: int = 0

    def __str__(self):
        frame = str(self.frame_dtype).removeprefix("torch.")
        flow = str(self.flow_dtype).removeprefix("torch.")
        return (
            f"{self.batch}x{self.frames}x{self.channels}x{self.height}x{self.width}-{frame}-{flow}-{self.flows}"
            f"{self.amplitude:g}-g{self.grad_scale:g}{'-nan' if self.nonfinite_grad else ''}-t{self.threads}"
            f"-s{self.schedule_seed}-b{self.max_blocks}-seed{self.seed}"
        )

    def inputs(self):
        """video [B, T, C, H, W], flow_fwd, flow_bwd [B, T-1, 2, H, W] and grad [B, T-1, C, H, W]."""
        b, t, c, h, w = self.batch, self.frames, self.channels, self.height, self.width
        seed = self.seed
        if self.flows == "zero" or b == 0:
            fwd = bwd = torch.zeros(b, t - 1, 2, h, w, dtype=torch.float64)
        elif self.flows == "far":
            fwd, bwd = far_apart_flows(b, t - 1, h, w, reach=0.5, outliers=0.05, seed=seed)
        elif self.flows == "affine":
            fwd, bwd = affine_flows(b, t - 1, h, w, seed=seed)
        else:
            fwd, bwd = random_flows(b, t - 1, h, w, amplitude=self.amplitude, noise=0.3, seed=seed)
        generator = torch.Generator().manual_seed(seed + 1)
        if self.flows in ("huge", "nonfinite") and fwd.numel():
            if self.flows == "huge":
                big = torch.finfo(self.flow_dtype).max
                choices = torch.tensor([1e6, -1e6, 1e30, -3e37, big, -big, 2.0**31, -(2.0**31) - 1], dtype=torch.float64)
            else:
                choices = torch.tensor([math.nan, math.inf, -math.inf], dtype=torch.float64)
            for flow in (fwd, bwd):
                hit = torch.rand(flow.shape, generator=generator) < 0.15
                picks = torch.randint(0, len(choices), flow.shape, generator=generator)
                flow[hit] = choices[picks[hit]]
        video = random_video(b, t, c, h, w, seed=seed + 2, dtype=self.frame_dtype)
        grad = torch.randn(b, t - 1, c, h, w, generator=generator, dtype=torch.float64) * self.grad_scale
        if self.nonfinite_grad and grad.numel():
            hit = torch.rand(grad.shape, generator=generator) < 0.02
            grad[hit] = torch.tensor([math.nan, math.inf, -math.inf], dtype=torch.float64)[
                torch.randint(0, 3, (int(hit.sum()),), generator=generator)
            ]
        return video, fwd.to(self.flow_dtype), bwd.to(self.flow_dtype), grad.to(self.frame_dtype)


def residual_backward_magnitude(grad, flow_bwd, mask):
    """Per element of dL/dvideo: |direct term| + the sum of |scattered terms|.

    The backward of |grad| gives direct - scattered with both parts >= 0 (the scatter is -c dL/dE
    times weights >= 0); the direct part alone is c |dL/dE| at frames 1..T-1.
    """
    abs_grad = grad.abs()
    batch, pairs, channels, height, width = grad.shape
    direct = torch.zeros(batch, pairs + 1, channels, height, width, dtype=torch.float64)
    direct[:, 1:] = torch.where(mask, abs_grad.double(), 0.0)
    both = torch.ops.v2vcore.residual_error_backward(abs_grad, flow_bwd, mask).double()
    return direct + (direct - both).clamp(min=0)


def check_case(backend, case):
    """Every op of ``backend`` against the CPU kernels on ``case``'s inputs."""
    cpu = torch.ops.v2vcore
    ops, put = backend.ops, backend.put
    video, fwd, bwd, grad = case.inputs()
    check = case.flows != "nonfinite"
    accumulate = acc_dtype(case.frame_dtype, case.flow_dtype)
    torch.set_num_threads(case.threads)
    configure(backend, case.schedule_seed, case.max_blocks)

    residual, mask = ops.residual_error(put(video), put(fwd), put(bwd), check)
    expected_residual, expected_mask = cpu.residual_error(video, fwd, bwd, check)
    assert_same_bits(mask, expected_mask, "residual_error mask")
    assert_same_bits(residual, expected_residual, "residual_error")
    pairs_fwd, pairs_bwd = fwd.flatten(0, 1), bwd.flatten(0, 1)
    assert_same_bits(
        ops.consistency_mask(put(pairs_fwd), put(pairs_bwd), check),
        cpu.consistency_mask(pairs_fwd, pairs_bwd, check),
        "consistency_mask",
    )
    # Both backward passes get the CPU's mask (what the autograd formula passes is the forward's).
    with deterministic_algorithms(True):
        assert_same_bits(
            ops.residual_error_backward(put(grad), put(bwd), put(expected_mask)),
            cpu.residual_error_backward(grad, bwd, expected_mask),
            "deterministic residual_error_backward",
        )
    with deterministic_algorithms(False):
        assert_within_reordering(
            ops.residual_error_backward(put(grad), put(bwd), put(expected_mask)),
            cpu.residual_error_backward(grad, bwd, expected_mask),
            residual_backward_magnitude(grad, bwd, expected_mask),
            accumulate,
            "float-atomic residual_error_backward",
        )

    x, flow, grad_x = video[:, 0], bwd[:, 0], grad[:, 0]
    for padding in PADDINGS:
        assert_same_bits(ops.warp(put(x), put(flow), padding, check), cpu.warp(x, flow, padding, check), f"warp {padding}")
        with deterministic_algorithms(True):
            assert_same_bits(
                ops.warp_backward(put(grad_x), put(flow), padding),
                cpu.warp_backward(grad_x, flow, padding),
                f"deterministic warp_backward {padding}",
            )
        with deterministic_algorithms(False):
            assert_within_reordering(
                ops.warp_backward(put(grad_x), put(flow), padding),
                cpu.warp_backward(grad_x, flow, padding),
                cpu.warp_backward(grad_x.abs(), flow, padding),
                accumulate,
                f"float-atomic warp_backward {padding}",
            )


def random_case(index):
    """Case ``index`` of the seeded random suite: every dtype pair in turn, odd shapes, all flow kinds,
    thread counts 1-4, permuted schedules and grids cut to a few blocks."""
    rng = random.Random(1000 + index)
    frame_dtype, flow_dtype = DTYPE_PAIRS[index % len(DTYPE_PAIRS)]
    return Case(
        batch=rng.choice([0, 1, 1, 1, 2, 2, 3]) if index % 23 else 0,
        frames=rng.choice([2, 2, 3, 4]),
        channels=rng.choice([1, 2, 3, 3, 4, 5, 9]),
        height=1 if index % 17 == 0 else rng.choice([1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 23, 31]),
        width=1 if index % 13 == 0 else rng.choice([1, 2, 3, 5, 7, 8, 11, 16, 19, 29, 33, 40]),
        frame_dtype=frame_dtype,
        flow_dtype=flow_dtype,
        flows=rng.choice(["smooth", "smooth", "smooth", "far", "affine", "huge", "nonfinite", "zero"]),
        amplitude=rng.choice([0.3, 1.0, 2.5, 6.0, 40.0]),
        grad_scale=rng.choice([1e-3, 1.0, 3.0, 1e4]),
        nonfinite_grad=rng.random() < 0.08,
        threads=rng.choice([1, 2, 3, 4]),
        schedule_seed=rng.choice([0, rng.randrange(1, 2**31)]),
        max_blocks=rng.choice([0, 0, 0, 1, 2, 3]),
        seed=index,
    )


RANDOM_CASES = [random_case(index) for index in range(240)]


@pytest.mark.parametrize("case", RANDOM_CASES, ids=str)
def test_random_case_matches_the_cpu_kernels(backend, case):
    check_case(backend, case)


def test_the_random_suite_covers_what_it_claims():
    """What the 240 random cases span (a change to random_case must keep it)."""
    assert {(c.frame_dtype, c.flow_dtype) for c in RANDOM_CASES} == set(DTYPE_PAIRS)
    assert {c.flows for c in RANDOM_CASES} == {"smooth", "far", "affine", "huge", "nonfinite", "zero"}
    assert {c.threads for c in RANDOM_CASES} == {1, 2, 3, 4}
    assert any(c.batch == 0 for c in RANDOM_CASES) and any(c.height == c.width == 1 and c.batch for c in RANDOM_CASES)
    assert sum(c.width % 2 == 1 and c.height % 2 == 1 for c in RANDOM_CASES) > 50
    assert sum(c.max_blocks > 0 for c in RANDOM_CASES) > 40 and sum(c.schedule_seed > 0 for c in RANDOM_CASES) > 60
    assert sum(c.nonfinite_grad for c in RANDOM_CASES) > 5


# --- the named cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("frame_dtype, flow_dtype", DTYPE_PAIRS, ids=str)
def test_every_dtype_combination(backend, frame_dtype, flow_dtype):
    check_case(backend, Case(2, 3, 3, 19, 27, frame_dtype, flow_dtype, amplitude=2.5, seed=7))


@pytest.mark.parametrize(
    "shape",
    [(0, 3, 2, 4, 5), (1, 2, 1, 1, 1), (2, 3, 3, 1, 1), (1, 2, 2, 1, 37), (1, 3, 2, 23, 1), (1, 2, 64, 5, 9), (3, 2, 1, 257, 3)],
    ids=lambda s: "x".join(map(str, s)),
)
@pytest.mark.parametrize("frame_dtype, flow_dtype", [(torch.float32, torch.float32), (torch.bfloat16, torch.float64)], ids=str)
def test_empty_one_pixel_and_odd_frames(backend, shape, frame_dtype, flow_dtype):
    check_case(backend, Case(*shape, frame_dtype, flow_dtype, amplitude=0.8, seed=8))


@pytest.mark.parametrize("flow_dtype", FLOW_DTYPES, ids=str)
def test_huge_flows(backend, flow_dtype):
    """Flows of up to the dtype's largest value: no tap, no scatter, nothing invalid read."""
    check_case(backend, Case(2, 3, 2, 11, 13, torch.float32, flow_dtype, flows="huge", seed=9))
    video = random_video(1, 2, 2, 6, 7, seed=10)
    for value in (1e6, -1e30, torch.finfo(flow_dtype).max, -torch.finfo(flow_dtype).max, 2.0**31):
        flow = torch.full((1, 1, 2, 6, 7), value, dtype=flow_dtype)
        residual, mask = backend.ops.residual_error(backend.put(video), backend.put(-flow), backend.put(flow), True)
        assert not mask.any() and (residual == 0).all()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_flows_raise_the_flag(backend, bad):
    video = random_video(2, 3, 2, 9, 10, seed=11, dtype=torch.float32)
    fwd, bwd = (f.float() for f in random_flows(2, 2, 9, 10, seed=12))
    message = "holds NaN or Inf; flows must be finite"
    for flows in ((fwd, bwd), (bwd, fwd)):
        broken = flows[0].clone()
        broken[1, 1, 0, 8, 9] = bad  # the last pixel of the last pair: the last thread of the grid
        with pytest.raises(ValueError, match=message):
            backend.ops.residual_error(backend.put(video), backend.put(broken), backend.put(flows[1]), True)
        with pytest.raises(ValueError, match=message):
            backend.ops.consistency_mask(backend.put(broken[:, 1]), backend.put(flows[1][:, 1]), True)
        with pytest.raises(ValueError, match=message):
            backend.ops.warp(backend.put(video[:, 0]), backend.put(broken[:, 1]), "border", True)
    # Unchecked, the pixel is merely invalid, as on the CPU.
    check_case(backend, Case(2, 3, 2, 9, 10, torch.float32, torch.float32, flows="nonfinite", seed=13))


@pytest.mark.parametrize("frame_dtype", [torch.float32, torch.bfloat16, torch.float64], ids=str)
def test_non_finite_gradient_where_nothing_scatters_stays_out(backend, frame_dtype):
    """NaN and Inf in the gradient where nothing scatters (pixels the mask drops; warp samples with no
    tap) must not reach the deterministic scale (determinism.h): the result is finite, the CPU's bits."""
    flow_bwd = torch.zeros(1, 2, 2, 6, 9)
    flow_bwd[:, :, 0] = 0.5  # the last column samples outside the frame: mask 0 there
    mask = torch.ops.v2vcore.consistency_mask(-flow_bwd.flatten(0, 1), flow_bwd.flatten(0, 1), True).unflatten(0, (1, 2))
    assert not mask[..., 8].any() and mask[..., :8].all()
    grad = torch.randn(1, 2, 2, 6, 9, generator=torch.Generator().manual_seed(17)).to(frame_dtype)
    grad[0, 0, 1, 2, 8], grad[0, 1, 0, 4, 8] = math.nan, math.inf
    flow = torch.zeros(1, 2, 5, 7)
    flow[0, 0, 2, 3] = 50.0  # sampled far outside: no tap
    grad_x = torch.randn(1, 2, 5, 7, generator=torch.Generator().manual_seed(18)).to(frame_dtype)
    grad_x[0, 1, 2, 3] = math.inf
    with deterministic_algorithms(True):
        result = backend.ops.residual_error_backward(backend.put(grad), backend.put(flow_bwd), backend.put(mask))
        assert torch.isfinite(result).all()
        assert_same_bits(result, torch.ops.v2vcore.residual_error_backward(grad, flow_bwd, mask), "residual_error_backward")
        result = backend.ops.warp_backward(backend.put(grad_x), backend.put(flow), "zeros")
        assert torch.isfinite(result).all()
        assert_same_bits(result, torch.ops.v2vcore.warp_backward(grad_x, flow, "zeros"), "warp_backward")


def test_deterministic_backward_across_threads_schedules_grids_and_runs(backend):
    """The fixed-point scatter gives the CPU's bits whatever the order its atomics land in."""
    video, fwd, bwd, grad = Case(2, 4, 5, 33, 47, torch.float32, torch.float32, amplitude=3.0, seed=14).inputs()
    mask = torch.ops.v2vcore.consistency_mask(fwd.flatten(0, 1), bwd.flatten(0, 1), True).unflatten(0, (2, 3))
    with deterministic_algorithms(True):
        expected = torch.ops.v2vcore.residual_error_backward(grad, bwd, mask)
        expected_warp = torch.ops.v2vcore.warp_backward(grad[:, 0], bwd[:, 0], "zeros")
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            for schedule_seed, max_blocks in ((0, 0), (0, 0), (1, 0), (2, 7), (3, 1), (12345, 2)):
                configure(backend, schedule_seed, max_blocks)
                what = f"{threads} threads, schedule {schedule_seed}, at most {max_blocks or 'all'} blocks"
                assert_same_bits(
                    backend.ops.residual_error_backward(backend.put(grad), backend.put(bwd), backend.put(mask)),
                    expected,
                    f"residual_error_backward, {what}",
                )
                assert_same_bits(
                    backend.ops.warp_backward(backend.put(grad[:, 0]), backend.put(bwd[:, 0]), "zeros"),
                    expected_warp,
                    f"warp_backward, {what}",
                )


def contracting_flows(height, width):
    """flow_bwd that sends every pixel to a quarter-size copy around the centre: each target pixel
    gathers the scatter of ~16 pixels, so the order of a float sum shows in its last bits."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij")
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    flow = torch.stack([-0.75 * (xs - centre_x), -0.75 * (ys - centre_y)]).float()
    return flow.view(1, 1, 2, height, width)


def test_float_atomics_land_in_another_order_under_another_schedule():
    """The emulation's float atomics really sum in the order the threads run: another schedule gives
    other last bits (so the bitwise checks of the fixed-point path above are not trivially met),
    within the rounding bound of the CPU's sum."""
    needs_emulation()
    flow = contracting_flows(40, 40)
    mask = torch.ones(1, 1, 1, 40, 40, dtype=torch.bool)
    grad = torch.randn(1, 1, 3, 40, 40, generator=torch.Generator().manual_seed(15))
    threads = torch.get_num_threads()
    results = []
    try:
        torch.set_num_threads(1)  # one thread: the order is the schedule's alone
        with deterministic_algorithms(False):
            for schedule_seed in range(4):
                EMULATED.configure(schedule_seed, 0, False)
                results.append(EMULATED.residual_error_backward(grad, flow, mask))
            again = EMULATED.residual_error_backward(grad, flow, mask)
            expected = torch.ops.v2vcore.residual_error_backward(grad, flow, mask)
            magnitude = residual_backward_magnitude(grad, flow, mask)
    finally:
        EMULATED.configure(0, 0, False)
        torch.set_num_threads(threads)
    assert torch.equal(again, results[-1]), "one thread and one schedule: the same order, the same bits"
    assert len({tuple(r.view(torch.int32).flatten().tolist()) for r in results}) > 1, "the schedules did not change the sums' order"
    for result in results:
        assert_within_reordering(result, expected, magnitude, torch.float32, "float-atomic residual_error_backward")


# --- the emulated library itself ---------------------------------------------------------------------

SHARED_OPS = [
    "residual_error",
    "residual_error_backward",
    "warp",
    "warp_backward",
    "consistency_mask",
    "built_with_cuda",
    "built_cuda_archs",
    "cuda_kernel_image_error",
]


@pytest.mark.parametrize("name", SHARED_OPS)
def test_the_emulated_ops_have_the_schemas_of_v2vcore(name):
    needs_emulation()
    schema = str(getattr(torch.ops.v2vcore, name).default._schema)
    emulated = str(getattr(EMULATED, name).default._schema)
    assert schema.startswith("v2vcore::") and emulated == schema.replace("v2vcore::", "v2vcore_cuda_emulated::", 1)


def test_the_emulated_ops_launch_the_cuda_kernels():
    """Each emulated op runs the launches of ops_cuda.cu's host code (not the CPU kernels)."""
    needs_emulation()
    video, fwd, bwd, grad = Case(1, 3, 2, 6, 9, torch.float32, torch.float32, seed=16).inputs()
    half_grad = grad.half()

    def launches(call):
        before = EMULATED.launches()
        call()
        return EMULATED.launches() - before

    _, mask = torch.ops.v2vcore.residual_error(video, fwd, bwd, True)
    assert launches(lambda: EMULATED.residual_error(video, fwd, bwd, True)) == 1
    assert launches(lambda: EMULATED.consistency_mask(fwd[:, 0], bwd[:, 0], True)) == 1
    assert launches(lambda: EMULATED.warp(video[:, 0], bwd[:, 0], "zeros", True)) == 1
    with deterministic_algorithms(True):  # scale, scatter, gather (or convert)
        assert launches(lambda: EMULATED.residual_error_backward(grad, bwd, mask)) == 3
        assert launches(lambda: EMULATED.warp_backward(grad[:, 0], bwd[:, 0], "zeros")) == 3
    with deterministic_algorithms(False):  # scatter, gather; float32 warp: scatter into the output
        assert launches(lambda: EMULATED.residual_error_backward(grad, bwd, mask)) == 2
        assert launches(lambda: EMULATED.warp_backward(grad[:, 0], bwd[:, 0], "zeros")) == 1
        assert launches(lambda: EMULATED.warp_backward(half_grad[:, 0], bwd[:, 0], "zeros")) == 2
    assert launches(lambda: EMULATED.residual_error(video[:0], fwd[:0], bwd[:0], True)) == 0  # nothing to launch
    assert EMULATED.built_with_cuda() and EMULATED.built_cuda_archs() == "emulated"
    assert EMULATED.cuda_kernel_image_error(0) == ""


def test_the_emulated_ops_take_cpu_tensors_only():
    needs_emulation()
    with pytest.raises(NotImplementedError):  # no kernel for another device in the emulated library
        EMULATED.warp(torch.zeros(1, 1, 2, 2, device="meta"), torch.zeros(1, 2, 2, 2, device="meta"), "zeros", True)
    with pytest.raises(ValueError, match="schedule_seed must be >= 0"):
        EMULATED.configure(-1, 0, False)
    with pytest.raises(ValueError, match="max_blocks must be >= 0"):
        EMULATED.configure(0, -2, False)
