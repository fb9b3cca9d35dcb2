"""Inputs shared by the v2vcore op tests: smooth random flows, exact affine flows, devices, margins,
and the deterministic-mode switch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import v2vcore
from v2vcore import reference

requires_kernels = pytest.mark.skipif(not v2vcore.has_cpu_kernels(), reason="v2vcore._C is not built")


class deterministic_algorithms:
    """Context manager: torch.use_deterministic_algorithms(mode), restored on exit."""

    def __init__(self, mode: bool):
        self.mode = mode

    def __enter__(self):
        self.previous = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(self.mode)

    def __exit__(self, *exc):
        torch.use_deterministic_algorithms(self.previous)


CUDA_AVAILABLE = torch.cuda.is_available() and v2vcore.has_cuda_kernels()

# Every op test runs on the CPU, and on CUDA where a GPU and the CUDA kernels are present.
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not CUDA_AVAILABLE, reason="needs a GPU and CUDA kernels")]
    ),
]


def random_flows(batch, pairs, height, width, amplitude=2.0, noise=0.3, seed=0):
    """Backward flows and roughly consistent forward flows ``[B, P, 2, H, W]`` (float64).

    Per pair: a random translation of up to ``amplitude`` px, a gentle wave, and a step of up to
    ``amplitude`` px across a random vertical line (a motion boundary); ``flow_fwd = -flow_bwd +
    noise``, so that some pixels pass the forward-backward test and some fail, and translations
    push some sources out of the frame.
    """
    generator = torch.Generator().manual_seed(seed)

    def uniform(*shape):
        return torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1

    ys = torch.arange(height, dtype=torch.float64).view(height, 1) / max(height, 1)
    xs = torch.arange(width, dtype=torch.float64).view(1, width) / max(width, 1)
    flows = []
    for _ in range(batch * pairs):
        flow = torch.empty(2, height, width, dtype=torch.float64)
        split = torch.randint(0, width + 1, (1,), generator=generator).item()
        for k in range(2):
            translation, wave, step, phase = uniform(4).tolist()
            field = amplitude * translation + 0.05 * amplitude * wave * torch.sin(2 * math.pi * (xs + ys) + 3 * phase)
            field = field + amplitude * step * (torch.arange(width) >= split).double().view(1, width)
            flow[k] = field
        flows.append(flow)
    shape = (batch, pairs, 2, height, width)
    flow_bwd = torch.stack(flows).view(shape) if flows else torch.zeros(shape, dtype=torch.float64)
    flow_fwd = -flow_bwd + noise * torch.randn(shape, generator=generator, dtype=torch.float64)
    return flow_fwd, flow_bwd


def affine_flows(batch, pairs, height, width, seed=0):
    """Exact forward/backward flows ``[B, P, 2, H, W]`` (float64) of per-pair affine motions."""
    generator = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
    )
    points = torch.stack([xs - (width - 1) / 2, ys - (height - 1) / 2])
    fwd, bwd = [], []
    for _ in range(batch * pairs):
        angle, zoom, tx, ty = (torch.rand(4, generator=generator, dtype=torch.float64) * 2 - 1).tolist()
        cos = math.cos(math.radians(2 * angle)) * (1 + 0.01 * zoom)
        sin = math.sin(math.radians(2 * angle)) * (1 + 0.01 * zoom)
        matrix = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
        offset = torch.tensor([4 * tx, 3 * ty], dtype=torch.float64)[:, None, None]
        bwd.append(torch.einsum("ij,jhw->ihw", matrix, points) + offset - points)
        fwd.append(torch.einsum("ij,jhw->ihw", torch.linalg.inv(matrix), points - offset) - points)
    shape = (batch, pairs, 2, height, width)
    return torch.stack(fwd).view(shape), torch.stack(bwd).view(shape)


def far_apart_flows(batch, pairs, height, width, reach=0.45, outliers=0.0, seed=0):
    """Exact forward/backward flows ``[B, P, 2, H, W]`` (float64) whose sources lie rows apart.

    Columns slide vertically by up to ``reach * H`` px, by a different amount in each column band, so
    that the pixels of one row sample rows far apart (the CPU float32 kernels then copy and scatter
    through whole frames rather than bands of rows). ``outliers`` is the fraction of pixels given a
    random vertical flow of up to ``reach * H`` px on top.
    """
    generator = torch.Generator().manual_seed(seed)
    flow_bwd = torch.zeros(batch * pairs, 2, height, width, dtype=torch.float64)
    for flow in flow_bwd:
        shifts = (torch.rand(4, generator=generator, dtype=torch.float64) * 2 - 1) * reach * height
        flow[1] = shifts.repeat_interleave(-(-width // 4))[:width].view(1, width)
        stray = torch.rand(height, width, generator=generator) < outliers
        flow[1][stray] += (torch.rand(int(stray.sum()), generator=generator, dtype=torch.float64) * 2 - 1) * reach * height
    flow_bwd = flow_bwd.view(batch, pairs, 2, height, width)
    return -flow_bwd, flow_bwd


def random_video(batch, frames, channels, height, width, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((batch, frames, channels, height, width), generator=generator, dtype=torch.float64).to(dtype)


def threshold_margins(flow_fwd: torch.Tensor, flow_bwd: torch.Tensor) -> torch.Tensor:
    """Distance of each pixel's tests from their thresholds, ``[..., 1, H, W]`` float64.

    The smallest of |lhs - rhs| over the inside, occlusion and motion-boundary tests, computed in
    float64 by the reference's formulas: a pixel whose mask a float32 kernel may legitimately flip
    sits within float32 rounding of one of them.
    """
    shape = flow_bwd.shape
    fwd = flow_fwd.reshape(-1, 2, *shape[-2:]).double()
    bwd = flow_bwd.reshape(-1, 2, *shape[-2:]).double()
    height, width = shape[-2:]
    ys = torch.arange(height, dtype=torch.float64).view(1, height, 1)
    xs = torch.arange(width, dtype=torch.float64).view(1, 1, width)
    sx, sy = xs + bwd[:, 0], ys + bwd[:, 1]
    inside = torch.stack([sx, (width - 1) - sx, sy, (height - 1) - sy]).abs().amin(0)
    warped = reference._bilinear(fwd, sx, sy, "zeros")
    lhs = ((warped + bwd) ** 2).sum(1)
    rhs = reference.OCCLUSION_RELATIVE * ((warped**2).sum(1) + (bwd**2).sum(1)) + reference.OCCLUSION_ABSOLUTE
    padded = F.pad(bwd, (1, 1, 1, 1), mode="replicate")
    gx = 0.5 * (padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2])
    gy = 0.5 * (padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1])
    b_lhs = (gx**2 + gy**2).sum(1)
    b_rhs = reference.BOUNDARY_RELATIVE * (bwd**2).sum(1) + reference.BOUNDARY_ABSOLUTE
    margin = torch.minimum(torch.minimum(inside, (lhs - rhs).abs()), (b_lhs - b_rhs).abs())
    return margin.view(*shape[:-3], 1, height, width)
