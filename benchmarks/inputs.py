"""Benchmark inputs: videos with smooth, mutually consistent forward and backward flows.

The flows are an exact affine camera motion (a small rotation, zoom and translation per frame pair),
so that most pixels pass the occlusion and motion-boundary tests as they do on
real footage (the scatter of the backward only runs for valid pixels, so an all-invalid input would
flatter the kernels).
"""

from __future__ import annotations

import math

import torch


def affine_flows(pairs: int, height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward flows ``[pairs, 2, H, W]`` (float64) of per-pair affine motions.

    ``flow_bwd`` maps frame k+1 to k: p -> M p + t; ``flow_fwd`` is its exact inverse, so the
    forward-backward test passes wherever the source lies inside the frame.
    """
    generator = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij"
    )
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    fwd, bwd = [], []
    for _ in range(pairs):
        angle, zoom, tx, ty = (torch.rand(4, generator=generator, dtype=torch.float64) * 2 - 1).tolist()
        angle, zoom = angle * math.radians(0.5), 1 + 0.005 * zoom
        tx, ty = 3 * tx, 2 * ty
        cos, sin = math.cos(angle) * zoom, math.sin(angle) * zoom
        matrix = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
        offset = torch.tensor([tx, ty], dtype=torch.float64)
        points = torch.stack([xs - centre_x, ys - centre_y])  # [2, H, W], centred
        source = torch.einsum("ij,jhw->ihw", matrix, points) + offset[:, None, None]
        bwd.append(source - points)
        target = torch.einsum("ij,jhw->ihw", torch.linalg.inv(matrix), points - offset[:, None, None])
        fwd.append(target - points)
    return torch.stack(fwd), torch.stack(bwd)


def make_inputs(
    shape: tuple[int, int, int, int, int],
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(video [B,T,C,H,W], flow_fwd, flow_bwd [B,T-1,2,H,W] float32)`` on ``device``."""
    batch, frames, channels, height, width = shape
    generator = torch.Generator().manual_seed(seed)
    video = torch.rand(shape, generator=generator).to(device=device, dtype=dtype)
    flows = [affine_flows(frames - 1, height, width, seed=seed + b) for b in range(batch)]
    flow_fwd = torch.stack([f for f, _ in flows]).to(device=device, dtype=torch.float32)
    flow_bwd = torch.stack([b for _, b in flows]).to(device=device, dtype=torch.float32)
    return video, flow_fwd.contiguous(), flow_bwd.contiguous()


def minimum_bytes(shape, dtype, mode) -> int:
    """Bytes the op must read and write at least (each tensor once), the roofline's numerator."""
    batch, frames, channels, height, width = shape
    size = torch.tensor([], dtype=dtype).element_size()
    video = batch * frames * channels * height * width * size
    residual = batch * (frames - 1) * channels * height * width * size
    flows = 2 * batch * (frames - 1) * 2 * height * width * 4
    mask = batch * (frames - 1) * height * width
    forward = video + flows + residual + mask
    # Backward: read dL/dE, flow_bwd and the mask; write dL/dvideo.
    backward = residual + flows // 2 + mask + video
    return forward if mode == "forward" else forward + backward
