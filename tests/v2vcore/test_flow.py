"""Tests of v2vcore.flow: flips, crops, resizing, endpoint error and colouring of flow fields."""

import math

import pytest
import torch
import torch.nn.functional as F

from v2vcore.flow import (
    crop_flow,
    endpoint_error,
    flip_flow_horizontal,
    flip_flow_vertical,
    flow_to_color,
    resize_flow,
)
from v2vcore.reference import warp


def smooth_image(height: int, width: int, shift=(0.0, 0.0)) -> torch.Tensor:
    """A band-limited test image ``f(x - sx, y - sy)`` as ``[1, 3, H, W]``."""
    ys = torch.arange(height, dtype=torch.float64).view(-1, 1) - shift[1]
    xs = torch.arange(width, dtype=torch.float64).view(1, -1) - shift[0]
    channels = [
        torch.sin(0.21 * xs + 0.13 * ys) * 0.5 + 0.5,
        torch.cos(0.17 * xs - 0.11 * ys + 1.0) * 0.5 + 0.5,
        torch.sin(0.05 * xs * 0.7 + 0.19 * ys + 2.0) * 0.5 + 0.5,
    ]
    return torch.stack(channels).unsqueeze(0)


def rotating_pair(height=40, width=56):
    """Frame 0, frame 1 and the exact backward flow of a small rotation + translation."""
    angle = math.radians(2.0)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij")
    cx, cy = (width - 1) / 2, (height - 1) / 2
    # pixel p of frame 1 came from R(p - c) + c + t in frame 0
    sx = math.cos(angle) * (xs - cx) - math.sin(angle) * (ys - cy) + cx + 1.3
    sy = math.sin(angle) * (xs - cx) + math.cos(angle) * (ys - cy) + cy - 0.6
    flow_bwd = torch.stack([sx - xs, sy - ys]).unsqueeze(0)
    frame0 = smooth_image(height, width)
    frame1 = warp(frame0, flow_bwd)  # sampled from frame 0 along the exact flow
    return frame0, frame1, flow_bwd


def interior_error(a, b, margin=4):
    return (a - b)[..., margin:-margin, margin:-margin].abs().max().item()


def test_horizontal_flip_keeps_the_warp_identity():
    frame0, frame1, flow = rotating_pair()
    assert interior_error(warp(frame0, flow), frame1) < 1e-9
    flipped = warp(frame0.flip(-1), flip_flow_horizontal(flow))
    assert interior_error(flipped, frame1.flip(-1)) < 1e-9
    # Mirroring the field without negating x breaks it: the test can fail.
    naive = warp(frame0.flip(-1), flow.flip(-1))
    assert interior_error(naive, frame1.flip(-1)) > 0.05


def test_vertical_flip_keeps_the_warp_identity():
    frame0, frame1, flow = rotating_pair()
    flipped = warp(frame0.flip(-2), flip_flow_vertical(flow))
    assert interior_error(flipped, frame1.flip(-2)) < 1e-9


def test_flip_values_and_involution():
    flow = torch.randn(3, 2, 5, 7)
    flipped = flip_flow_horizontal(flow)
    assert torch.equal(flipped[:, 0], -flow[:, 0].flip(-1))
    assert torch.equal(flipped[:, 1], flow[:, 1].flip(-1))
    assert torch.equal(flip_flow_horizontal(flipped), flow)
    assert torch.equal(flip_flow_vertical(flip_flow_vertical(flow)), flow)
    assert flipped.data_ptr() != flow.data_ptr()


def test_crop_keeps_the_warp_identity_and_checks_bounds():
    frame0, frame1, flow = rotating_pair()
    top, left, h, w = 6, 9, 20, 30
    cropped_flow = crop_flow(flow, top, left, h, w)
    assert cropped_flow.shape == (1, 2, h, w)
    crop0 = frame0[..., top : top + h, left : left + w]
    crop1 = frame1[..., top : top + h, left : left + w]
    # Sources that stay inside the crop reproduce the cropped frame 1.
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    sx, sy = xs + cropped_flow[0, 0], ys + cropped_flow[0, 1]
    inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    assert ((warp(crop0, cropped_flow) - crop1).abs().amax(1)[0][inside]).max() < 1e-9
    with pytest.raises(ValueError, match="does not fit"):
        crop_flow(flow, 30, 0, 20, 10)
    with pytest.raises(ValueError, match="positive"):
        crop_flow(flow, 0, 0, 0, 10)


