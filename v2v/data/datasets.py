"""Data set classes: synthetic exact-flow clips and DAVIS 2017 folders, and the ``build_dataset`` factory.

Every item is a dict:

- ``input`` ``[T, Cin, H, W]`` float32 in [-1, 1] (the task's input, :mod:`v2v.data.tasks`),
- ``target`` ``[T, Cout, H, W]`` float32 in [-1, 1],
- ``flow_fwd``, ``flow_bwd`` ``[T-1, 2, H, W]`` float32, the flows of the INPUT video in pixels
  (docs/conventions.md), consistent with the crop and flip applied to the frames,
- ``name`` ``"<sequence>@<start frame, 5 digits>"``, plus ``sequence`` (str) and ``start`` (int).

Pipeline of one item: frames (and masks) -> task input/target -> flows (exact, or a provider run on
the task input mapped to [0, 1], through the flow cache) -> for training, one random crop and flip
applied to input, target and flows together (:mod:`v2v.data.augment`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from v2v.flow import DEFAULT_FLOW_PROVIDER, ExactFlowProvider, FlowCache, FlowProvider, make_flow_provider
from v2v.flow.storage import CorruptEntryError, load_tensors_checked, save_tensors_atomic
from v2v.processors import Processor
from v2v.tasks import get_task

from .config import SYNTHETIC_SPLITS, DataConfig
from .davis import DavisSequence, read_annotation, scan_davis
from .processing import ClipProcessing, check_processing, processors_by_name
from .samples import assemble, input_flows
from .synthetic import SyntheticConfig, synthetic_clip
from .video_io import read_image
from .videos import VideoFolderDataset, default_frame_store

__all__ = ["SyntheticVideoDataset", "DavisVideoDataset", "build_dataset"]

_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}



class SyntheticVideoDataset(Dataset):
    """Synthetic clips with exact flow, deterministic from a seed.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; each split draws its sequences from its own
            seed stream, so splits never share a clip.
        task: one of :data:`v2v.data.TASKS`.
        num_sequences: number of clips in the split.
        num_frames: frames per clip (5 for training; longer "whole videos" for evaluation).
        size: frame size ``(H, W)``.
        seed: base seed; clip ``i`` of ``split`` uses a seed derived from ``(seed, split, i)``.
        synthetic: clip parameters (:class:`SyntheticConfig`).
        crop_size, hflip: training augmentation (None / False for evaluation).
        flow_provider: None or ``exact`` uses the exact flow; any other provider estimates the flow
            from the task input (for comparing estimated and exact flows).
        flow_cache: cache for estimated flows.
        materialize_dir: when set, clip ``i`` is stored under
            ``<materialize_dir>/<parameter hash>/<split>-<i>.safetensors`` on first use and loaded
            afterwards (a damaged file is regenerated).
    """

    def __init__(
        self,
        split: str,
        task: str,
        *,
        num_sequences: int,
        num_frames: int,
        size: tuple[int, int] = (256, 256),
        seed: int = 0,
        synthetic: SyntheticConfig | None = None,
        crop_size: tuple[int, int] | None = None,
        hflip: bool = False,
        flow_provider: FlowProvider | None = None,
        flow_cache: FlowCache | None = None,
        materialize_dir: str | os.PathLike | None = None,
        processing: ClipProcessing | None = None,
    ) -> None:
        if split not in SYNTHETIC_SPLITS:
            raise ValueError(f"synthetic split must be one of {SYNTHETIC_SPLITS}, got {split!r}")
        spec = get_task(task)
        if isinstance(num_sequences, bool) or not isinstance(num_sequences, int) or num_sequences < 1:
            raise ValueError(f"num_sequences must be an int >= 1, got {num_sequences!r}")
        if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 2:
            raise ValueError(f"num_frames must be an int >= 2, got {num_frames!r}")
        if crop_size is not None and (crop_size[0] > size[0] or crop_size[1] > size[1]):
            raise ValueError(f"crop_size {tuple(crop_size)} is larger than the frame size {tuple(size)}")
        self.split, self.task = split, task
        self.num_sequences, self.num_frames = num_sequences, num_frames
        self.size = (int(size[0]), int(size[1]))
        self.seed = int(seed)
        self.synthetic = synthetic if synthetic is not None else SyntheticConfig()
        self.crop_size = tuple(crop_size) if crop_size is not None else None
        self.hflip = bool(hflip)
        self.flow_provider = flow_provider if flow_provider is not None else ExactFlowProvider()
        self.flow_cache = flow_cache
        self.materialize_dir = Path(materialize_dir) if materialize_dir is not None else None
        self.channels = spec.channels
        self.processing = check_processing(spec, processing)

    def __len__(self) -> int:
        return self.num_sequences

    def sequence_seed(self, index: int) -> int:
        """The seed of clip ``index`` (derived from the base seed, the split and the index)."""
        state = np.random.SeedSequence([self.seed, _SPLIT_IDS[self.split], int(index)]).generate_state(2)
        return int(state[0]) << 32 | int(state[1])

    def _parameter_hash(self) -> str:
        params = {"size": self.size, "num_frames": self.num_frames, "synthetic": dataclasses.asdict(self.synthetic),
                  "generator": 1}
        return hashlib.blake2b(json.dumps(params, sort_keys=True).encode(), digest_size=8).hexdigest()

    def _materialized_path(self, index: int) -> Path:
        return self.materialize_dir / self._parameter_hash() / f"{self.split}-{index:06d}-{self.sequence_seed(index)}.safetensors"

    def clip(self, index: int) -> dict:
        """The raw synthetic clip ``index`` (see :func:`v2v.data.synthetic_clip`)."""
        if not 0 <= index < self.num_sequences:
            raise IndexError(f"index {index} out of range for {self.num_sequences} {self.split} sequences")
        seed = self.sequence_seed(index)
        if self.materialize_dir is None:
            return synthetic_clip(seed, self.size, self.num_frames, config=self.synthetic)
        path = self._materialized_path(index)
        height, width = self.size
        pairs = self.num_frames - 1
        shapes = {"frames": (self.num_frames, 3, height, width), "flow_fwd": (pairs, 2, height, width),
                  "flow_bwd": (pairs, 2, height, width), "masks": (self.num_frames, 1, height, width)}
        if path.is_file():
            try:
                tensors, _ = load_tensors_checked(path, shapes)
                return tensors
            except CorruptEntryError as error:  # regenerated and rewritten below, as the flow cache does
                warnings.warn(f"materialised clips: regenerating a damaged clip: {error}", RuntimeWarning, stacklevel=2)
        clip = synthetic_clip(seed, self.size, self.num_frames, config=self.synthetic)
        stored = {k: v for k, v in clip.items() if isinstance(v, torch.Tensor)}
        save_tensors_atomic(path, stored, {"seed": str(seed), "layers": ",".join(clip["layers"])})
        return stored

    def materialize(self, progress: bool = False) -> None:
        """Generate and store every clip of the split (requires ``materialize_dir``)."""
        if self.materialize_dir is None:
            raise ValueError("materialize() needs materialize_dir")
        for index in tqdm(range(self.num_sequences), desc=f"synthetic {self.split}", disable=not progress):
            self.clip(index)

    def flows(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Input-video flows of clip ``index`` before augmentation (computes and caches them)."""
        clip = self.clip(index)
        flow_frames = get_task(self.task).flow_frames(clip["frames"])
        return input_flows(flow_frames, self.flow_provider, self.flow_cache, (clip["flow_fwd"], clip["flow_bwd"]))

    def __getitem__(self, index: int) -> dict:
        clip = self.clip(index)
        return assemble(
            clip["frames"], clip["masks"], self.task, self.flow_provider, self.flow_cache,
            (clip["flow_fwd"], clip["flow_bwd"]), self.crop_size, self.hflip,
            f"synthetic-{self.split}-{index:05d}", 0, processing=self.processing, index=index,
        )


