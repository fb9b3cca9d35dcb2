"""PSNR: hand-computed values, per-frame then per-video averaging, SR border crop, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from v2v.metrics import pooled_psnr, psnr, psnr_per_frame


def test_psnr_by_hand():
    target = np.zeros((3, 4, 4))
    prediction = np.full((3, 4, 4), 0.1)  # MSE 0.01 -> 20 dB
    assert psnr(prediction, target) == pytest.approx(20.0)
    assert psnr(prediction * 2, target, data_range=2.0) == pytest.approx(20.0)  # 0.04 / 4


def test_video_psnr_is_the_mean_of_frame_psnrs():
    target = np.zeros((2, 3, 4, 4))
    prediction = np.stack([np.full((3, 4, 4), 0.1), np.full((3, 4, 4), 0.01)])  # 20 dB and 40 dB
    np.testing.assert_allclose(psnr_per_frame(prediction, target), [20.0, 40.0])
    assert psnr(prediction, target) == pytest.approx(30.0)  # not the PSNR of the pooled MSE (~23 dB)
    pooled = 10 * math.log10(1 / np.mean((prediction - target) ** 2))
    assert psnr(prediction, target) != pytest.approx(pooled)


def test_pooled_psnr_is_the_psnr_of_the_mean_mse():
    target = np.zeros((3, 3, 4, 4))
    prediction = np.stack([np.full((3, 4, 4), 0.1), np.full((3, 4, 4), 0.01), np.zeros((3, 4, 4))])
    per_frame = psnr_per_frame(prediction, target)  # 20 dB, 40 dB, inf
    assert psnr(prediction, target) == math.inf  # one identical frame makes the mean of PSNRs infinite
    assert pooled_psnr(per_frame) == pytest.approx(10 * math.log10(1 / np.mean(prediction**2)))  # about 24.7 dB
    assert pooled_psnr(psnr_per_frame(prediction * 2, target, data_range=2.0), data_range=2.0) == pytest.approx(pooled_psnr(per_frame))
    assert pooled_psnr([math.inf, math.inf]) == math.inf
    with pytest.raises(ValueError, match="at least one"):
        pooled_psnr([])


def test_identical_videos_are_infinite():
    frames = torch.rand(3, 3, 8, 8)
    assert psnr(frames, frames) == math.inf
    assert psnr_per_frame(frames[:1], frames[:1]).tolist() == [math.inf]


def test_crop_border_ignores_the_frame_edge():
    target = np.zeros((1, 3, 10, 10))
    prediction = target.copy()
    prediction[..., 0, :] = 1.0  # error on the first row only
    assert math.isfinite(psnr(prediction, target))
    assert psnr(prediction, target, crop_border=1) == math.inf
    with pytest.raises(ValueError, match="crop_border"):
        psnr(prediction, target, crop_border=5)


def test_bad_input():
    frames = np.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        psnr(frames - 1.0, frames)  # model range [-1, 1] not converted
    with pytest.raises(ValueError, match="same shape"):
        psnr(frames, frames[:1])
    with pytest.raises(ValueError, match="NaN"):
        psnr(np.full((3, 4, 4), np.nan), np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match=r"\[T, C, H, W\]"):
        psnr(np.zeros((4, 4)), np.zeros((4, 4)))
