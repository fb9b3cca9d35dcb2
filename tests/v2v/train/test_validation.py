"""End-of-run validation: streaming translation and per-task scores."""

import math

import pytest
import torch

from v2v.models import RecurrentUNet
from v2v.train.validation import score_video, translate_video, validate


def test_streaming_translation_matches_forward():
    torch.manual_seed(0)
    generator = RecurrentUNet(1, 3, channels=8, max_channels=16, depth=3, dropout_layers=1).eval()
    video = torch.rand(6, 1, 20, 28) * 2 - 1
    with torch.no_grad():
        whole = generator(video.unsqueeze(0))[0]
    torch.testing.assert_close(translate_video(generator, video, torch.device("cpu")), whole, rtol=1e-5, atol=1e-5)


def still(frames=4, channels=3, size=(16, 16)):
    zero = torch.zeros(frames - 1, 2, *size)
    return torch.rand(1, channels, *size).expand(frames, -1, -1, -1) * 2 - 1, zero, zero


def test_scores_per_task():
    video, flow_fwd, flow_bwd = still()
    perfect = score_video("colorization", video, video, flow_fwd, flow_bwd)
    assert perfect["l1"] == 0 and math.isinf(perfect["psnr"]) or perfect["psnr"] > 90
    assert perfect["warping_error"] == pytest.approx(0) and perfect["warping_error_target"] == pytest.approx(0)
    gray = video[:, :1]
    assert score_video("colorization", video, video, flow_fwd, flow_bwd, gray)["psnr_input"] < 60
    flicker = video.clone()
    flicker[1::2] *= -1
    assert score_video("superres", flicker, video, flow_fwd, flow_bwd)["warping_error"] > 0.1

    masks = torch.full((4, 1, 16, 16), -1.0)
    masks[:, :, 4:12, 4:12] = 1
    output = masks.clone()
    output[:, :, 4:12, 4:8] = -1  # half the object
    scores = score_video("segmentation", output, masks, flow_fwd, flow_bwd)
    assert scores["J"] == pytest.approx(0.5) and 0 < scores["F"] <= 1 and scores["T"] == pytest.approx(0, abs=1e-6)
    assert "psnr" not in scores


def test_validate_restores_training_mode_and_truncates():
    torch.manual_seed(0)
    generator = RecurrentUNet(3, 3, channels=8, max_channels=16, depth=3, dropout_layers=1).train()
    video, flow_fwd, flow_bwd = still(frames=6)
    dataset = [{"input": video, "target": video, "flow_fwd": flow_fwd, "flow_bwd": flow_bwd, "name": f"v{i}"} for i in range(3)]
    result = validate(generator, dataset, "superres", torch.device("cpu"), max_videos=2, max_frames=4)
    assert generator.training
    assert [v["name"] for v in result.per_video] == ["v0", "v1"] and result.per_video[0]["frames"] == 4
    assert result.sample[0] == "v0" and result.sample[2].shape == (4, 3, 16, 16)
    assert set(result.mean) == {"l1", "psnr", "psnr_input", "warping_error", "warping_error_target"}
    assert math.isinf(result.mean["psnr_input"]) or result.mean["psnr_input"] > 90  # input == target here
