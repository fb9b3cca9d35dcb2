"""Validation of a run: whole videos translated and scored with the evaluation's metric names."""

import math

import pytest
import torch

from v2v.models import RecurrentUNet
from v2v.tasks import get_task
from v2v.train.validation import validate


def still(frames=4, channels=3, size=(16, 16)):
    zero = torch.zeros(frames - 1, 2, *size)
    return torch.rand(1, channels, *size).expand(frames, -1, -1, -1) * 2 - 1, zero, zero


def test_validate_restores_training_mode_and_truncates():
    torch.manual_seed(0)
    generator = RecurrentUNet(3, 3, channels=8, max_channels=16, depth=3, dropout_layers=1, norm="batch").train()
    video, flow_fwd, flow_bwd = still(frames=6)
    dataset = [{"input": video, "target": video, "flow_fwd": flow_fwd, "flow_bwd": flow_bwd, "name": f"v{i}"} for i in range(3)]
    result = validate(generator, dataset, "superres", torch.device("cpu"), max_videos=2, max_frames=4)
    assert generator.training
    assert [v["name"] for v in result.per_video] == ["v0", "v1"] and result.per_video[0]["frames"] == 4
    assert result.sample.name == "v0" and result.sample.output.shape == (4, 3, 16, 16)
    assert result.sample.flow_fwd.shape == result.sample.flow_bwd.shape == (3, 2, 16, 16)  # what the strip needs
    assert tuple(result.mean) == get_task("superres").metrics  # the keys of eval.json, in its order
    assert math.isinf(result.mean["psnr_input"]) or result.mean["psnr_input"] > 90  # input == target here
    assert result.mean["psnr"] == pytest.approx(sum(v["psnr"] for v in result.per_video) / 2)


def test_validate_without_tof_and_segmentation_keys():
    torch.manual_seed(0)
    generator = RecurrentUNet(3, 1, channels=8, max_channels=16, depth=3, dropout_layers=1, norm="batch").eval()
    video, flow_fwd, flow_bwd = still(frames=3)
    masks = torch.full((3, 1, 16, 16), -1.0)
    masks[:, :, 4:12, 4:12] = 1
    dataset = [{"input": video, "target": masks, "flow_fwd": flow_fwd, "flow_bwd": flow_bwd, "name": "v0"}]
    result = validate(generator, dataset, "segmentation", torch.device("cpu"), max_videos=1, max_frames=0, tof_flow="none")
    assert not generator.training
    assert tuple(result.mean) == tuple(k for k in get_task("segmentation").metrics if k != "tOF")
    assert 0 <= result.mean["J"] <= 1 and 0 <= result.mean["J_recall"] <= 1
