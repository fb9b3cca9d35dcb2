"""Data for video-to-video translation: synthetic exact-flow clips, DAVIS 2017 folders, tasks, video IO.

Entry points:

- :func:`synthetic_clip` one synthetic clip with exact flows, masks and occlusion;
- :func:`get_task` and :data:`TASK_REGISTRY` the three translation tasks (:class:`Task`: channels,
  transforms, display, metrics and scoring), with :data:`TASKS`, :func:`make_task_pair`,
  :func:`task_input`, :func:`task_channels` and :func:`to_unit_range`;
- :class:`DataConfig` and :func:`build_dataset` the data sets a run trains and evaluates on;
- :mod:`v2v.data.video_io` streaming video-file and frame-folder IO.

See ``docs/data.md``.
"""

from . import video_io
from .augment import FLOW_KEYS, CropFlip, apply_crop_flip, random_crop_flip, sample_crop_flip
from .config import DATA_SOURCES, SYNTHETIC_SPLITS, DataConfig
from .datasets import (
    DEFAULT_EVALUATION_SPLIT,
    DavisVideoDataset,
    SyntheticVideoDataset,
    build_dataset,
    precompute_flows,
)
from .davis import DavisSequence, read_annotation, scan_davis, write_davis_layout
from .synthetic import GRAY_TEXTURE_NAMES, PHOTO_NAMES, SyntheticConfig, synthetic_clip
from .tasks import (
    COMMON_METRICS,
    METRIC_GOALS,
    T_PROTOCOLS,
    TASK_REGISTRY,
    TASKS,
    ScoringOptions,
    Task,
    bicubic_degrade,
    get_task,
    make_task_pair,
    rgb_to_luma,
    task_channels,
    task_input,
    task_target,
    to_model_range,
    to_unit_range,
)
from .video_io import VideoWriter, open_video_reader, read_video

__all__ = [
    "synthetic_clip",
    "SyntheticConfig",
    "PHOTO_NAMES",
    "GRAY_TEXTURE_NAMES",
    "TASKS",
    "TASK_REGISTRY",
    "Task",
    "get_task",
    "ScoringOptions",
    "COMMON_METRICS",
    "METRIC_GOALS",
    "T_PROTOCOLS",
    "task_channels",
    "task_input",
    "task_target",
    "make_task_pair",
    "rgb_to_luma",
    "bicubic_degrade",
    "to_model_range",
    "to_unit_range",
    "FLOW_KEYS",
    "CropFlip",
    "sample_crop_flip",
    "apply_crop_flip",
    "random_crop_flip",
    "DataConfig",
    "DATA_SOURCES",
    "SYNTHETIC_SPLITS",
    "SyntheticVideoDataset",
    "DavisVideoDataset",
    "build_dataset",
    "DEFAULT_EVALUATION_SPLIT",
    "precompute_flows",
    "DavisSequence",
    "scan_davis",
    "read_annotation",
    "write_davis_layout",
    "video_io",
    "open_video_reader",
    "read_video",
    "VideoWriter",
]