def _resize(image: np.ndarray, size: tuple[int, int] | None, nearest: bool = False) -> np.ndarray:
    if size is None or image.shape[:2] == tuple(size):
        return image
    height, width = size
    if nearest:
        interpolation = cv2.INTER_NEAREST_EXACT
    elif height <= image.shape[0] and width <= image.shape[1]:
        interpolation = cv2.INTER_AREA
    else:
        interpolation = cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


class DavisVideoDataset(Dataset):
    """A DAVIS 2017 folder as clips (training) or whole videos (evaluation).

    Args:
        root: DAVIS root (``JPEGImages/``, ``Annotations/``, ``ImageSets/2017/``).
        split: a list name in ``ImageSets/2017`` (``"train"``, ``"val"``).
        task: one of :data:`v2v.data.TASKS`; ``segmentation`` requires the annotations.
        resolution: resolution folder (``"480p"``).
        clip_length: frames per clip when sampling clips.
        clip_stride: start-frame step between clips; None = ``clip_length`` (non-overlapping,
            a last partial clip is dropped; sequences shorter than a clip give none).
        whole_videos: one item per sequence instead of clips; default: True for every split
            except ``"train"``.
        max_frames: cap on whole-video length (the first ``max_frames`` frames).
        frame_size: resize frames (area / bilinear) and masks (nearest) to ``(H, W)``; None keeps
            the native size.
        crop_size, hflip: training augmentation.
        flow_provider: provider run on the task input (default :data:`~v2v.flow.DEFAULT_FLOW_PROVIDER`
            with its default settings); ``exact``
            is an error (DAVIS has no exact flow).
        flow_cache: optional :class:`v2v.flow.FlowCache`.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str,
        task: str,
        *,
        resolution: str = "480p",
        clip_length: int = 5,
        clip_stride: int | None = None,
        whole_videos: bool | None = None,
        max_frames: int | None = None,
        frame_size: tuple[int, int] | None = None,
        crop_size: tuple[int, int] | None = None,
        hflip: bool = False,
        flow_provider: FlowProvider | None = None,
        flow_cache: FlowCache | None = None,
        processing: ClipProcessing | None = None,
    ) -> None:
        spec = get_task(task)
        if isinstance(flow_provider, ExactFlowProvider):
            raise ValueError("DAVIS folders have no exact flow: use the 'dis', 'tvl1' or 'raft' flow provider")
        if isinstance(clip_length, bool) or not isinstance(clip_length, int) or clip_length < 2:
            raise ValueError(f"clip_length must be an int >= 2, got {clip_length!r}")
        stride = clip_length if clip_stride is None else clip_stride
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ValueError(f"clip_stride must be an int >= 1 or None, got {clip_stride!r}")
        if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 2):
            raise ValueError(f"max_frames must be an int >= 2 or None, got {max_frames!r}")
        self.root, self.split, self.task = Path(root), split, task
        self.frame_size = tuple(frame_size) if frame_size is not None else None
        self.crop_size = tuple(crop_size) if crop_size is not None else None
        self.hflip = bool(hflip)
        self.whole_videos = (split != "train") if whole_videos is None else bool(whole_videos)
        self.flow_provider = flow_provider if flow_provider is not None else make_flow_provider(DEFAULT_FLOW_PROVIDER)
        self.flow_cache = flow_cache
        self.processing = check_processing(spec, processing)
        self.sequences: list[DavisSequence] = scan_davis(
            self.root, split, resolution, need_annotations=spec.needs_masks
        )
        self.items: list[tuple[int, int, int]] = []  # (sequence index, start frame, length)
        for seq_index, sequence in enumerate(self.sequences):
            if self.whole_videos:
                length = len(sequence) if max_frames is None else min(len(sequence), max_frames)
                if length < 2:
                    raise ValueError(f"DAVIS sequence {sequence.name!r} has {len(sequence)} frame(s); a video needs 2")
                self.items.append((seq_index, 0, length))
            else:
                for start in range(0, len(sequence) - clip_length + 1, stride):
                    self.items.append((seq_index, start, clip_length))
        if not self.items:
            raise ValueError(
                f"DAVIS split {split!r} at {self.root} gives no clip of {clip_length} frames (all sequences are shorter)"
            )
        size = self.frame_size
        for sequence in self.sequences:
            final = size if size is not None else sequence.frame_size
            if self.crop_size is not None and (self.crop_size[0] > final[0] or self.crop_size[1] > final[1]):
                raise ValueError(
                    f"crop_size {self.crop_size} is larger than the frames of {sequence.name!r} ({final[0]}x{final[1]})"
                )

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None, str, int]:
        """Frames ``[T, 3, H, W]`` float [0, 1], masks ``[T, 1, H, W]`` (or None), sequence name, start."""
        if not 0 <= index < len(self.items):
            raise IndexError(f"index {index} out of range for {len(self.items)} items")
        seq_index, start, length = self.items[index]
        sequence = self.sequences[seq_index]
        frames = []
        for path in sequence.frame_files[start : start + length]:
            image = read_image(path)
            if image.shape[:2] != sequence.frame_size:
                raise ValueError(f"frame {path} changed size on disk: {image.shape[0]}x{image.shape[1]}, "
                                 f"expected {sequence.frame_size[0]}x{sequence.frame_size[1]}")
            frames.append(torch.from_numpy(_resize(image, self.frame_size)).permute(2, 0, 1))
        video = torch.stack(frames).float() / 255.0
        masks = None
        if get_task(self.task).needs_masks:
            stack = []
            for path in sequence.annotation_files[start : start + length]:
                mask = read_annotation(path).astype(np.uint8)
                stack.append(torch.from_numpy(_resize(mask, self.frame_size, nearest=True)))
            masks = torch.stack(stack).unsqueeze(1).float()
        return video, masks, sequence.name, start

    def flows(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Input-video flows of item ``index`` before augmentation (computes and caches them)."""
        frames, masks, _, _ = self.load(index)
        return input_flows(get_task(self.task).flow_frames(frames), self.flow_provider, self.flow_cache, None)

    def __getitem__(self, index: int) -> dict:
        frames, masks, name, start = self.load(index)
        return assemble(frames, masks, self.task, self.flow_provider, self.flow_cache, None,
                         self.crop_size, self.hflip, name, start, processing=self.processing, index=index)


