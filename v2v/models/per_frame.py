"""A trained generator as a per-frame processor: the learned member of the flickering bank (:mod:`v2v.processors`).

The project's own checkpoints are a real learned per-frame method: run on each frame on its own
(the recurrent state dropped before every frame, as an image model would run), their output
flickers in the way learned image methods do. :func:`checkpoint_processor` wraps one as a
:class:`v2v.processors.Processor` named :data:`v2v.processors.LEARNED_PROCESSOR`;
:func:`build_processors` turns a config's list of processor names (and the checkpoint path it
gives) into processors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from v2v.data import DataConfig
from v2v.frames import to_uint8
from v2v.inference import StreamingTranslator
from v2v.processors import LEARNED_PROCESSOR, Processor, get_processor
from v2v.tasks import get_task

from .checkpoint import read_generator

__all__ = ["checkpoint_processor", "build_processors", "dataset_processors"]


def checkpoint_processor(checkpoint: str | os.PathLike, device: str | torch.device = "cpu") -> Processor:
    """The generator behind ``checkpoint`` applied to each frame on its own, as a processor.

    Each frame goes through the task's input transform (luma for colorization, the bicubic
    degradation for super-resolution), one ``generator.step`` from an empty state (no recurrence:
    a video2video checkpoint runs as an image model) and the task's display; a one-channel output
    (a mask) is repeated to RGB. It has no drawn parameters: its flicker is the network's own.

    Args:
        checkpoint: a run folder, ``.pt`` checkpoint or generator export (:func:`v2v.models.read_generator`).
        device: where the generator runs.

    Returns:
        A :class:`v2v.processors.Processor` named ``image2image`` (kind ``learned``).

    Raises:
        FileNotFoundError, ValueError: nothing to load at ``checkpoint``, or not a v2v checkpoint.
    """
    device = torch.device(device)
    loaded = read_generator(checkpoint, map_location=device)
    task = get_task(loaded.config.task)
    translator = StreamingTranslator(loaded.generator, device)

    def apply(frame: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
        model_input = task.input(torch.from_numpy(frame).permute(2, 0, 1))
        shown = task.display(translator.step(model_input, new_shot=True))
        rgb = shown.expand(3, -1, -1) if shown.shape[0] == 1 else shown
        return np.ascontiguousarray(to_uint8(rgb.permute(1, 2, 0).numpy()))

    description = (f"the {loaded.config.task} generator of {loaded.path} ({loaded.config.setting}, step {loaded.step}), "
                   "frame by frame without recurrence")
    return Processor(LEARNED_PROCESSOR, "learned", (), apply, description)


def build_processors(names: Sequence[str], checkpoint: str | os.PathLike | None = None,
                     device: str | torch.device = "cpu") -> list[Processor]:
    """The processors a config names, the learned one built from ``checkpoint``.

    Args:
        names: names of :data:`v2v.processors.PROCESSORS` and/or ``image2image``.
        checkpoint: the generator checkpoint of ``image2image`` (required when it is named).
        device: where the learned processor runs.

    Raises:
        ValueError: an unknown name, or ``image2image`` named without a checkpoint path.
    """
    processors = []
    for name in names:
        if name == LEARNED_PROCESSOR:
            if checkpoint is None:
                raise ValueError(f"processor {LEARNED_PROCESSOR!r} is named but no checkpoint path is given: "
                                 "give the generator checkpoint it runs, or leave it out")
            processors.append(checkpoint_processor(checkpoint, device))
        else:
            processors.append(get_processor(name))
    return processors


def dataset_processors(data: DataConfig, task: str) -> list[Processor] | None:
    """The processors a run's data sets take (:func:`v2v.data.build_dataset`'s ``processors``):
    ``data.processors`` built, the learned one from ``data.processor_checkpoint``, for a task that
    processes its clips (``stabilize``); None for the other tasks.

    Raises:
        ValueError, FileNotFoundError: see :func:`build_processors`.
    """
    if not get_task(task).processed_input:
        return None
    return build_processors(data.processors, data.processor_checkpoint)
