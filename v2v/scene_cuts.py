"""Shot-cut detection for streaming translation: a cut resets the generator's recurrent state.

The score of a frame is the mean absolute difference between its luma thumbnail and the previous
frame's, both in [0, 1] and resized to :data:`THUMBNAIL_SIZE` with area averaging (so noise and
small motions average out):

    score(t) = mean |thumb(luma(frame_t)) - thumb(luma(frame_{t-1}))|

A cut is declared before frame t when ``score(t) > threshold``. The default threshold,
:data:`DEFAULT_THRESHOLD` = 0.12 (about 31 grey levels of 255 on average over the picture), is in
the range of PySceneDetect's content detector (27 of 255 on HSV): a change of shot moves most of
the picture by much more, while camera or object motion within a shot moves few thumbnail pixels
by much. Fades and very fast pans are not cuts under this rule; lower the threshold for
low-contrast footage. Only the previous thumbnail is kept, so the detector runs in constant memory
on any length of video.

**Minimum shot length.** A frame can start a new shot only once the current shot has lasted
:data:`DEFAULT_MIN_SHOT_LENGTH` = 15 frames (PySceneDetect's ``min_scene_len`` default), counted
from the start of the video or the last cut. A camera flash scores high twice, entering and
leaving the bright frame; without the minimum both would reset the recurrent state. With it the
flash costs at most one reset (the frame after a flash is within 15 frames of it), at the price
that a real cut less than 15 frames after another one is missed. The decision is made as each
frame arrives (translation cannot wait for the next frame), so a flash cannot be told from a cut
before it ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_MIN_SHOT_LENGTH", "THUMBNAIL_SIZE", "SceneCutDetector", "luma_thumbnail", "scene_change_score"]

DEFAULT_THRESHOLD = 0.12
DEFAULT_MIN_SHOT_LENGTH = 15
THUMBNAIL_SIZE = (64, 64)


def luma_thumbnail(frame: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB frame resized to :data:`THUMBNAIL_SIZE`, float32 in [0, 1].

    Args:
        frame: ``uint8`` ``[H, W, 3]`` RGB (or ``[H, W]`` gray).
    """
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
        raise ValueError(f"frame must be uint8 [H, W, 3] or [H, W], got {frame.dtype} {frame.shape}")
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    width, height = THUMBNAIL_SIZE[1], THUMBNAIL_SIZE[0]
    small = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def scene_change_score(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean absolute difference of two frames' luma thumbnails, in [0, 1]."""
    return float(np.mean(np.abs(luma_thumbnail(current) - luma_thumbnail(previous))))


@dataclass
class SceneCutDetector:
    """Streaming cut detector: feed frames in order, get True for the first frame of a new shot.

    Attributes:
        threshold: score above which a frame starts a new shot (see the module docstring).
        min_shot_length: frames a shot lasts at least before another cut is declared (1: every
            frame over the threshold is a cut).
        cuts: indices of the frames that started a new shot (frame 0 excluded).
    """

    threshold: float = DEFAULT_THRESHOLD
    min_shot_length: int = DEFAULT_MIN_SHOT_LENGTH
    cuts: list[int] = field(default_factory=list)
    _previous: np.ndarray | None = field(default=None, repr=False)
    _index: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"scene-cut threshold must be in (0, 1], got {self.threshold}")
        if isinstance(self.min_shot_length, bool) or not isinstance(self.min_shot_length, int) or self.min_shot_length < 1:
            raise ValueError(f"min_shot_length must be an integer >= 1 (frames), got {self.min_shot_length!r}")

    def update(self, frame: np.ndarray) -> bool:
        """Whether ``frame`` (uint8 RGB ``[H, W, 3]``) starts a new shot; the first frame does not."""
        thumbnail = luma_thumbnail(frame)
        shot_start = self.cuts[-1] if self.cuts else 0
        long_enough = self._index - shot_start >= self.min_shot_length
        is_cut = (
            self._previous is not None
            and long_enough
            and float(np.mean(np.abs(thumbnail - self._previous))) > self.threshold
        )
        if is_cut:
            self.cuts.append(self._index)
        self._previous = thumbnail
        self._index += 1
        return is_cut
