"""Tests of clip augmentation: one crop and flip for all frames and the flows; warp identity after it."""

import pytest
import torch

from v2v.data import CropFlip, apply_crop_flip, random_crop_flip, sample_crop_flip, synthetic_clip
from v2vcore.flow import flip_flow_horizontal

from .conftest import identity_errors, reliable_pixels

AUGMENTED_KEYS = ("frames", "flow_fwd", "flow_bwd", "occlusion", "occlusion_fwd", "soft_edge", "labels", "masks")


def clip_tensors(seed=0, size=(96, 128), frames=4):
    clip = synthetic_clip(seed, size=size, num_frames=frames)
    return {key: clip[key] for key in AUGMENTED_KEYS}


@pytest.mark.parametrize("flip", [False, True])
def test_warp_identity_holds_after_crop_and_flip(flip):
    sample = clip_tensors(seed=1)
    params = CropFlip(top=13, left=21, height=64, width=80, flip=flip)
    augmented = apply_crop_flip(sample, params)
    assert augmented["frames"].shape == (4, 3, 64, 80) and augmented["flow_bwd"].shape == (3, 2, 64, 80)
    # The occlusion ground truth of the crop: also hidden where the source left the crop window.
    xs = torch.arange(80).view(1, 1, 1, 80) + augmented["flow_bwd"][:, :1]
    ys = torch.arange(64).view(1, 1, 64, 1) + augmented["flow_bwd"][:, 1:]
    outside = (xs < 0) | (xs > 79) | (ys < 0) | (ys > 63)
    augmented["occlusion"] = augmented["occlusion"] | outside
    valid = reliable_pixels(augmented)
    assert valid.float().mean() > 0.5
    errors = identity_errors(augmented["frames"], augmented["flow_bwd"], valid)
    assert errors.mean() < 0.01 and torch.quantile(errors.float(), 0.99) < 0.05
    if flip:
        # Mirroring the flows without negating x breaks the identity: the check can fail.
        naive = sample["flow_bwd"][..., 13:77, 21:101].flip(-1)
        assert identity_errors(augmented["frames"], naive, valid).mean() > 3 * errors.mean()


def test_flip_applies_the_flow_rule_and_mirrors_images():
    sample = clip_tensors(seed=2, size=(32, 48), frames=3)
    augmented = apply_crop_flip(sample, CropFlip(0, 0, 32, 48, True))
    assert torch.equal(augmented["frames"], sample["frames"].flip(-1))
    assert torch.equal(augmented["labels"], sample["labels"].flip(-1))
    assert torch.equal(augmented["flow_fwd"], flip_flow_horizontal(sample["flow_fwd"]))
    assert torch.equal(augmented["flow_bwd"], flip_flow_horizontal(sample["flow_bwd"]))


def test_random_draws_are_reproducible_and_inside():
    sample = {"frames": torch.rand(2, 3, 20, 30), "flow_fwd": torch.rand(1, 2, 20, 30), "name": "x"}
    first = random_crop_flip(sample, (10, 12), True, torch.Generator().manual_seed(3))
    second = random_crop_flip(sample, (10, 12), True, torch.Generator().manual_seed(3))
    assert torch.equal(first["frames"], second["frames"]) and first["name"] == "x"
    flips = set()
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        params = sample_crop_flip((20, 30), (10, 12), True, generator)
        assert 0 <= params.top <= 10 and 0 <= params.left <= 18
        flips.add(params.flip)
    assert flips == {False, True}
    assert not any(sample_crop_flip((20, 30), None, False, generator).flip for _ in range(20))
    assert sample_crop_flip((20, 30), None, False) == CropFlip(0, 0, 20, 30, False)


def test_bad_augmentation_inputs():
    with pytest.raises(ValueError, match="does not fit"):
        sample_crop_flip((20, 30), (21, 10), False)
    with pytest.raises(ValueError, match="one spatial size"):
        apply_crop_flip({"a": torch.zeros(1, 3, 4, 4), "b": torch.zeros(1, 3, 5, 4)}, CropFlip(0, 0, 2, 2, False))
    with pytest.raises(ValueError, match="no spatial tensor"):
        random_crop_flip({"name": "x"}, None, True)