def test_resize_flow_scales_values_and_matches_resized_frames():
    constant = torch.zeros(2, 2, 10, 20)
    constant[:, 0], constant[:, 1] = 3.0, -1.0
    resized = resize_flow(constant, (5, 40))
    assert resized.shape == (2, 2, 5, 40)
    assert torch.allclose(resized[:, 0], torch.full((2, 5, 40), 6.0))
    assert torch.allclose(resized[:, 1], torch.full((2, 5, 40), -0.5))
    # A translation resized together with its frames still aligns them.
    height, width = 48, 64
    frame0 = smooth_image(height, width)
    frame1 = smooth_image(height, width, shift=(2.0, -1.0))  # content moved by (+2, -1)
    flow = torch.zeros(1, 2, height, width, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = -2.0, 1.0
    small0 = F.interpolate(frame0, size=(24, 32), mode="bilinear", align_corners=False, antialias=True)
    small1 = F.interpolate(frame1, size=(24, 32), mode="bilinear", align_corners=False, antialias=True)
    small_flow = resize_flow(flow, (24, 32))
    assert interior_error(warp(small0, small_flow), small1) < 0.02
    assert interior_error(warp(small0, flow[..., :24, :32]), small1) > 0.05  # unscaled values misalign


def test_resize_flow_nearest_and_errors():
    flow = torch.randn(2, 4, 4)
    assert resize_flow(flow, (8, 8), mode="nearest").shape == (2, 8, 8)
    with pytest.raises(ValueError, match="mode"):
        resize_flow(flow, (8, 8), mode="cubic")
    with pytest.raises(ValueError, match="positive"):
        resize_flow(flow, (0, 8))
    with pytest.raises(ValueError, match=r"\[\.\.\., 2, H, W\]"):
        resize_flow(torch.randn(3, 4, 4), (8, 8))
    with pytest.raises(ValueError, match="floating"):
        flip_flow_horizontal(torch.zeros(2, 3, 3, dtype=torch.int64))


def test_endpoint_error_values_mask_and_errors():
    reference = torch.zeros(1, 2, 2, 2)
    flow = torch.zeros(1, 2, 2, 2)
    flow[0, 0, 0, 0], flow[0, 1, 0, 0] = 3.0, 4.0  # one pixel off by 5
    assert endpoint_error(flow, reference).item() == pytest.approx(5.0 / 4)
    per_pixel = endpoint_error(flow, reference, reduction="none")
    assert per_pixel.shape == (1, 1, 2, 2) and per_pixel[0, 0, 0, 0].item() == pytest.approx(5.0)
    mask = torch.zeros(1, 1, 2, 2, dtype=torch.bool)
    mask[0, 0, 0, 0] = True
    assert endpoint_error(flow, reference, mask).item() == pytest.approx(5.0)
    assert endpoint_error(flow, reference, ~mask).item() == pytest.approx(0.0)
    assert math.isnan(endpoint_error(flow, reference, torch.zeros_like(mask)).item())
    with pytest.raises(ValueError, match="share a shape"):
        endpoint_error(flow, torch.zeros(1, 2, 3, 2))
    with pytest.raises(ValueError, match="mask must have shape"):
        endpoint_error(flow, reference, torch.ones(1, 2, 2, 2))
    with pytest.raises(ValueError, match="reduction"):
        endpoint_error(flow, reference, reduction="sum")


def test_flow_to_color_wheel():
    flow = torch.zeros(4, 2, 3, 3)
    flow[1, 0] = 5.0  # right
    flow[2, 0] = -5.0  # left
    flow[3, 0] = 2.5  # right, half magnitude
    color = flow_to_color(flow, max_magnitude=5.0)
    assert color.shape == (4, 3, 3, 3)
    assert torch.allclose(color[0], torch.ones(3, 3, 3))  # no motion is white
    assert torch.allclose(color[1, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)  # right is red
    assert (color[2, :, 0, 0] - color[1, :, 0, 0]).abs().max() > 0.5  # left differs
    assert torch.allclose(color[3, :, 0, 0], torch.tensor([1.0, 0.5, 0.5]), atol=1e-6)  # half saturated
    assert color.min() >= 0 and color.max() <= 1
    auto = flow_to_color(flow)
    assert torch.allclose(auto, color)  # the largest magnitude is 5
    with pytest.raises(ValueError, match="max_magnitude"):
        flow_to_color(flow, max_magnitude=0.0)
