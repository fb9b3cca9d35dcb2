"""Flickering per-frame processing of clips, for the ``stabilize`` task: what a data set item's
processed frames and their temporally consistent reference are.

A :class:`ClipProcessing` holds the processors a run trains on (:mod:`v2v.processors`; the learned
one built by the command from its checkpoint, :func:`v2v.models.build_processors`) and the flicker
modes. For each clip it draws one processor, one flicker mode and one seed, and returns:

- ``processed``: the clip processed frame by frame under that flicker (the model input's second
  half and the target of L_spatial and the spatial critic);
- ``consistent``: the same processor with frame 0's parameters held (flicker ``none``): what the
  processing would look like without flicker. Its warping residuals E^g are what L_temporal and the
  temporal critic read as real. A processor without drawn parameters (the learned one) has no
  flicker-free version: its reference is the original clip, whose residuals along its own flows are
  those of consistent content.

Training draws with torch's global generator (seeded per DataLoader worker, so a run is
reproducible); evaluation draws from the item's index, so every evaluation of a split sees the same
processed videos.

Convention:
    Clips are ``[T, 3, H, W]`` float32 in [0, 1]; processing runs on their 8-bit rounding
    (:func:`v2v.frames.to_uint8`) and returns 8-bit values / 255, as a video file would hold them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from v2v.processors import FLICKER_MODES, Processor, get_processor, process_clip
from v2v.tasks import Task

__all__ = ["ClipProcessing", "ProcessedClip", "processors_by_name", "check_processing"]


@dataclass(frozen=True)
class ProcessedClip:
    """One clip's processing: which processor, flicker and seed, the processed frames and their
    consistent reference (both ``[T, 3, H, W]`` float32 in [0, 1])."""

    processor: str
    flicker: str
    seed: int
    processed: torch.Tensor
    consistent: torch.Tensor


def processors_by_name(names: Sequence[str]) -> tuple[Processor, ...]:
    """The bank's processors named ``names`` (the learned one cannot be built here: the command
    builds it from its checkpoint, :func:`v2v.models.build_processors`).

    Raises:
        ValueError: an unknown name, or ``image2image`` (naming what to do).
    """
    return tuple(get_processor(name) for name in names)


@dataclass(frozen=True)
class ClipProcessing:
    """The processors and flicker modes a data set's clips are drawn from.

    Args:
        processors: one or more :class:`v2v.processors.Processor`.
        flicker: one or more flicker modes of :data:`v2v.processors.FLICKER_MODES`.
        random: draw from torch's global generator (training); otherwise from the item index
            (evaluation: processor ``index % P``, flicker ``(index // P) % F``, seed ``index``).

    Raises:
        ValueError: no processor, no flicker mode or an unknown one.
    """

    processors: tuple[Processor, ...]
    flicker: tuple[str, ...]
    random: bool

    def __post_init__(self) -> None:
        if not self.processors:
            raise ValueError("processing needs at least one processor")
        if not self.flicker or any(mode not in FLICKER_MODES for mode in self.flicker):
            raise ValueError(f"flicker must name one or more of {FLICKER_MODES}, got {list(self.flicker)}")

    def draw(self, index: int) -> tuple[Processor, str, int]:
        """``(processor, flicker, seed)`` of item ``index`` (see the class)."""
        if self.random:
            processor = int(torch.randint(len(self.processors), ()).item())
            flicker = int(torch.randint(len(self.flicker), ()).item())
            seed = int(torch.randint(2**31 - 1, ()).item())
            return self.processors[processor], self.flicker[flicker], seed
        count = len(self.processors)
        return self.processors[index % count], self.flicker[(index // count) % len(self.flicker)], index

    def __call__(self, frames: torch.Tensor, index: int) -> ProcessedClip:
        """Process the clip ``frames`` ``[T, 3, H, W]`` (float in [0, 1]) of item ``index``."""
        processor, flicker, seed = self.draw(index)
        processed = process_clip(frames, processor, seed, flicker)
        if processor.parameters:
            consistent = process_clip(frames, processor, seed, "none")
        else:
            consistent = frames.float()
        return ProcessedClip(processor.name, flicker, seed, processed, consistent)


def check_processing(task: Task, processing: ClipProcessing | None) -> ClipProcessing | None:
    """``processing`` as a data set of ``task`` takes it: required for a task that processes its
    clips (:attr:`~v2v.tasks.Task.processed_input`), refused for the others.

    Raises:
        ValueError: naming the task and what it needs.
    """
    if task.processed_input and processing is None:
        raise ValueError(f"the {task.name} task needs processing=ClipProcessing(...): the flickering processors its clips go through")
    if not task.processed_input and processing is not None:
        raise ValueError(f"the {task.name} task does not process its clips; pass processing=None")
    return processing
