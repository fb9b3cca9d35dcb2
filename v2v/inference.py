"""Running a trained generator on videos: the one path that translates, frame by frame.

- :class:`StreamingTranslator`: the generator's ``step`` (paper section 3.2.1, the recurrent state of
  frame t-1 feeding frame t), one frame at a time; a new shot starts from an empty state.
- :func:`stream_translate`: a stream of RGB frames (a video reader) translated as it is read:
  scene cuts detected, the task's input made, the output displayed. ``v2v.translate`` writes what
  it yields and ``v2v.reproduce`` scores it; memory does not grow with the length.
- :func:`translate_video`: a whole clip held as a tensor (validation, ``v2v.evaluate``, figures).

Conventions (ranges, flow layout): ``docs/conventions.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from v2v.scene_cuts import SceneCutDetector
from v2v.tasks import Task

__all__ = ["StreamingTranslator", "TranslatedFrame", "stream_translate", "translate_video"]


class StreamingTranslator:
    """A generator run frame by frame, holding the recurrent state between calls.

    Args:
        generator: a generator with ``step(frame [1, Cin, H, W], state) -> (output, state)``.
        device: where the generator runs.
        autocast: dtype for ``torch.autocast`` around the generator (e.g. ``torch.bfloat16``), or None.
    """

    def __init__(self, generator: torch.nn.Module, device: torch.device, autocast: torch.dtype | None = None) -> None:
        self.generator = generator
        self.device = device
        self.autocast = autocast
        self._state: Any = None

    @torch.no_grad()
    def step(self, frame: torch.Tensor, new_shot: bool = False) -> torch.Tensor:
        """Translate the next frame.

        Args:
            frame: model input ``[Cin, H, W]`` in [-1, 1].
            new_shot: the frame starts a new shot: the state of the previous frame is dropped.

        Returns:
            The output ``[Cout, H, W]``, float32 on the CPU, in [-1, 1].
        """
        if new_shot:
            self._state = None
        with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            output, self._state = self.generator.step(frame.unsqueeze(0).to(self.device), self._state)
        return output.squeeze(0).float().cpu()


@dataclass(frozen=True)
class TranslatedFrame:
    """One frame of a translated stream.

    Attributes:
        image: the frame as read, uint8 ``[H, W, 3]`` RGB.
        model_input: the task's input ``[Cin, H, W]`` in [-1, 1].
        output: the output as the task displays it (:meth:`v2v.tasks.Task.display`), ``[Cout, H, W]``
            float32 in [0, 1].
        new_shot: the frame started a new shot (the recurrent state was reset before it).
    """

    image: np.ndarray
    model_input: torch.Tensor
    output: torch.Tensor
    new_shot: bool


def stream_translate(
    generator: torch.nn.Module,
    task: Task,
    frames: Iterable[np.ndarray],
    device: torch.device,
    *,
    scene_cut_threshold: float | None,
    autocast: torch.dtype | None = None,
) -> Iterator[TranslatedFrame]:
    """Translate RGB frames one at a time as they are read, carrying the recurrent state within a shot.

    Args:
        generator: see :class:`StreamingTranslator`.
        task: the generator's task (its input transform and display).
        frames: uint8 ``[H, W, 3]`` RGB frames (a video reader).
        device: where the generator runs.
        scene_cut_threshold: of :class:`v2v.scene_cuts.SceneCutDetector`: a frame past it starts a
            new shot; None never resets the state.
        autocast: see :class:`StreamingTranslator`.

    Yields:
        A :class:`TranslatedFrame` per frame, before the next frame is read.
    """
    translator = StreamingTranslator(generator, device, autocast)
    detector = SceneCutDetector(scene_cut_threshold) if scene_cut_threshold is not None else None
    for image in frames:
        new_shot = detector.update(image) if detector is not None else False
        model_input = task.input(torch.from_numpy(image).permute(2, 0, 1))
        output = task.display(translator.step(model_input, new_shot))
        yield TranslatedFrame(image=image, model_input=model_input, output=output, new_shot=new_shot)


def translate_video(generator: torch.nn.Module, video: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Stream a whole clip ``[T, Cin, H, W]`` (model range) through ``generator.step`` in one shot;
    returns ``[T, Cout, H, W]`` in [-1, 1] on the CPU."""
    translator = StreamingTranslator(generator, device)
    return torch.stack([translator.step(frame) for frame in video])
