"""Shared helpers of the data tests: the warp-identity check and a tiny generated DAVIS folder."""

import pytest
import torch
import torch.nn.functional as F

from v2v.data import synthetic_clip, write_davis_layout
from v2vcore.reference import warp


def reliable_pixels(clip: dict) -> torch.Tensor:
    """Pixels of frame k+1 where the warp identity must hold: ``[T-1, 1, H, W]`` bool.

    Visible in both frames (occlusion ground truth), not a blend of layers in frame k+1, and no
    bilinear tap in frame k near a layer edge (blended pixels or a change of visible layer,
    dilated by one pixel and warped to frame k+1).
    """
    near = near_layer_edges(clip, radius=1)
    taps_near_edge = warp(near[:-1].float(), clip["flow_bwd"]) > 0
    return ~clip["occlusion"] & ~clip["soft_edge"][1:] & ~taps_near_edge


def near_layer_edges(clip: dict, radius: int) -> torch.Tensor:
    """``[T, 1, H, W]`` bool: within ``radius`` pixels of a blended pixel or of a change of visible layer."""
    labels = clip["labels"].float()
    size = 2 * radius + 1
    changes = (F.max_pool2d(labels, 3, 1, 1) != -F.max_pool2d(-labels, 3, 1, 1)).float()
    edges = torch.maximum(changes, clip["soft_edge"].float())
    return F.max_pool2d(edges, size, stride=1, padding=radius) > 0


def identity_errors(frames: torch.Tensor, flow_bwd: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per-pixel max-over-channels ``|warp(frame k, flow_bwd[k]) - frame k+1|`` on ``valid`` pixels."""
    warped = warp(frames[:-1].double(), flow_bwd.double())
    error = (warped - frames[1:].double()).abs().amax(dim=1, keepdim=True)
    return error[valid]


@pytest.fixture(scope="session")
def tiny_davis(tmp_path_factory):
    """A DAVIS-layout folder: 3 train sequences (12, 9, 4 frames) and 2 val sequences, 48x64."""
    root = tmp_path_factory.mktemp("davis")
    sequences = {}
    lengths = {"bear": 12, "boat": 9, "cat": 4, "dog": 7, "eel": 6}
    for seed, (name, length) in enumerate(lengths.items()):
        clip = synthetic_clip(100 + seed, size=(48, 64), num_frames=length, num_objects=(2, 2))
        sequences[name] = (clip["frames"], clip["labels"])
    write_davis_layout(root, sequences, {"train": ["bear", "boat", "cat"], "val": ["dog", "eel"]})
    return root, lengths