def build_dataset(
    config: DataConfig, split: str, task: str, *, progress: bool = True, processors: Sequence[Processor] | None = None,
) -> SyntheticVideoDataset | DavisVideoDataset | VideoFolderDataset:
    """The data set a run trains (``split="train"``) or evaluates (``"val"``/``"test"``) on.

    Training splits sample clips of ``config.clip_length`` frames with the configured crop and
    flip; evaluation splits give whole videos (synthetic: ``eval_clip_length`` frames; DAVIS: whole
    sequences, capped by ``eval_max_frames``; videos: whole shots) without augmentation.

    Args:
        config: the data configuration.
        split: ``"train"``, ``"val"`` or ``"test"`` (DAVIS: any list in ``ImageSets/2017``; videos:
            ``train`` or ``val``).
        task: a task of :data:`v2v.tasks.TASK_REGISTRY`.
        progress: show a progress bar where a source prepares its data (videos decoded the first time).
        processors: for a task that processes its clips (``stabilize``), the processors of
            ``config.processors`` as built (:func:`v2v.models.dataset_processors`, which builds the
            learned one from its checkpoint); None builds them by name (the learned one cannot be
            built here). Ignored by the other tasks.

    Raises:
        ValueError: ``config.processors`` names ``image2image`` and ``processors`` is None.
    """
    if not isinstance(config, DataConfig):
        raise TypeError(f"config must be a DataConfig, got {type(config).__name__}")
    spec = get_task(task)  # an unknown task fails before any data is touched
    training = split == "train"
    processing = None
    if spec.processed_input:
        processing = ClipProcessing(tuple(processors) if processors is not None else processors_by_name(config.processors),
                                    tuple(config.flicker), random=training)
    provider = config.flow.build_provider(has_exact_flow=config.has_exact_flow)
    cache = None if isinstance(provider, ExactFlowProvider) else config.flow.build_cache()
    crop = config.crop_size if training else None
    hflip = config.hflip and training
    if config.source == "videos":
        return VideoFolderDataset(
            config.root, split, task, short_side=config.short_side, clip_length=config.clip_length,
            clip_stride=config.clip_stride, whole_videos=not training, max_frames=None if training else config.eval_max_frames,
            crop_size=crop, hflip=hflip, flow_provider=provider, flow_cache=cache,
            store=config.materialize_dir or default_frame_store(), progress=progress, processing=processing,
        )
    if config.source == "synthetic":
        return SyntheticVideoDataset(
            split, task,
            num_sequences=config.num_train_sequences if training else config.num_val_sequences,
            num_frames=config.clip_length if training else config.eval_clip_length,
            size=config.frame_size, seed=config.seed, synthetic=config.synthetic,
            crop_size=crop, hflip=hflip, flow_provider=provider, flow_cache=cache,
            materialize_dir=config.materialize_dir, processing=processing,
        )
    return DavisVideoDataset(
        config.root, split, task, resolution=config.davis_resolution,
        clip_length=config.clip_length, clip_stride=config.clip_stride,
        whole_videos=not training, max_frames=None if training else config.eval_max_frames,
        frame_size=config.frame_size, crop_size=crop, hflip=hflip,
        flow_provider=provider, flow_cache=cache, processing=processing,
    )
