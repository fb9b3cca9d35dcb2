"""Tests of the pure-PyTorch reference (v2vcore.reference) against a naive per-pixel oracle written
from the definition in docs/op.md with plain Python loops, and on hand-made occlusion and boundary cases."""

from __future__ import annotations

import math

import pytest
import torch

from v2vcore import reference

from op_inputs import random_flows, random_video


def bilinear_zero(image, x, y):
    """image [C, H, W] sampled at (x, y) with zero padding, by the textbook formula."""
    channels, height, width = image.shape
    x0, y0 = math.floor(x), math.floor(y)
    out = torch.zeros(channels, dtype=torch.float64)
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - abs(x - xi)) * (1 - abs(y - yi))
            if 0 <= xi < width and 0 <= yi < height and weight > 0:
                out += weight * image[:, yi, xi]
    return out


def oracle_residual(video, flow_fwd, flow_bwd):
    """E and mask for one clip [T, C, H, W], pixel by pixel."""
    frames, channels, height, width = video.shape
    residual = torch.zeros(frames - 1, channels, height, width, dtype=torch.float64)
    mask = torch.zeros(frames - 1, 1, height, width, dtype=torch.bool)
    for k in range(frames - 1):
        b, f = flow_bwd[k], flow_fwd[k]
        for y in range(height):
            for x in range(width):
                bx, by = b[0, y, x].item(), b[1, y, x].item()
                sx, sy = x + bx, y + by
                inside = 0 <= sx <= width - 1 and 0 <= sy <= height - 1
                wx, wy = bilinear_zero(f, sx, sy).tolist()
                occluded = (wx + bx) ** 2 + (wy + by) ** 2 > 0.01 * (wx**2 + wy**2 + bx**2 + by**2) + 0.5

                def grad(b, y, x, comp, axis):
                    if axis == "x":
                        return 0.5 * (b[comp, y, min(x + 1, width - 1)] - b[comp, y, max(x - 1, 0)]).item()
                    return 0.5 * (b[comp, min(y + 1, height - 1), x] - b[comp, max(y - 1, 0), x]).item()

                grad_sq = sum(grad(b, y, x, c, a) ** 2 for c in (0, 1) for a in ("x", "y"))
                boundary = grad_sq > 0.01 * (bx**2 + by**2) + 0.002
                valid = inside and not occluded and not boundary
                mask[k, 0, y, x] = valid
                if valid:
                    residual[k, :, y, x] = video[k + 1, :, y, x] - bilinear_zero(video[k], sx, sy)
    return residual, mask


@pytest.mark.parametrize("size", [(5, 7), (1, 6), (6, 1), (1, 1)])
def test_reference_matches_the_per_pixel_oracle(size):
    height, width = size
    video = random_video(1, 3, 2, height, width, seed=3)
    flow_fwd, flow_bwd = random_flows(1, 2, height, width, amplitude=1.2, noise=0.4, seed=4)
    residual, mask = reference.residual_error(video, flow_fwd, flow_bwd, return_mask=True)
    expected, expected_mask = oracle_residual(video[0], flow_fwd[0], flow_bwd[0])
    assert torch.equal(mask[0], expected_mask)
    torch.testing.assert_close(residual[0], expected, atol=1e-12, rtol=0)


def test_warp_matches_the_oracle_with_zero_and_border_padding():
    image = random_video(1, 1, 3, 6, 8, seed=5)[:, 0]
    _, flow = random_flows(1, 1, 6, 8, amplitude=3.0, seed=6)
    flow = flow[:, 0]
    warped = reference.warp(image, flow)
    clamped = reference.warp(image, flow, padding="border")
    for y in range(6):
        for x in range(8):
            sx, sy = x + flow[0, 0, y, x].item(), y + flow[0, 1, y, x].item()
            torch.testing.assert_close(warped[0, :, y, x], bilinear_zero(image[0], sx, sy), atol=1e-12, rtol=0)
            cx, cy = min(max(sx, 0.0), 7.0), min(max(sy, 0.0), 5.0)
            torch.testing.assert_close(clamped[0, :, y, x], bilinear_zero(image[0], cx, cy), atol=1e-12, rtol=0)


def test_occlusion_boundary_and_inside_tests():
    height, width = 12, 16
    flow_bwd = torch.zeros(1, 2, height, width, dtype=torch.float64)
    flow_fwd = torch.zeros_like(flow_bwd)
    flow_bwd[:, 0], flow_fwd[:, 0] = 2.0, -2.0  # consistent translation: valid except at the right edge
    mask = reference.consistency_mask(flow_fwd, flow_bwd)[0, 0]
    assert mask[:, : width - 2].all() and not mask[:, width - 2 :].any()
    inconsistent = flow_fwd.clone()
    inconsistent[:, :, 4:8, 4:8] = 5.0  # forward flow disagrees here: occluded where b points into it
    occluded = ~reference.consistency_mask(inconsistent, flow_bwd)[0, 0]
    assert occluded[4:8, 2:6].all() and not occluded[:4, : width - 2].any()
    step = flow_bwd.clone()
    step[:, 0, :, 8:] = -2.0  # a motion boundary between columns 7 and 8
    boundary = ~reference.consistency_mask(-step, step)[0, 0]
    assert boundary[:, 7:9].all() and not boundary[:, 2:6].any()


def test_reference_rejects_bad_shapes():
    video = torch.zeros(1, 3, 2, 4, 5)
    with pytest.raises(ValueError, match="flow_bwd must have shape"):
        reference.residual_error(video, torch.zeros(1, 2, 2, 4, 5), torch.zeros(1, 2, 2, 4, 4))
    with pytest.raises(ValueError, match="T >= 2"):
        reference.residual_error(video[:, :1], torch.zeros(1, 0, 2, 4, 5), torch.zeros(1, 0, 2, 4, 5))
    with pytest.raises(ValueError, match="padding must be"):
        reference.warp(video[:, 0], torch.zeros(1, 2, 4, 5), padding="reflection")


def test_the_reference_is_a_drop_in_for_the_op():
    """The same signatures (keyword-only options included) and the same refusal of non-finite flows."""
    import inspect

    import v2vcore

    for name in ("residual_error", "warp", "consistency_mask"):
        assert inspect.signature(getattr(reference, name)) == inspect.signature(getattr(v2vcore, name)), name
    video = torch.rand(1, 3, 2, 4, 5)
    flow = torch.zeros(1, 2, 2, 4, 5)
    bad = flow.clone()
    bad[0, 1, 0, 2, 3] = float("nan")
    for module in (reference, v2vcore):
        with pytest.raises(ValueError, match="NaN or Inf"):
            module.residual_error(video, flow, bad)
        with pytest.raises(ValueError, match="NaN or Inf"):
            module.consistency_mask(bad, flow)
        with pytest.raises(ValueError, match="NaN or Inf"):
            module.warp(video[:, 0], bad[:, 1])
        module.residual_error(video, flow, bad, check_flows=False)  # unchecked: accepted
