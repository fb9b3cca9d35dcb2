"""Temporal stability T: parity with davis-matlab (run under Octave), behaviour on simple videos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from v2v.metrics import pair_stability, temporal_stability, temporal_stability_pairs
from v2v.metrics.stability import (
    _dijkstra_path,
    _matlab_rem,
    _monotone_path,
    describe_mask,
    longest_contour,
    mask_contours,
    resample_contour,
    shape_context,
)

from ._fixtures import FIXTURES, as_float, expected


@pytest.fixture(scope="module")
def official_masks() -> np.ndarray:
    from ._fixtures import unpack

    (masks,) = unpack(FIXTURES / "t_masks.npz", "masks")
    return masks


def test_longest_contour_matches_the_official_tracer(official_masks):
    for index, contour in expected()["t"]["contours"].items():
        ours = longest_contour(mask_contours(official_masks[int(index)]))
        np.testing.assert_array_equal(ours, np.array(contour, dtype=np.float64))


def test_pairs_match_the_official_code_exactly_with_exact_ties(official_masks):
    reference = as_float(expected()["t"]["pairs"])
    ours = temporal_stability_pairs(official_masks, exact_ties=True)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12, equal_nan=True)


def test_fast_pairs_match_the_official_code_up_to_tie_breaking(official_masks):
    reference = as_float(expected()["t"]["pairs"])
    ours = temporal_stability_pairs(official_masks)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    finite = ~np.isnan(reference)
    relative = np.abs(ours[finite] - reference[finite]) / reference[finite]
    assert np.mean(relative < 1e-12) >= 0.75  # most pairs have no equally cheap alignments
    assert relative.max() < 0.02
    video = 5 * np.nanmean(reference)
    assert temporal_stability(official_masks) == pytest.approx(video, rel=5e-3)
    assert temporal_stability(official_masks, exact_ties=True) == pytest.approx(video, abs=1e-12)


def test_video_t_is_five_times_the_nan_skipping_mean(official_masks):
    pairs = temporal_stability_pairs(official_masks[:9])
    assert np.isnan(pairs[6]) and np.isnan(pairs[7])  # frame 7 is empty
    assert temporal_stability(official_masks[:9]) == pytest.approx(5 * np.nanmean(pairs))
    assert temporal_stability(official_masks[:9], scale=1.0) == pytest.approx(np.nanmean(pairs))


def test_davis_protocol_uses_the_first_ground_truth_and_drops_the_last_frame(official_masks):
    masks = official_masks[:6]
    target = official_masks[10]
    pairs = temporal_stability_pairs(masks, first_target=target)
    assert len(pairs) == 4
    assert pairs[0] == pytest.approx(pair_stability(target, masks[1]))
    assert pairs[3] == pytest.approx(pair_stability(masks[3], masks[4]))
    assert temporal_stability(masks, first_target=target) == pytest.approx(5 * np.mean(pairs))
    with pytest.raises(ValueError, match="at least 3 frames"):
        temporal_stability(masks[:2], first_target=target)


def _disk_mask(height, width, centre, radius):
    rows, cols = np.mgrid[:height, :width]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def test_static_moving_and_flickering_masks():
    height, width, frames = 64, 80, 8
    static = np.stack([_disk_mask(height, width, (32, 30), 14)] * frames)
    translating = np.stack([_disk_mask(height, width, (32, 20 + 4 * t), 14) for t in range(frames)])
    growing = np.stack([_disk_mask(height, width, (32, 40), 12 + t) for t in range(frames)])
    rectangle = np.zeros((height, width), bool)
    rectangle[20:44, 10:70] = True
    flicker = np.stack([_disk_mask(height, width, (32, 40), 14) if t % 2 else rectangle for t in range(frames)])
    t_static = temporal_stability(static)
    t_translating = temporal_stability(translating)
    t_growing = temporal_stability(growing)
    t_flicker = temporal_stability(flicker)
    assert t_static == 0.0
    assert t_translating < 1e-12  # shape contexts do not see a translation
    assert t_growing < 0.5 * t_flicker
    assert t_flicker > 0.5


def test_empty_tiny_and_one_frame_videos():
    empty = np.zeros((3, 20, 20), bool)
    assert np.isnan(temporal_stability(empty))
    speck = np.zeros((20, 20), bool)
    speck[5, 5] = True  # one pixel: its 2x2-unit polygon simplifies to 2 vertices and is dropped
    assert mask_contours(speck) == []
    assert np.isnan(pair_stability(speck, speck))
    blob = np.zeros((20, 20), bool)
    blob[4:12, 5:15] = True
    assert np.isnan(pair_stability(blob, np.zeros_like(blob)))
    assert pair_stability(blob, blob) == 0.0
    assert np.isnan(temporal_stability(blob[None]))
    assert temporal_stability_pairs(blob[None]).shape == (0,)


def test_rectangle_contour_by_hand():
    mask = np.zeros((10, 12), bool)
    mask[2:6, 3:9] = True
    (contour,) = mask_contours(mask)
    # closed, clockwise in (row, column) by polycont's test, starting at the top-left corner
    np.testing.assert_array_equal(contour, [[2, 3], [2, 9], [6, 9], [6, 3], [2, 3]])
    resampled = resample_contour(contour)
    # top edge (6 px) -> 2 parts, right edge (4 px) -> 2 parts; the closing vertex is kept
    np.testing.assert_allclose(resampled[:4], [[2, 3], [2, 6], [2, 9], [4, 9]])
    assert len(resampled) == 2 + 2 + 2 + 2 + 1


def test_holes_are_contours_too():
    ring = _disk_mask(60, 60, (30, 30), 25) & ~_disk_mask(60, 60, (30, 30), 15)
    contours = mask_contours(ring)
    assert len(contours) == 2
    outer, inner = contours
    assert np.all(np.abs(inner - 30).max(axis=1) <= 16)
    assert len(longest_contour(contours)) == max(len(outer), len(inner))


def test_diagonal_touch_joins_the_two_pixels_in_one_contour():
    mask = np.zeros((8, 8), bool)
    mask[1:4, 1:4] = True
    mask[4:7, 4:7] = True  # touches the first square at one corner only
    assert len(mask_contours(mask)) == 1


def test_shape_context_by_hand():
    points = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    histograms = shape_context(points)
    assert histograms.shape == (3, 60)
    np.testing.assert_array_equal(histograms.sum(axis=1), [3, 3, 3])  # each point counts itself
    # mean distance (0 + 1 + 1 + 1 + 0 + sqrt 2 + 1 + sqrt 2 + 0) / 9 = 0.9587;
    # from point 0, point 1 is at angle atan2(1, 0) = 90 deg (bin 3) and radius 1.04 (ring bin 0)
    assert histograms[0, 3 + 12 * 0] == 1
    assert histograms[0, 0 + 12 * 4] == 1  # itself: angle 0, innermost ring


def test_matlab_rem_snaps_round_off_to_zero():
    two_pi = 2 * np.pi
    assert _matlab_rem(np.array([-5.148860404058698e-16 + two_pi]), two_pi)[0] == 0.0
    assert np.fmod(-5.148860404058698e-16 + two_pi, two_pi) > 6.28  # C's fmod does not
    np.testing.assert_array_equal(_matlab_rem(np.array([1.0, -1.0, 7.0]), two_pi), [1.0, -1.0, 7.0 - two_pi])


def test_fast_and_exact_searches_find_equally_cheap_paths():
    rng = np.random.default_rng(3)
    costs = rng.random((40, 30))
    costs[:, 29] = costs[:, 0]  # a repeated point creates exact ties, as the closing vertex does
    fast = _monotone_path(costs)
    exact = _dijkstra_path(costs)
    assert costs[fast[:-1, 0], fast[:-1, 1]].sum() == pytest.approx(costs[exact[:-1, 0], exact[:-1, 1]].sum())
    for path in (fast, exact):
        steps = -np.diff(path, axis=0)
        assert set(map(tuple, steps)) <= {(1, 0), (0, 1), (1, 1)}
        assert tuple(path[0]) == (39, 29) and tuple(path[-1]) == (0, 0)


def test_descriptor_of_a_tensor_mask():
    mask = torch.zeros(30, 30, dtype=torch.bool)
    mask[5:20, 8:25] = True
    descriptor = describe_mask(mask)
    assert descriptor.points.shape[1] == 2 and descriptor.histograms.shape == (len(descriptor.points), 60)


def test_bad_input():
    with pytest.raises(ValueError, match=r"\[T, H, W\]"):
        temporal_stability(np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="same shape"):
        pair_stability(np.zeros((5, 5), bool), np.zeros((5, 6), bool))
    with pytest.raises(ValueError, match="first_target"):
        temporal_stability(np.zeros((4, 5, 5), bool), first_target=np.zeros((4, 4), bool))


def test_a_worker_pool_gives_identical_values():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from v2v.metrics.stability import PAIRS_PER_TASK

    rng = np.random.default_rng(3)
    masks = np.zeros((2 * PAIRS_PER_TASK + 4, 24, 28), dtype=bool)
    for t, mask in enumerate(masks):  # a blob that moves and changes shape, with an empty frame
        top, left = 4 + t % 5, 3 + t
        mask[top : top + 8 + t % 3, left : left + 10] = True
        mask |= rng.random(mask.shape) > 0.97
    masks[5] = False
    first_target = masks[0].copy()
    serial = temporal_stability_pairs(masks)
    serial_davis = temporal_stability_pairs(masks, first_target=first_target)
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        pooled = temporal_stability_pairs(masks, executor=pool)
        pooled_davis = temporal_stability_pairs(masks, first_target=first_target, executor=pool)
        pooled_t = temporal_stability(masks, executor=pool)
    assert serial.shape == (len(masks) - 1,) and np.isnan(serial[4]) and np.isfinite(serial[0])
    np.testing.assert_array_equal(pooled, serial)  # bit for bit, NaN where NaN
    np.testing.assert_array_equal(pooled_davis, serial_davis)
    assert pooled_t == temporal_stability(masks)
