"""J and F against the official DAVIS 2017 evaluation, hand-computed cases and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.morphology import disk

from v2v.metrics import boundary_map, contour_accuracy, region_similarity
from v2v.metrics.segmentation import _disk, boundary_tolerance

from ._fixtures import FIXTURES, expected, unpack

SIZES = ["60x80", "120x160", "240x427"]


@pytest.mark.parametrize("size", SIZES)
def test_j_and_f_match_the_official_evaluation(size):
    pred, gt, void = unpack(FIXTURES / f"jf_{size}.npz", "pred", "gt", "void")
    reference = expected()["jf"][size]
    np.testing.assert_allclose(region_similarity(pred, gt, void), reference["J"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(contour_accuracy(pred, gt, void), reference["F"], rtol=0, atol=1e-12)


def test_per_frame_calls_match_the_video_call():
    pred, gt, void = unpack(FIXTURES / "jf_60x80.npz", "pred", "gt", "void")
    video_j = region_similarity(pred, gt, void)
    video_f = contour_accuracy(pred, gt, void)
    for t in range(len(gt)):
        assert region_similarity(pred[t], gt[t], void[t]) == video_j[t]
        assert contour_accuracy(pred[t], gt[t], void[t]) == video_f[t]


def test_region_similarity_by_hand():
    target = np.zeros((4, 5), bool)
    target[1:3, 1:4] = True  # 6 pixels
    prediction = np.zeros((4, 5), bool)
    prediction[1:3, 2:5] = True  # 6 pixels, 4 shared -> 4 / 8
    assert region_similarity(prediction, target) == pytest.approx(0.5)
    void = np.zeros_like(target)
    void[:, 4] = True  # drops 2 union pixels of the prediction only -> 4 / 6
    assert region_similarity(prediction, target, void) == pytest.approx(4 / 6)


def test_degenerate_masks():
    empty = np.zeros((6, 7), bool)
    square = np.zeros((6, 7), bool)
    square[1:4, 2:5] = True
    full = np.ones((6, 7), bool)
    assert region_similarity(empty, empty) == 1.0
    assert contour_accuracy(empty, empty) == 1.0
    assert region_similarity(empty, square) == 0.0
    assert contour_accuracy(empty, square) == 0.0  # precision 1, recall 0
    assert contour_accuracy(square, empty) == 0.0  # precision 0, recall 1
    assert region_similarity(square, square) == 1.0
    assert contour_accuracy(square, square) == 1.0
    # the image border is not a boundary: a full mask has none, like an empty one (official quirk)
    assert not boundary_map(full).any()
    assert contour_accuracy(full, empty) == 1.0
    assert region_similarity(full, empty) == 0.0


def test_contour_accuracy_tolerance():
    target = np.zeros((100, 100), bool)
    target[30:70, 30:70] = True
    # diagonal 141.4 -> 0.008 * 141.4 = 1.13 -> radius 2
    assert boundary_tolerance(100, 100) == 2
    assert contour_accuracy(np.roll(target, 2, axis=1), target) == 1.0
    shifted = contour_accuracy(np.roll(target, 3, axis=1), target)
    assert 0 < shifted < 1
    assert contour_accuracy(np.roll(target, 3, axis=1), target, bound_th=3) == 1.0


def test_boundary_map_by_hand():
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    expected_map = np.array(
        [
            [1, 1, 1, 0],
            [1, 0, 1, 0],
            [1, 1, 1, 0],
            [0, 0, 0, 0],
        ],
        bool,
    )
    np.testing.assert_array_equal(boundary_map(mask), expected_map)


@pytest.mark.parametrize("radius", [1, 2, 4, 8])
def test_disk_matches_scikit_image(radius):
    np.testing.assert_array_equal(_disk(radius), disk(radius).astype(np.uint8))


def test_accepts_tensors_and_zero_one_numbers():
    pred, gt, _ = unpack(FIXTURES / "jf_60x80.npz", "pred", "gt", "void")
    as_numpy = region_similarity(pred, gt)
    np.testing.assert_array_equal(region_similarity(torch.from_numpy(pred), torch.from_numpy(gt.astype(np.uint8))), as_numpy)
    np.testing.assert_array_equal(contour_accuracy(pred.astype(np.float32), gt), contour_accuracy(pred, gt))


def test_bad_input_is_a_clear_error():
    mask = np.zeros((5, 5), bool)
    with pytest.raises(ValueError, match="prediction and target must have the same shape"):
        region_similarity(mask, np.zeros((5, 6), bool))
    with pytest.raises(ValueError, match="binary"):
        contour_accuracy(np.full((5, 5), 0.5), mask)
    with pytest.raises(ValueError, match=r"\[H, W\] or \[T, H, W\]"):
        region_similarity(np.zeros(5, bool), np.zeros(5, bool))
    with pytest.raises(ValueError, match="void"):
        region_similarity(mask, mask, np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="whole number"):
        contour_accuracy(mask, mask, bound_th=2.5)
    with pytest.raises(TypeError, match="target"):
        region_similarity(mask, None)
