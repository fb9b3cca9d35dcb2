"""Typed configuration of the data pipeline (``DataConfig``); field defaults are the one home of defaults."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Literal

from v2v.config_engine import Checked, require
from v2v.flow.config import FlowConfig
from v2v.processors import FLICKER_MODES, HELD_OUT_PROCESSORS, LEARNED_PROCESSOR, PROCESSORS, TRAINING_PROCESSORS

from .synthetic import SyntheticConfig

__all__ = ["DataConfig", "DATA_SOURCES", "SYNTHETIC_SPLITS", "DEFAULT_EVALUATION_SPLIT"]

DataSource = Literal["synthetic", "davis", "videos"]
DATA_SOURCES: tuple[str, ...] = typing.get_args(DataSource)
"""Where clips come from: the bundled synthetic clips with exact flow, a DAVIS 2017 folder, or a
folder of videos (``train/`` and ``val/``)."""

SYNTHETIC_SPLITS = ("train", "val", "test")

DEFAULT_EVALUATION_SPLIT = {"synthetic": "test", "davis": "val", "videos": "val"}
"""The split each data source is evaluated on unless told otherwise (DAVIS 2017 publishes no test
annotations, so its ``val`` list is the test set of the paper's experiments; a videos folder has
``train`` and ``val``)."""


@dataclass
class DataConfig(Checked):
    """Everything that decides which clips a run trains and evaluates on.

    Attributes:
        source: ``"synthetic"`` (bundled exact-flow videos, the default), ``"davis"`` (a DAVIS
            2017 folder at ``root``) or ``"videos"`` (every video file and frame folder of
            ``root/train`` and ``root/val``, :mod:`v2v.data.videos`).
        root: the DAVIS or videos folder (required for ``davis`` and ``videos``).
        seed: base seed of the synthetic clips (each split and sequence derives its own).
        frame_size: ``(H, W)`` of the frames: the generated size for synthetic clips; DAVIS frames
            are resized to it (None keeps DAVIS's native size, 480x854 at 480p). Videos keep
            their aspect ratio: null for ``videos``, which scales by ``short_side``.
        short_side: ``videos``: each video is scaled so that its shorter side is this many pixels
            (area averaging; a smaller video is not enlarged); None keeps the native size.
        crop_size: ``(h, w)`` random crop of training clips, None for no crop (``videos``
            requires one: its videos differ in size).
        hflip: random horizontal flips of training clips (probability 1/2).
        clip_length: frames per training clip (the paper's 5).
        clip_stride: start-frame step between training clips of DAVIS sequences and of shots of
            videos; None = ``clip_length`` (non-overlapping clips).
        eval_max_frames: cap on the length of DAVIS validation/test videos and of video shots
            (None = whole videos).
        num_train_sequences: synthetic training clips.
        num_val_sequences: synthetic validation (and test) videos.
        eval_clip_length: frames per synthetic validation/test video.
        materialize_dir: store generated synthetic clips here once and reload them (None:
            regenerate on every access, which is fast); ``videos``: where the decoded shots are
            stored (None: ``$V2V_FRAME_STORE``, else ``~/.cache/v2v/frames``).
        davis_resolution: DAVIS resolution folder (``"480p"`` or ``"Full-Resolution"``).
        processors: the ``stabilize`` task's flickering per-frame processors (:mod:`v2v.processors`;
            ``image2image`` is a generator checkpoint run frame by frame, ``processor_checkpoint``);
            each clip is processed by one of them; the held-out ones (``gamma``, ``stylization``,
            ``clahe``) are refused. Ignored by the other tasks.
        flicker: how the processors' parameters change from frame to frame (``fresh``, ``drift``;
            each clip draws one).
        processor_checkpoint: the generator checkpoint (run folder, ``.pt`` or export) that
            ``image2image`` runs; required when ``processors`` names it.
        synthetic: parameters of the synthetic clips (objects, motion ranges, edges).
        flow: flow provider and cache.
    """

    source: DataSource = "synthetic"
    root: str | None = None
    seed: int = 0
    frame_size: tuple[int, int] | None = (256, 256)
    short_side: int | None = None
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
    processors: tuple[str, ...] = tuple(name for name in TRAINING_PROCESSORS if name != LEARNED_PROCESSOR)
    flicker: tuple[str, ...] = ("fresh", "drift")
    processor_checkpoint: str | None = None
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)

    @property
    def has_exact_flow(self) -> bool:
        """Whether the clips come with exact flow (the synthetic ones); other sources estimate it."""
        return self.source == "synthetic"

    def check(self) -> None:
        synthetic = self.source == "synthetic"
        require(synthetic or bool(self.root), "root", f"must name the folder of data.source={self.source}")
        require(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        require(self.frame_size is not None or not synthetic, "frame_size",
                "must be a pair (H, W) for synthetic clips (null keeps the native size of real footage)")
        if self.source == "videos":
            require(self.frame_size is None, "frame_size", "must be null for data.source=videos: videos keep their aspect "
                    "ratio; scale them with data.short_side and crop training clips with data.crop_size")
            require(self.crop_size is not None, "crop_size", "data.source=videos needs a training crop (h, w): its videos differ in size")
        else:
            require(self.short_side is None, "short_side", f"applies to data.source=videos, not {self.source}")
        require(self.short_side is None or self.short_side >= 16, "short_side", f"must be >= 16 pixels or null, got {self.short_side}")
        for key in ("frame_size", "crop_size"):
            size = getattr(self, key)
            require(size is None or min(size) > 0, key, f"must be a pair of positive sizes (H, W), got {size}")
        if synthetic:
            require(min(self.frame_size) >= 16, "frame_size", f"must be at least 16x16 for synthetic clips, got {self.frame_size}")
        if self.crop_size is not None and self.frame_size is not None:
            require(self.crop_size[0] <= self.frame_size[0] and self.crop_size[1] <= self.frame_size[1], "crop_size",
                    f"{self.crop_size} is larger than frame_size {self.frame_size}")
        for key, minimum in (("clip_length", 2), ("num_train_sequences", 1), ("num_val_sequences", 1), ("eval_clip_length", 2)):
            require(getattr(self, key) >= minimum, key, f"must be >= {minimum}, got {getattr(self, key)}")
        for key, minimum in (("clip_stride", 1), ("eval_max_frames", 2)):
            value = getattr(self, key)
            require(value is None or value >= minimum, key, f"must be >= {minimum} or null, got {value}")
        require(self.materialize_dir is None or bool(self.materialize_dir), "materialize_dir", "must be a path or null")
        require(bool(self.davis_resolution), "davis_resolution", "must name a resolution folder, e.g. 480p")
        require(len(self.processors) > 0, "processors", "must name at least one processor")
        for name in self.processors:
            require(name in PROCESSORS or name == LEARNED_PROCESSOR, "processors",
                    f"unknown processor {name!r}; expected names of {(*PROCESSORS, LEARNED_PROCESSOR)}")
        require(len(set(self.processors)) == len(self.processors), "processors", f"names a processor twice: {list(self.processors)}")
        held_out = [name for name in self.processors if name in HELD_OUT_PROCESSORS]
        require(not held_out, "processors", f"{held_out} are held out for evaluation (v2v.processors.HELD_OUT_PROCESSORS): a "
                "stabiliser trained on them could not be evaluated on unseen flicker")
        require(LEARNED_PROCESSOR not in self.processors or bool(self.processor_checkpoint), "processor_checkpoint",
                f"must name the generator checkpoint that processor {LEARNED_PROCESSOR!r} runs (or leave it out of data.processors)")
        require(len(self.flicker) > 0 and all(mode in FLICKER_MODES for mode in self.flicker), "flicker",
                f"must name one or more of {FLICKER_MODES}, got {list(self.flicker)}")
        require(synthetic or self.flow.provider != "exact", "flow.provider",
                f"'exact' is only available for synthetic clips, not data.source={self.source}")
