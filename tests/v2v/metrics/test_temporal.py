"""Warping error and tOF against independent formulas, on degenerate and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import v2vcore
from v2v.metrics import tof, tof_per_pair, warping_error, warping_error_per_pair

needs_kernels = pytest.mark.skipif(
    not v2vcore.has_cpu_kernels(), reason="the compiled v2vcore op is not built (pip install --no-build-isolation -e .)"
)


def _translating_video(frames=4, height=24, width=32, shift=1.0, seed=0):
    """A smooth random texture translating right by ``shift`` px per frame, with exact flows."""
    rng = np.random.default_rng(seed)
    base = torch.from_numpy(rng.random((3, height, width + 16))).float()
    base = torch.nn.functional.avg_pool2d(base[None], 5, stride=1, padding=2)[0]
    video = torch.stack([base[:, :, 8 - int(round(shift * t)) : 8 - int(round(shift * t)) + width] for t in range(frames)])
    flow_fwd = torch.zeros(frames - 1, 2, height, width)
    flow_fwd[:, 0] = shift
    flow_bwd = -flow_fwd
    return video.contiguous(), flow_fwd, flow_bwd


def _reference_warping_error(video, flow_fwd, flow_bwd):
    """Lai et al.'s formula written directly on the pure-PyTorch reference op."""
    errors = []
    for t in range(1, video.shape[0]):
        mask = v2vcore.reference.consistency_mask(flow_fwd[t - 1 : t], flow_bwd[t - 1 : t]).double()
        warped = v2vcore.reference.warp(video[t - 1 : t].double(), flow_bwd[t - 1 : t].double())
        diff = (video[t : t + 1].double() - warped) * mask
        count = mask.sum() * video.shape[1]
        errors.append(float((diff**2).sum() / count) if count > 0 else 0.0)
    return np.array(errors)


@needs_kernels
def test_warping_error_matches_the_reference_formula():
    video, flow_fwd, flow_bwd = _translating_video()
    noisy = (video + 0.05 * torch.randn_like(video)).clamp(0, 1)
    flow_bwd = flow_bwd + 0.3 * torch.randn_like(flow_bwd)  # a mask with holes
    np.testing.assert_allclose(
        warping_error_per_pair(noisy, flow_fwd, flow_bwd), _reference_warping_error(noisy, flow_fwd, flow_bwd), rtol=1e-5, atol=1e-7
    )


@needs_kernels
def test_warping_error_of_a_consistent_video_is_zero_and_flicker_raises_it():
    video, flow_fwd, flow_bwd = _translating_video()
    assert warping_error(video, flow_fwd, flow_bwd) == pytest.approx(0.0, abs=1e-10)
    flicker = video.clone()
    flicker[1::2] = (flicker[1::2] + 0.2).clamp(0, 1)
    assert warping_error(flicker, flow_fwd, flow_bwd) > 1e-3


@needs_kernels
def test_warping_error_degenerate_inputs():
    video, flow_fwd, flow_bwd = _translating_video(frames=2)
    assert math.isnan(warping_error(video[:1], flow_fwd[:0], flow_bwd[:0]))
    everywhere_occluded = torch.full_like(flow_bwd, 1000.0)  # every source outside the frame
    assert warping_error(video, flow_fwd, everywhere_occluded) == 0.0


def test_warping_error_bad_input():
    video, flow_fwd, flow_bwd = _translating_video(frames=3)
    with pytest.raises(ValueError, match="flow_bwd"):
        warping_error(video, flow_fwd, flow_bwd[:1])
    with pytest.raises(ValueError, match=r"\[T, C, H, W\]"):
        warping_error(video[0], flow_fwd, flow_bwd)
    with pytest.raises(ValueError, match="NaN"):
        warping_error(video * float("nan"), flow_fwd, flow_bwd)


class _ConstantFlow:
    """A flow 'estimator' returning a fixed flow per video, keyed by the video's mean value."""

    def __init__(self, flows):
        self.flows = flows
        self.calls = 0

    def compute(self, frames):
        self.calls += 1
        key = round(float(frames.mean()), 4)
        return self.flows[key], -self.flows[key]


def test_tof_is_the_mean_flow_difference_norm():
    out = torch.full((3, 3, 6, 8), 0.25)
    tgt = torch.full((3, 3, 6, 8), 0.75)
    out_flow = torch.zeros(2, 2, 6, 8)
    tgt_flow = torch.zeros(2, 2, 6, 8)
    tgt_flow[:, 0] = 3.0
    tgt_flow[:, 1] = 4.0  # difference norm 5 everywhere
    tgt_flow[1, :, :, :4] = 0.0  # second pair: half the pixels agree -> 2.5
    estimator = _ConstantFlow({0.25: out_flow, 0.75: tgt_flow})
    np.testing.assert_allclose(tof_per_pair(out, tgt, flow=estimator), [5.0, 2.5])
    assert tof(out, tgt, flow=estimator) == pytest.approx(3.75)
    assert estimator.calls == 4
    assert tof(out, tgt, flow=estimator, crop_border=2) == pytest.approx((5.0 + 5.0 * 2 / 4) / 2)  # cols 2..5: 2 of 4 differ


def test_tof_with_the_default_dis_flow():
    video, _, _ = _translating_video(frames=3, height=48, width=64, shift=2.0)
    assert tof(video, video) == 0.0  # identical videos
    still = video[:1].repeat(3, 1, 1, 1)  # the output freezes while the target moves 2 px per frame
    value = tof(still, video)
    assert 1.0 < value < 3.0
    assert math.isnan(tof(video[:1], video[:1]))


def test_tof_accepts_a_callable_returning_forward_flows():
    video = torch.rand(3, 1, 8, 8)
    zero = torch.zeros(2, 2, 8, 8)
    assert tof(video, video.flip(0), flow=lambda frames: zero) == 0.0
    with pytest.raises(ValueError, match="expected"):
        tof(video, video, flow=lambda frames: torch.zeros(1, 2, 8, 8))
    with pytest.raises(TypeError, match="flow"):
        tof(video, video, flow=3)
    with pytest.raises(ValueError, match="same shape"):
        tof(video, video[:2])
