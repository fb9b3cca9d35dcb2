"""Process group and device for single-process, ``torchrun`` multi-GPU and multi-node runs.

``torchrun`` sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
when ``WORLD_SIZE`` > 1 the process group is NCCL on GPUs and gloo on CPUs. Only rank 0 writes
files (config, checkpoints, logs, samples).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from v2v.config_engine import ConfigError
from v2v.runtime import DeviceError, resolve_device

__all__ = ["Distributed", "setup_distributed", "teardown_distributed", "broadcast_object", "gather_objects"]


@dataclass(frozen=True)
class Distributed:
    """Where this process sits: its rank among ``world_size`` and its device."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    owns_process_group: bool
    """True when :func:`setup_distributed` created the group (and so tears it down)."""

    @property
    def is_main(self) -> bool:
        """Rank 0, the only process that writes files."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise RuntimeError(f"environment variable {name}={value!r} is not an integer") from None


def setup_distributed(device_option: str) -> Distributed:
    """Join the process group that ``torchrun`` describes (if any) and pick this process's device
    (``auto`` and ``cuda`` are the local rank's GPU).

    Raises:
        ConfigError: ``train.device`` names a device this process cannot use.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    try:
        device = resolve_device(device_option, local_rank)
    except DeviceError as error:
        raise ConfigError("train.device", str(error)) from None
    owns = False
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
        owns = True
    elif device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and dist.get_world_size() != world_size:
        raise RuntimeError(f"WORLD_SIZE={world_size} but the process group has {dist.get_world_size()} ranks")
    return Distributed(rank=rank, local_rank=local_rank, world_size=world_size, device=device, owns_process_group=owns)


def teardown_distributed(env: Distributed) -> None:
    """Leave the process group if this module created it."""
    if env.owns_process_group and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(env: Distributed, value: Any) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not env.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(env: Distributed, value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    if not env.enabled:
        return [value]
    boxes: list[Any] = [None] * env.world_size
    dist.all_gather_object(boxes, value)
    return boxes
