"""The three translation tasks of the paper (section 4.1), shared by every data source.

Frames come in as RGB ``[..., 3, H, W]`` float in [0, 1] (uint8 is accepted and divided by 255);
inputs and targets go out as float32 in [-1, 1], the range the models work in (SPEC section 2).

- ``segmentation``: input the RGB frames, target the foreground mask (1 channel, -1 / +1).
- ``colorization``: input the luma (ITU-R BT.601: ``Y = 0.299 R + 0.587 G + 0.114 B`` on the
  gamma-encoded values), target the RGB frames.
- ``superres``: input each frame downscaled by 1/2 then upscaled back with bicubic interpolation,
  target the original frames. An odd side ``n`` is downscaled to ``ceil(n / 2)`` and upscaled back
  to exactly ``n``, so input and target always share the frame size. The downscale is antialiased
  (``F.interpolate(..., antialias=True)``, like MATLAB's ``imresize`` and PIL); bicubic overshoot
  is clamped to [0, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "TASKS",
    "task_channels",
    "task_input",
    "task_target",
    "make_task_pair",
    "rgb_to_luma",
    "bicubic_degrade",
    "to_model_range",
    "to_unit_range",
]

TASKS = ("segmentation", "colorization", "superres")

_CHANNELS = {"segmentation": (3, 1), "colorization": (1, 3), "superres": (3, 3)}
_LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def task_channels(task: str) -> tuple[int, int]:
    """``(in_channels, out_channels)`` of a task: segmentation (3, 1), colorization (1, 3), superres (3, 3)."""
    _check_task(task)
    return _CHANNELS[task]


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """Map [0, 1] to [-1, 1] (``2 x - 1``)."""
    return x * 2.0 - 1.0


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """Map [-1, 1] back to [0, 1] (``(x + 1) / 2``), the inverse of :func:`to_model_range`."""
    return (x + 1.0) * 0.5


def _as_unit_frames(frames: torch.Tensor, name: str = "frames") -> torch.Tensor:
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(frames).__name__}")
    if frames.dim() < 3 or frames.shape[-3] != 3:
        raise ValueError(f"{name} must be RGB with shape [..., 3, H, W], got {tuple(frames.shape)}")
    if frames.dtype == torch.uint8:
        return frames.float() / 255.0
    if not frames.is_floating_point():
        raise ValueError(f"{name} must be float in [0, 1] or uint8, got {frames.dtype}")
    return frames.float()


def rgb_to_luma(frames: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of RGB frames.

    Args:
        frames: ``[..., 3, H, W]`` in [0, 1] (or uint8).

    Returns:
        ``[..., 1, H, W]`` float32 in [0, 1].
    """
    rgb = _as_unit_frames(frames)
    weights = torch.tensor(_LUMA_WEIGHTS, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    return (rgb * weights).sum(dim=-3, keepdim=True)


def bicubic_degrade(frames: torch.Tensor) -> torch.Tensor:
    """Bicubic downscale by 1/2 (antialiased) then bicubic upscale back to the original size.

    Args:
        frames: ``[..., C, H, W]`` float in [0, 1], H and W >= 2.

    Returns:
        Same shape, float32, clamped to [0, 1]. Odd sides: the low-resolution side is
        ``ceil(n / 2)`` and the upscale returns exactly ``n``.
    """
    if frames.dim() < 3:
        raise ValueError(f"frames must be [..., C, H, W], got {tuple(frames.shape)}")
    height, width = frames.shape[-2:]
    if height < 2 or width < 2:
        raise ValueError(f"superres needs frames of at least 2x2 pixels, got {height}x{width}")
    lead = frames.shape[:-3]
    flat = frames.reshape(-1, *frames.shape[-3:]).float()
    low = F.interpolate(flat, size=(math.ceil(height / 2), math.ceil(width / 2)), mode="bicubic",
                        align_corners=False, antialias=True)
    up = F.interpolate(low, size=(height, width), mode="bicubic", align_corners=False)
    return up.clamp(0.0, 1.0).reshape(*lead, *frames.shape[-3:])


def task_input(frames: torch.Tensor, task: str) -> torch.Tensor:
    """The input a task's model sees, from RGB frames (the transform used for raw videos too).

    Args:
        frames: ``[..., 3, H, W]`` float in [0, 1] or uint8.
        task: one of :data:`TASKS`.

    Returns:
        ``[..., Cin, H, W]`` float32 in [-1, 1] with ``Cin = task_channels(task)[0]``.
    """
    _check_task(task)
    rgb = _as_unit_frames(frames)
    if task == "segmentation":
        unit = rgb
    elif task == "colorization":
        unit = rgb_to_luma(rgb)
    else:
        unit = bicubic_degrade(rgb)
    return to_model_range(unit)


def task_target(frames: torch.Tensor, masks: torch.Tensor | None, task: str) -> torch.Tensor:
    """The target of a task: the mask for segmentation, the RGB frames otherwise.

    Args:
        frames: ``[..., 3, H, W]`` float in [0, 1] or uint8.
        masks: ``[..., 1, H, W]`` foreground (any value > 0.5, or True, is foreground); required
            for segmentation, ignored otherwise.
        task: one of :data:`TASKS`.

    Returns:
        ``[..., Cout, H, W]`` float32 in [-1, 1].
    """
    _check_task(task)
    rgb = _as_unit_frames(frames)
    if task != "segmentation":
        return to_model_range(rgb)
    if masks is None:
        raise ValueError("the segmentation task needs foreground masks, got masks=None")
    expected = (*rgb.shape[:-3], 1, *rgb.shape[-2:])
    if tuple(masks.shape) != expected:
        raise ValueError(f"masks must have shape {expected} to match the frames, got {tuple(masks.shape)}")
    foreground = masks > 0.5 if masks.dtype != torch.bool else masks
    return to_model_range(foreground.float())


def make_task_pair(frames: torch.Tensor, masks: torch.Tensor | None, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input, target)`` of a task for a clip.

    Args:
        frames: ``[T, 3, H, W]`` (or any ``[..., 3, H, W]``) float in [0, 1] or uint8.
        masks: ``[T, 1, H, W]`` foreground, required for segmentation, may be None otherwise.
        task: one of :data:`TASKS`.

    Returns:
        ``input`` ``[T, Cin, H, W]`` and ``target`` ``[T, Cout, H, W]``, float32 in [-1, 1].
    """
    return task_input(frames, task), task_target(frames, masks, task)
