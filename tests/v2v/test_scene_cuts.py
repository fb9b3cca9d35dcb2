"""Scene-cut detection: a change of shot is found, motion within a shot is not."""

from __future__ import annotations

import numpy as np
import pytest

from v2v.scene_cuts import (
    DEFAULT_MIN_SHOT_LENGTH,
    DEFAULT_THRESHOLD,
    SceneCutDetector,
    luma_thumbnail,
    scene_change_score,
)


def _texture(seed: int, height: int = 72, width: int = 96) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.random((height // 8, width // 8, 3)).astype(np.float32)
    return (cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def _pan(image: np.ndarray, frames: int, step: int) -> list[np.ndarray]:
    return [np.roll(image, step * t, axis=1) for t in range(frames)]


def test_cut_between_shots_and_none_within():
    shots = _pan(_texture(1), 16, 2) + _pan(_texture(2), 5, 2)
    detector = SceneCutDetector()
    flags = [detector.update(frame) for frame in shots]
    assert flags == [False] * 16 + [True] + [False] * 4
    assert detector.cuts == [16]


def test_a_flash_in_the_middle_of_a_shot_resets_once_and_shots_last_the_minimum():
    shot = _pan(_texture(1), 40, 1)
    flashed = [*shot[:20], np.full_like(shot[20], 255), *shot[21:]]  # frame 20: a camera flash
    assert DEFAULT_MIN_SHOT_LENGTH == 15
    detector = SceneCutDetector()
    for frame in flashed:
        detector.update(frame)
    assert detector.cuts == [20]  # entering the flash; leaving it (frame 21) is within the minimum
    without_minimum = SceneCutDetector(min_shot_length=1)
    for frame in flashed:
        without_minimum.update(frame)
    assert without_minimum.cuts == [20, 21]
    # A real cut closer than the minimum to the start of the video is not declared; at 15 it is.
    for start, expected in ((14, []), (15, [15])):
        detector = SceneCutDetector()
        for frame in _pan(_texture(1), start, 2) + _pan(_texture(2), 5, 2):
            detector.update(frame)
        assert detector.cuts == expected
    with pytest.raises(ValueError, match="min_shot_length"):
        SceneCutDetector(min_shot_length=0)


def test_score_by_hand():
    black = np.zeros((16, 16, 3), np.uint8)
    white = np.full((16, 16, 3), 255, np.uint8)
    assert scene_change_score(black, white) == pytest.approx(1.0)
    assert scene_change_score(black, black) == 0.0
    assert luma_thumbnail(white).shape == (64, 64)
    assert 0 < DEFAULT_THRESHOLD < 1


def test_bad_threshold_and_frames():
    with pytest.raises(ValueError, match="threshold"):
        SceneCutDetector(threshold=0)
    with pytest.raises(ValueError, match="uint8"):
        luma_thumbnail(np.zeros((4, 4, 3), np.float32))
