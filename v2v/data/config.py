"""Typed configuration of the data pipeline (``DataConfig``); field defaults are the one home of defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from v2v.flow.config import FlowConfig

from .synthetic import SyntheticConfig

__all__ = ["DataConfig", "DATA_SOURCES", "SYNTHETIC_SPLITS"]

DATA_SOURCES = ("synthetic", "davis")
SYNTHETIC_SPLITS = ("train", "val", "test")


def _size_or_none(name: str, value, allow_none: bool = True) -> tuple[int, int] | None:
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"DataConfig.{name} must be a pair (H, W), got None")
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f"DataConfig.{name} must be a pair of positive ints (H, W), got {value!r}")
    return (int(value[0]), int(value[1]))


def _positive_int(name: str, value, minimum: int = 1, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"DataConfig.{name} must be an int >= {minimum}{' or None' if allow_none else ''}, got {value!r}")


def _nested(name: str, value, cls):
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        try:
            return cls(**value)
        except TypeError as error:
            known = [f.name for f in dataclasses.fields(cls)]
            raise ValueError(f"DataConfig.{name}: {error}; known keys: {known}") from error
    raise ValueError(f"DataConfig.{name} must be a {cls.__name__} or a dict, got {type(value).__name__}")


@dataclass
class DataConfig:
    """Everything that decides which clips a run trains and evaluates on.

    Attributes:
        source: ``"synthetic"`` (bundled exact-flow videos, the default) or ``"davis"`` (a DAVIS
            2017 folder at ``root``).
        root: DAVIS root folder (required for ``davis``).
        seed: base seed of the synthetic clips (each split and sequence derives its own).
        frame_size: ``(H, W)`` of the frames: the generated size for synthetic clips; DAVIS frames
            are resized to it (None keeps DAVIS's native size, 480x854 at 480p).
        crop_size: ``(h, w)`` random crop of training clips, None for no crop.
        hflip: random horizontal flips of training clips (probability 1/2).
        clip_length: frames per training clip (the paper's 5).
        clip_stride: start-frame step between DAVIS training clips; None = ``clip_length``
            (non-overlapping clips).
        eval_max_frames: cap on the length of DAVIS validation/test videos (None = whole videos).
        num_train_sequences: synthetic training clips.
        num_val_sequences: synthetic validation (and test) videos.
        eval_clip_length: frames per synthetic validation/test video.
        materialize_dir: store generated synthetic clips here once and reload them (None:
            regenerate on every access, which is fast).
        davis_resolution: DAVIS resolution folder (``"480p"`` or ``"Full-Resolution"``).
        synthetic: parameters of the synthetic clips (objects, motion ranges, edges).
        flow: flow provider and cache.
    """

    source: str = "synthetic"
    root: str | None = None
    seed: int = 0
    frame_size: tuple[int, int] | None = (256, 256)
    crop_size: tuple[int, int] | None = None
    hflip: bool = True
    clip_length: int = 5
    clip_stride: int | None = None
    eval_max_frames: int | None = None
    num_train_sequences: int = 200
    num_val_sequences: int = 10
    eval_clip_length: int = 30
    materialize_dir: str | None = None
    davis_resolution: str = "480p"
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise ValueError(f"DataConfig.source must be one of {DATA_SOURCES}, got {self.source!r}")
        if self.source == "davis" and not self.root:
            raise ValueError("DataConfig.root must name the DAVIS folder when source='davis'")
        if self.root is not None and not isinstance(self.root, str):
            raise ValueError(f"DataConfig.root must be a path string or None, got {self.root!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"DataConfig.seed must be a non-negative int, got {self.seed!r}")
        self.frame_size = _size_or_none("frame_size", self.frame_size, allow_none=self.source == "davis")
        self.crop_size = _size_or_none("crop_size", self.crop_size)
        if self.frame_size is not None and self.source == "synthetic" and min(self.frame_size) < 16:
            raise ValueError(f"DataConfig.frame_size must be at least 16x16 for synthetic clips, got {self.frame_size}")
        if self.crop_size is not None and self.frame_size is not None and (
            self.crop_size[0] > self.frame_size[0] or self.crop_size[1] > self.frame_size[1]
        ):
            raise ValueError(f"DataConfig.crop_size {self.crop_size} is larger than frame_size {self.frame_size}")
        if not isinstance(self.hflip, bool):
            raise ValueError(f"DataConfig.hflip must be true or false, got {self.hflip!r}")
        _positive_int("clip_length", self.clip_length, minimum=2)
        _positive_int("clip_stride", self.clip_stride, allow_none=True)
        _positive_int("eval_max_frames", self.eval_max_frames, minimum=2, allow_none=True)
        _positive_int("num_train_sequences", self.num_train_sequences)
        _positive_int("num_val_sequences", self.num_val_sequences)
        _positive_int("eval_clip_length", self.eval_clip_length, minimum=2)
        if self.materialize_dir is not None and (not isinstance(self.materialize_dir, str) or not self.materialize_dir):
            raise ValueError(f"DataConfig.materialize_dir must be a path or None, got {self.materialize_dir!r}")
        if not isinstance(self.davis_resolution, str) or not self.davis_resolution:
            raise ValueError(f"DataConfig.davis_resolution must be a folder name, got {self.davis_resolution!r}")
        self.synthetic = _nested("synthetic", self.synthetic, SyntheticConfig)
        self.flow = _nested("flow", self.flow, FlowConfig)
        if self.source == "davis" and self.flow.provider == "exact":
            raise ValueError("DataConfig.flow.provider='exact' is only available for source='synthetic'")
