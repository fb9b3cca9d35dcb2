"""The order in which training clips are seen, resumable at any step, and batching.

Epoch ``e`` visits the data set in the permutation drawn from ``(seed, e)``; step ``k`` of the
epoch takes the ``k``-th block of ``batch_size x world_size`` clips, and rank ``r`` its ``r``-th
``batch_size``. An incomplete last block of an epoch is skipped. Each clip is fetched with the
global torch generator seeded from ``(seed, step, rank, slot)`` (random crops and flips draw from
it), inside :func:`torch.random.fork_rng` so the training process's own stream is untouched.

The clips of step ``s``, augmentation included, are therefore a pure function of ``(seed, s)``
whatever the number of loader workers: a resumed run reads exactly what the uninterrupted run
would have read, without replaying the data.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["ResumableBatchSampler", "SeededClips", "collate_clips", "make_loader", "CLIP_KEYS"]

CLIP_KEYS = ("input", "target", "temporal_target", "flow_fwd", "flow_bwd")
"""Tensor keys of a data set item (docs/conventions.md / v2v.data); ``name`` is the clip's name."""


class ResumableBatchSampler:
    """Batches of ``(index, item seed)`` for steps ``start_step``, ``start_step + 1``, ... (endless).

    Args:
        num_items: length of the data set.
        batch_size: clips per step on this rank.
        seed: run seed; the permutation of epoch e is drawn from ``seed`` and ``e``.
        rank, world_size: this process's share.
        start_step: first step to produce (the checkpoint's step when resuming).
    """

    def __init__(self, num_items: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1, start_step: int = 0):
        per_step = batch_size * world_size
        if num_items < per_step:
            raise ValueError(
                f"the training set has {num_items} clips, fewer than train.batch_size x processes = "
                f"{batch_size} x {world_size}: lower train.batch_size or add data"
            )
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start_step = start_step
        self.steps_per_epoch = num_items // per_step

    def permutation(self, epoch: int) -> torch.Tensor:
        """The visiting order of ``epoch``."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_items, generator=generator)

    def indices(self, step: int) -> list[int]:
        """This rank's clip indices at ``step``."""
        epoch, within = divmod(step, self.steps_per_epoch)
        start = (within * self.world_size + self.rank) * self.batch_size
        return self.permutation(epoch)[start : start + self.batch_size].tolist()

    def item_seed(self, step: int, slot: int) -> int:
        """Seed of the random augmentation of the ``slot``-th clip of this rank's batch at ``step``."""
        return int(np.random.SeedSequence([self.seed, step, self.rank, slot]).generate_state(1, np.uint64)[0] >> 1)

    def batch(self, step: int) -> list[tuple[int, int]]:
        """This rank's ``(index, item seed)`` pairs at ``step``."""
        return [(index, self.item_seed(step, slot)) for slot, index in enumerate(self.indices(step))]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            yield self.batch(step)
            step += 1


class SeededClips(Dataset):
    """``dataset`` indexed by ``(index, seed)``: the item is fetched with torch's global generator
    seeded by ``seed`` (restored afterwards), so its random augmentation is reproducible."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]


def collate_clips(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack items into a batch and check that their flows are finite.

    Flows are constants of the input video; checking them here, on the loader's side, lets the
    hot loop call the residual-error op with ``check_flows=False`` (no device sync on CUDA).
    """
    batch: dict[str, Any] = {}
    for key in CLIP_KEYS:
        try:
            batch[key] = torch.stack([item[key] for item in items])
        except KeyError:
            raise KeyError(f"data set items must have the keys {CLIP_KEYS} and 'name'; one lacks {key!r}") from None
        except RuntimeError as error:
            raise RuntimeError(f"clips of one batch differ in {key!r} shape: {error}") from error
    try:
        batch["name"] = [str(item["name"]) for item in items]
    except KeyError:
        raise KeyError(f"data set items must have the keys {CLIP_KEYS} and 'name'; one lacks 'name'") from None
    for key in ("flow_fwd", "flow_bwd"):
        finite = torch.isfinite(batch[key]).flatten(1).all(dim=1)
        if not bool(finite.all()):
            bad = [name for name, ok in zip(batch["name"], finite.tolist()) if not ok]
            raise ValueError(f"non-finite values in {key} of clip(s) {bad}")
    return batch


def _leave_stop_signals_to_the_main_process(worker_id: int) -> None:
    """Ctrl-C reaches every process of the terminal's group and a scheduler's SIGTERM often every
    process of the job; the main process then finishes its step and checkpoints. So a loader worker
    ignores SIGINT and exits with status 0 on SIGTERM (which is also how the loader ends its
    workers): dying by a signal would make the main process raise "DataLoader worker killed"."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))


def make_loader(dataset: Dataset, sampler: ResumableBatchSampler, *, num_workers: int, pin_memory: bool, seed: int) -> DataLoader:
    """An endless loader over ``dataset`` in ``sampler``'s order."""
    # A private generator: DataLoader otherwise draws its workers' base seed from the global RNG,
    # which would shift dropout's random stream between a fresh and a resumed run.
    generator = torch.Generator().manual_seed(seed * 1_000_003 + sampler.start_step)
    return DataLoader(
        SeededClips(dataset),
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_clips,
        pin_memory=pin_memory,
        generator=generator,
        worker_init_fn=_leave_stop_signals_to_the_main_process,
        persistent_workers=False,
    )
