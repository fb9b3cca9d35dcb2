"""Tests of the synthetic clips: shapes, determinism, EXACT flows (warp identity), occlusion, speed."""


import numpy as np
import pytest
import torch

from v2v.data import SyntheticConfig, synthetic_clip
from v2v.data.synthetic import GRAY_TEXTURE_NAMES, PHOTO_NAMES, background_match, load_photo

from .conftest import identity_errors, near_layer_edges, reliable_pixels


def test_shapes_dtypes_and_ranges():
    clip = synthetic_clip(0, size=(64, 80), num_frames=4)
    assert clip["frames"].shape == (4, 3, 64, 80) and clip["frames"].dtype == torch.float32
    assert 0.0 <= clip["frames"].min() and clip["frames"].max() <= 1.0
    for key in ("flow_fwd", "flow_bwd"):
        assert clip[key].shape == (3, 2, 64, 80) and clip[key].dtype == torch.float32
        assert torch.isfinite(clip[key]).all()
    assert clip["masks"].shape == (4, 1, 64, 80) and clip["masks"].dtype == torch.float32
    assert set(clip["masks"].unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(clip["masks"], (clip["labels"] > 0).float())
    for key in ("occlusion", "occlusion_fwd"):
        assert clip[key].shape == (3, 1, 64, 80) and clip[key].dtype == torch.bool
    assert clip["soft_edge"].shape == (4, 1, 64, 80) and clip["soft_edge"].dtype == torch.bool
    assert clip["affine"].shape == (len(clip["layers"]), 4, 3, 3)
    single = synthetic_clip(0, size=(32, 32), num_frames=1)
    assert single["frames"].shape == (1, 3, 32, 32) and single["flow_bwd"].shape == (0, 2, 32, 32)


def test_deterministic_from_the_seed():
    a, b = synthetic_clip(7, size=(48, 48), num_frames=3), synthetic_clip(7, size=(48, 48), num_frames=3)
    for key in ("frames", "flow_fwd", "flow_bwd", "masks", "occlusion"):
        assert torch.equal(a[key], b[key])
    assert a["layers"] == b["layers"]
    c = synthetic_clip(8, size=(48, 48), num_frames=3)
    assert not torch.equal(a["frames"], c["frames"])


def test_number_of_objects_and_foreground():
    clip = synthetic_clip(3, size=(96, 96), num_frames=2, num_objects=(3, 3))
    assert len(clip["layers"]) == 4
    assert clip["labels"].max() <= 3 and clip["masks"].mean() > 0.05
    empty = synthetic_clip(3, size=(64, 64), num_frames=2, num_objects=(0, 0))
    assert empty["masks"].sum() == 0 and len(empty["layers"]) == 1


@pytest.mark.parametrize("seed", range(6))
def test_backward_flow_is_exact_warp_identity(seed):
    """Warping frame k by flow_bwd[k] reproduces frame k+1 on pixels visible in both frames."""
    clip = synthetic_clip(seed, size=(128, 128), num_frames=4)
    valid = reliable_pixels(clip)
    assert valid.float().mean() > 0.6
    errors = identity_errors(clip["frames"], clip["flow_bwd"], valid)
    # Interpolation error of resampling the (lightly blurred) photographs twice: over 60 seeds the
    # mean stays below 0.007 and the 99th percentile below 0.04.
    assert errors.mean() < 0.01
    assert torch.quantile(errors.float(), 0.99) < 0.05
    # A flow wrong by one pixel is far off: the check can fail.
    shifted = clip["flow_bwd"] + torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    assert identity_errors(clip["frames"], shifted, valid).mean() > 2.5 * errors.mean()


@pytest.mark.parametrize("seed", range(3))
def test_forward_flow_is_exact_warp_identity(seed):
    """Warping frame k+1 by flow_fwd[k] reproduces frame k where frame k's pixel stays visible."""
    clip = synthetic_clip(seed, size=(128, 128), num_frames=3)
    reversed_clip = {
        "frames": clip["frames"].flip(0),
        "flow_bwd": clip["flow_fwd"].flip(0),
        "occlusion": clip["occlusion_fwd"].flip(0),
        "soft_edge": clip["soft_edge"].flip(0),
        "labels": clip["labels"].flip(0),
    }
    valid = reliable_pixels(reversed_clip)
    errors = identity_errors(reversed_clip["frames"], reversed_clip["flow_bwd"], valid)
    assert errors.mean() < 0.01 and torch.quantile(errors.float(), 0.99) < 0.05


def test_flow_exact_to_sub_pixel_on_smooth_textures():
    """With heavily smoothed textures interpolation error vanishes; a 0.1 px flow error would show."""
    clip = synthetic_clip(3, size=(128, 128), num_frames=3, texture_sigma=3.0)
    valid = reliable_pixels(clip)
    exact = identity_errors(clip["frames"], clip["flow_bwd"], valid)
    assert exact.mean() < 1e-3 and exact.max() < 0.03
    off = identity_errors(clip["frames"], clip["flow_bwd"] + 0.1, valid)
    assert off.mean() > 2 * exact.mean()


def test_forward_and_backward_flows_are_inverse_on_visible_pixels():
    from v2vcore.reference import warp

    clip = synthetic_clip(5, size=(96, 96), num_frames=3, soft_edge=0.0)
    # b(p) + f(p + b(p)) = 0 for a pixel visible in both frames (away from layer edges).
    round_trip = clip["flow_bwd"] + warp(clip["flow_fwd"].double(), clip["flow_bwd"].double()).float()
    near_edge = warp(near_layer_edges(clip, radius=1)[:-1].float(), clip["flow_bwd"]) > 0
    valid = ~clip["occlusion"] & ~near_edge
    assert round_trip.norm(dim=1, keepdim=True)[valid].max() < 1e-3


def test_occlusion_ground_truth_marks_what_the_warp_cannot_explain():
    clip = synthetic_clip(2, size=(128, 128), num_frames=5, object_speed=6.0, soft_edge=0.0)
    occluded = clip["occlusion"] & ~clip["soft_edge"][1:]
    assert occluded.any()
    errors_valid = identity_errors(clip["frames"], clip["flow_bwd"], reliable_pixels(clip))
    errors_occluded = identity_errors(clip["frames"], clip["flow_bwd"], occluded)
    assert errors_occluded.mean() > 5 * errors_valid.mean()
    # Sources outside the frame are occluded too.
    height, width = 128, 128
    xs = torch.arange(width).view(1, 1, 1, width) + clip["flow_bwd"][:, :1]
    ys = torch.arange(height).view(1, 1, height, 1) + clip["flow_bwd"][:, 1:]
    outside = (xs < 0) | (xs > width - 1) | (ys < 0) | (ys > height - 1)
    assert (clip["occlusion"] | ~outside).all()


def test_static_scene_has_zero_flow():
    clip = synthetic_clip(4, size=(64, 64), num_frames=3, camera_speed=0, camera_rotation=0, camera_zoom=0,
                          object_speed=0, object_rotation=0, object_zoom=0)
    assert clip["flow_fwd"].abs().max() < 1e-3 and clip["flow_bwd"].abs().max() < 1e-3
    assert (clip["frames"][1:] - clip["frames"][:-1]).abs().max() < 1e-5
    assert not clip["occlusion"].any()


def test_camera_translation_speed_is_bounded_and_uniform():
    clip = synthetic_clip(9, size=(64, 64), num_frames=6, num_objects=(0, 0), camera_speed=2.0,
                          camera_rotation=0, camera_zoom=0)
    flow = clip["flow_fwd"]
    assert flow.norm(dim=1).max() <= 2.0 * np.sqrt(2) + 1e-4
    per_pair = flow.flatten(2)
    assert (per_pair - per_pair[:, :, :1]).abs().max() < 1e-4  # a pure translation is uniform


def test_bundled_photographs_load_offline():
    for name in PHOTO_NAMES + GRAY_TEXTURE_NAMES:
        photo = load_photo(name)
        assert photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.float32
        assert 0 <= photo.min() and photo.max() <= 1
    with pytest.raises(ValueError, match="unknown photo"):
        load_photo("lily")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seed": -1}, "seed"),
        ({"size": (8, 64)}, "at least 16x16"),
        ({"size": 64}, "pair of ints"),
        ({"num_frames": 0}, "num_frames"),
        ({"num_objects": (3, 1)}, "num_objects"),
        ({"num_objects": (1, 300)}, "<= 64"),
        ({"object_speed": -1.0}, "object_speed"),
        ({"camera_zoom": 0.7}, "zoom"),
        ({"object_size": (0.5, 0.2)}, "object_size"),
        ({"max_background_match": 1.5}, "max_background_match"),
        ({"max_background_match": True}, "max_background_match"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    args = {"seed": 0, "size": (32, 32), "num_frames": 2}
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=message):
        synthetic_clip(**args)


def test_config_object_and_overrides():
    config = SyntheticConfig(num_objects=(1, 1), object_speed=0.5)
    clip = synthetic_clip(1, size=(32, 48), num_frames=2, config=config, soft_edge=0.0)
    assert len(clip["layers"]) == 2
    assert SyntheticConfig(num_objects=[2, 3]).num_objects == (2, 3)


def test_background_match_is_the_share_of_colours_the_background_has():
    red = np.zeros((16, 16, 3), np.float32)
    red[..., 0] = 1.0
    half = red.copy()
    half[:, 8:] = (0.0, 0.0, 1.0)
    assert background_match(red, red) == 1.0
    assert background_match(half, red) == pytest.approx(0.5)
    assert background_match(half[:, 8:], red) == 0.0
    # A colour within BACKGROUND_MATCH_DELTA_E counts as shared; one beyond it does not.
    assert background_match(red * 0.97, red) == 1.0 and background_match(red * 0.6, red) == 0.0


def test_objects_that_pass_for_their_background_are_drawn_again():
    # Seed 13 puts chelsea, stereo_motorcycle and astronaut crops on cat fur (match ~1).
    loose = synthetic_clip(13, size=(48, 48), num_frames=2)
    assert max(loose["background_match"]) > 0.9
    strict = synthetic_clip(13, size=(48, 48), num_frames=2, max_background_match=0.5)
    assert strict["layers"][0] == loose["layers"][0] and strict["layers"] != loose["layers"]
    assert len(strict["background_match"]) == len(strict["layers"]) - 1
    assert max(strict["background_match"]) <= 0.5
    # Nothing can reach 0 on every draw: the least matching of the draws is kept, no endless loop.
    hardest = synthetic_clip(13, size=(48, 48), num_frames=2, max_background_match=0.0)
    assert len(hardest["layers"]) == len(loose["layers"])
    # A clip whose objects all pass at their first draw is the clip the default draws.
    clean = synthetic_clip(0, size=(48, 48), num_frames=3)
    assert max(clean["background_match"]) <= 0.5
    same = synthetic_clip(0, size=(48, 48), num_frames=3, max_background_match=0.5)
    for key in ("frames", "flow_fwd", "masks"):
        assert torch.equal(clean[key], same[key])
