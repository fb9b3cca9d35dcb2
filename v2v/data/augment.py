"""Training augmentation of whole clips: one random crop and one horizontal flip for all frames.

The same window and the same flip are applied to every frame of a clip, to every per-frame tensor
(masks, targets, occlusion maps) and to the flows, so that the flows remain the flows of the
augmented video: a crop leaves displacements unchanged, a horizontal flip mirrors the field and
negates its x component (:func:`v2vcore.flow.flip_flow_horizontal`).

Randomness comes from ``torch``'s generator (the global one unless a ``torch.Generator`` is given),
so a training run seeded with ``torch.manual_seed`` (and DataLoader workers, which torch seeds per
worker) is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from v2vcore.flow import crop_flow, flip_flow_horizontal

__all__ = ["FLOW_KEYS", "CropFlip", "sample_crop_flip", "apply_crop_flip", "random_crop_flip"]

# Keys of a sample that hold flows ([T-1, 2, H, W]); every other tensor with the clip's spatial size
# is treated as an image (cropped and mirrored).
FLOW_KEYS = ("flow_fwd", "flow_bwd")


@dataclass(frozen=True)
class CropFlip:
    """One augmentation draw: the crop window (pixels) and whether to mirror horizontally."""

    top: int
    left: int
    height: int
    width: int
    flip: bool


def sample_crop_flip(
    frame_size: tuple[int, int],
    crop_size: tuple[int, int] | None,
    hflip: bool,
    generator: torch.Generator | None = None,
) -> CropFlip:
    """Draw a crop window (uniform over valid positions) and a flip (probability 1/2 when enabled).

    Args:
        frame_size: ``(H, W)`` of the clip.
        crop_size: ``(h, w)`` of the window, at most the frame size; None keeps the whole frame.
        hflip: whether a horizontal flip may be drawn.
        generator: optional ``torch.Generator``.
    """
    height, width = frame_size
    crop_h, crop_w = crop_size if crop_size is not None else (height, width)
    if crop_h > height or crop_w > width or crop_h <= 0 or crop_w <= 0:
        raise ValueError(f"crop size {crop_h}x{crop_w} does not fit frames of {height}x{width}")
    top = int(torch.randint(0, height - crop_h + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - crop_w + 1, (1,), generator=generator))
    flip = bool(hflip) and bool(torch.rand((), generator=generator) < 0.5)
    return CropFlip(top, left, crop_h, crop_w, flip)


def apply_crop_flip(sample: dict, params: CropFlip) -> dict:
    """Apply one crop/flip to every spatial tensor of a sample.

    Args:
        sample: a dict whose tensors all end in the clip's ``(H, W)`` (frames ``[T, C, H, W]``,
            flows under :data:`FLOW_KEYS` ``[T-1, 2, H, W]``, ...); other values pass through.
        params: the window and flip, from :func:`sample_crop_flip`.

    Returns:
        A new dict with the transformed tensors (contiguous).
    """
    spatial = {tuple(v.shape[-2:]) for v in sample.values() if isinstance(v, torch.Tensor) and v.dim() >= 2}
    if len(spatial) > 1:
        raise ValueError(f"the tensors of a sample must share one spatial size, got {sorted(spatial)}")
    out = {}
    window = (params.top, params.left, params.height, params.width)
    for key, value in sample.items():
        if not isinstance(value, torch.Tensor) or value.dim() < 2:
            out[key] = value
        elif key in FLOW_KEYS:
            flow = crop_flow(value, *window)
            out[key] = (flip_flow_horizontal(flow) if params.flip else flow).contiguous()
        else:
            image = value[..., params.top : params.top + params.height, params.left : params.left + params.width]
            out[key] = (image.flip(-1) if params.flip else image).contiguous()
    return out


def random_crop_flip(
    sample: dict,
    crop_size: tuple[int, int] | None,
    hflip: bool,
    generator: torch.Generator | None = None,
) -> dict:
    """Draw one crop/flip for the clip and apply it to all of its frames and flows.

    Args:
        sample: see :func:`apply_crop_flip`; its spatial size is read from the first tensor.
        crop_size: ``(h, w)`` or None (no crop).
        hflip: allow a horizontal flip (probability 1/2).
        generator: optional ``torch.Generator``.

    Returns:
        The augmented sample (a new dict).
    """
    sizes = [tuple(v.shape[-2:]) for v in sample.values() if isinstance(v, torch.Tensor) and v.dim() >= 2]
    if not sizes:
        raise ValueError("the sample holds no spatial tensor to augment")
    params = sample_crop_flip(sizes[0], crop_size, hflip, generator)
    return apply_crop_flip(sample, params)
