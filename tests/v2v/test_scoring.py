"""The one place that scores a video: clips held as tensors (score_clip, mean_scores) and streams (StreamScorer)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from v2v import metrics
from v2v.flow import make_flow_provider
from v2v.scoring import mean_scores, score_clip
from v2v.tasks import TASK_REGISTRY, ScoringOptions, get_task


def _still(frames=4, channels=3, size=(16, 16)):
    zero = torch.zeros(frames - 1, 2, *size)
    return torch.rand(1, channels, *size).expand(frames, -1, -1, -1) * 2 - 1, zero, zero


@pytest.mark.parametrize("task", tuple(TASK_REGISTRY))
def test_every_task_reports_its_metric_keys(task):
    spec = get_task(task)
    video, flow_fwd, flow_bwd = _still(channels=spec.out_channels)
    inputs = torch.rand(4, spec.in_channels, 16, 16) * 2 - 1
    scores = score_clip(task, video, video, inputs, flow_fwd, flow_bwd, tof_flow=make_flow_provider("dis"))
    assert tuple(scores) == spec.metrics
    assert all(isinstance(value, float) for value in scores.values())
    without_tof = score_clip(spec, video, video, inputs, flow_fwd, flow_bwd)
    assert tuple(without_tof) == tuple(k for k in spec.metrics if k != "tOF")


def test_scores_of_images():
    video, flow_fwd, flow_bwd = _still()
    gray = video[:, :1]
    perfect = score_clip("colorization", video, video, gray, flow_fwd, flow_bwd)
    assert perfect["l1"] == 0 and math.isinf(perfect["psnr"])
    assert perfect["warping_error"] == pytest.approx(0) and perfect["warping_error_target"] == pytest.approx(0)
    assert perfect["psnr_input"] < 60
    flicker = video.clone()
    flicker[1::2] *= -1
    assert score_clip("superres", flicker, video, video, flow_fwd, flow_bwd)["warping_error"] > 0.1
    expected = metrics.psnr((flicker + 1) / 2, (video + 1) / 2)
    assert score_clip("superres", flicker, video, video, flow_fwd, flow_bwd)["psnr"] == pytest.approx(expected, abs=1e-5)


def test_superres_crop_border_changes_psnr_and_colorization_ignores_it():
    output = torch.rand(3, 3, 16, 16) * 2 - 1
    target = output.clone()
    target[:, :, 0, :] = -1.0  # differences on the first row only
    flows = torch.zeros(2, 2, 16, 16)
    cropped = ScoringOptions(psnr_crop_border=1)
    whole = score_clip("superres", output, target, output, flows, flows)
    assert math.isfinite(whole["psnr"]) and score_clip("superres", output, target, output, flows, flows, options=cropped)["psnr"] == math.inf
    gray = output[:, :1]
    assert (score_clip("colorization", output, target, gray, flows, flows, options=cropped)["psnr"]
            == score_clip("colorization", output, target, gray, flows, flows)["psnr"])


def test_scores_of_masks_and_t_protocols():
    _, flow_fwd, flow_bwd = _still()
    masks = torch.full((4, 1, 16, 16), -1.0)
    masks[:, :, 4:12, 4:12] = 1
    output = masks.clone()
    output[:, :, 4:12, 4:8] = -1  # half the object
    scores = score_clip("segmentation", output, masks, torch.zeros(4, 3, 16, 16), flow_fwd, flow_bwd)
    assert scores["J"] == pytest.approx(0.5) and scores["J_recall"] == 0 and scores["J_decay"] == pytest.approx(0)
    assert 0 < scores["F"] <= 1 and scores["T"] == pytest.approx(0, abs=1e-6)
    assert "psnr" not in scores
    davis = score_clip("segmentation", output[:2], masks[:2], torch.zeros(2, 3, 16, 16), flow_fwd[:1], flow_bwd[:1],
                        options=ScoringOptions(t_protocol="davis"))
    assert math.isnan(davis["T"])  # the DAVIS protocol needs three frames


def test_one_frame_video_has_nan_temporal_metrics():
    video = torch.rand(1, 3, 8, 8) * 2 - 1
    flows = torch.zeros(0, 2, 8, 8)
    scores = score_clip("superres", video, video, video, flows, flows, tof_flow=make_flow_provider("dis"))
    assert math.isnan(scores["warping_error"]) and math.isnan(scores["tOF"]) and scores["l1"] == 0


def test_mismatched_output_is_a_clear_error():
    flows = torch.zeros(2, 2, 8, 8)
    with pytest.raises(ValueError, match=r"\[T, 1, H, W\] for segmentation"):
        score_clip("segmentation", torch.zeros(3, 3, 8, 8), torch.zeros(3, 3, 8, 8), torch.zeros(3, 3, 8, 8), flows, flows)
    with pytest.raises(ValueError, match="unknown task"):
        score_clip("deblur", torch.zeros(3, 3, 8, 8), torch.zeros(3, 3, 8, 8), torch.zeros(3, 3, 8, 8), flows, flows)


def test_nan_skipping_means_over_videos():
    assert metrics.nanmean([1.0, math.nan, 3.0]) == 2.0 and math.isnan(metrics.nanmean([math.nan])) and math.isnan(metrics.nanmean([]))
    rows = [{"psnr": 10.0, "T": math.nan}, {"psnr": 20.0, "T": 4.0}, {"psnr": math.inf}]
    means = mean_scores(rows, ["T", "psnr", "tOF"])
    assert list(means) == ["T", "psnr"] and means["T"] == 4.0 and means["psnr"] == math.inf
    assert np.isnan(mean_scores([{"T": math.nan}], ["T"])["T"])
