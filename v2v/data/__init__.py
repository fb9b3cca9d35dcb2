"""Data for video-to-video translation: synthetic exact-flow clips, DAVIS 2017 folders, folders of videos, video IO.

Entry points:

- :class:`DataConfig` and :func:`build_dataset`: the data sets a run trains and evaluates on (each
  item already the task's input and target, :mod:`v2v.tasks`, with the input video's flows);
- :func:`synthetic_clip`: one synthetic clip with exact flows, masks and occlusion;
- :mod:`v2v.data.video_io` (streaming reads of video files and frame folders) and
  :mod:`v2v.data.video_writer` (atomic writes of either).

See ``docs/data.md``.
"""

from . import video_io
from .augment import FLOW_KEYS, CropFlip, apply_crop_flip, random_crop_flip, sample_crop_flip
from .config import DATA_SOURCES, DEFAULT_EVALUATION_SPLIT, SYNTHETIC_SPLITS, DataConfig
from .datasets import DavisVideoDataset, SyntheticVideoDataset, build_dataset
from .davis import DatasetNotFoundError, DavisSequence, read_annotation, scan_davis, write_davis_layout
from .synthetic import GRAY_TEXTURE_NAMES, PHOTO_NAMES, SyntheticConfig, synthetic_clip
from .video_io import open_video_reader, read_video
from .video_writer import VideoWriter
from .videos import VideoFolderDataset, default_frame_store, materialize_video

__all__ = [
    "synthetic_clip",
    "SyntheticConfig",
    "PHOTO_NAMES",
    "GRAY_TEXTURE_NAMES",
    "FLOW_KEYS",
    "CropFlip",
    "sample_crop_flip",
    "apply_crop_flip",
    "random_crop_flip",
    "DataConfig",
    "DATA_SOURCES",
    "SYNTHETIC_SPLITS",
    "DEFAULT_EVALUATION_SPLIT",
    "SyntheticVideoDataset",
    "DavisVideoDataset",
    "build_dataset",
    "VideoFolderDataset",
    "materialize_video",
    "default_frame_store",
    "DatasetNotFoundError",
    "DavisSequence",
    "scan_davis",
    "read_annotation",
    "write_davis_layout",
    "video_io",
    "open_video_reader",
    "read_video",
    "VideoWriter",
]
