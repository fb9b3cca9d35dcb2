"""How a clip becomes a data-set item, for every source: the task's input and target, the flows of
the input video (exact, or estimated pair by pair through the flow cache), and one random crop and
flip applied to all of them."""

from __future__ import annotations

import torch

from v2v.flow import ExactFlowProvider, FlowCache, FlowProvider, iter_pair_flows
from v2v.tasks import get_task

from .augment import random_crop_flip
from .processing import ClipProcessing

__all__ = ["input_flows", "assemble"]


def input_flows(
    flow_frames: torch.Tensor,
    provider: FlowProvider,
    cache: FlowCache | None,
    exact: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flows of a clip: the exact ones when the provider is ``exact``, else computed on
    ``flow_frames`` ``[T, C, H, W]`` in [0, 1] (the task's :meth:`~v2v.tasks.Task.flow_frames` of its
    input) pair by pair through the cache, so that clips sharing frames (overlapping training
    windows) share their pairs' entries."""
    if isinstance(provider, ExactFlowProvider):
        return provider.compute(flow_frames, exact_flows=exact)
    unit = flow_frames
    pairs = list(iter_pair_flows(unit, provider, cache))
    if not pairs:  # a one-frame clip has no pair
        empty = unit.new_zeros((0, 2, *unit.shape[-2:]))
        return empty, empty.clone()
    return torch.stack([forward for forward, _ in pairs]), torch.stack([backward for _, backward in pairs])


def assemble(
    frames: torch.Tensor,
    masks: torch.Tensor | None,
    task: str,
    provider: FlowProvider,
    cache: FlowCache | None,
    exact: tuple[torch.Tensor, torch.Tensor] | None,
    crop_size: tuple[int, int] | None,
    hflip: bool,
    sequence: str,
    start: int,
    *,
    processing: ClipProcessing | None = None,
    index: int = 0,
) -> dict:
    """A data-set item from a clip's RGB frames ``[T, 3, H, W]`` in [0, 1] (and masks): the task's
    input and target, the input's flows, one random crop and flip of all of them (training), and
    its names (see :mod:`v2v.data.datasets`).

    For a :attr:`~v2v.tasks.Task.processed_input` task (``stabilize``), ``processing`` processes the
    clip (item ``index``, :class:`~v2v.data.processing.ClipProcessing`): the input is the clip and
    its processing, the target the processing, ``temporal_target`` its consistent reference, and
    the item also names the ``processor`` and ``flicker``; the flows are the clip's own.

    Raises:
        ValueError: a processed-input task without ``processing``.
    """
    spec = get_task(task)
    flow_fwd, flow_bwd = input_flows(spec.flow_frames(frames), provider, cache, exact)
    flows = {"flow_fwd": flow_fwd.float(), "flow_bwd": flow_bwd.float()}
    augment = crop_size is not None or hflip
    names = {}
    if spec.processed_input:
        if processing is None:
            raise ValueError(f"the {spec.name} task processes every clip: the data set needs a ClipProcessing "
                             "(build_dataset makes it from data.processors and data.flicker)")
        # Crop and flip the clip first, then process the crop: a video as valid as the whole frame
        # (the flows, computed on the whole frame, are cropped with it), at a fraction of the cost.
        cropped = random_crop_flip({"frames": frames, **flows}, crop_size, hflip) if augment else {"frames": frames, **flows}
        frames = cropped.pop("frames")
        clip = processing(frames, index)
        task_in, task_out = spec.pair(frames, None, clip.processed)
        sample = {"input": task_in, "target": task_out, "temporal_target": spec.target(frames, None, clip.consistent), **cropped}
        names = {"processor": clip.processor, "flicker": clip.flicker}
    else:
        task_in, task_out = spec.pair(frames, masks)
        # E^g, the temporal terms' target (the critic's real residuals), is the target's own.
        sample = {"input": task_in, "target": task_out, "temporal_target": task_out, **flows}
        if augment:
            sample = random_crop_flip(sample, crop_size, hflip)
    sample.update(name=f"{sequence}@{start:05d}", sequence=sequence, start=int(start), **names)
    return sample
