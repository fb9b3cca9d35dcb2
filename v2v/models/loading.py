"""Reading training checkpoints for inference (and for ``--resume``).

A checkpoint is a ``torch.save`` dict of tensors and plain Python values only, so it loads with
``torch.load(weights_only=True)`` and cannot run code. Keys:

* ``format`` (``"v2v-checkpoint"``), ``version`` (1), ``step`` (optimisation steps done),
* ``config``: the resolved :class:`~v2v.config.RunConfig` as a nested dict,
* ``generator``, ``discriminator``: state dicts,
* ``optimizer_generator``, ``optimizer_discriminator``, ``scaler``: state dicts,
* ``rng``: per-rank random generator states, ``world_size``, ``data_position`` (see :mod:`v2v.train.checkpoint`).

Checkpoints live in ``<run>/checkpoints/step_<NNNNNNN>.pt``; the newest is the highest step.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from v2v.config import RunConfig, config_from_dict, resolve_config

from .factory import build_generator
from .generator import RecurrentUNet

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "checkpoint_path", "find_checkpoint", "list_checkpoints", "read_checkpoint", "load_generator"]

CHECKPOINT_FORMAT = "v2v-checkpoint"
CHECKPOINT_VERSION = 1
_CHECKPOINT_NAME = re.compile(r"^step_(\d{7,})\.pt$")


def checkpoint_path(run_dir: str | os.PathLike, step: int) -> Path:
    """Where the checkpoint of ``step`` lives in ``run_dir``."""
    return Path(run_dir) / "checkpoints" / f"step_{step:07d}.pt"


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of every complete checkpoint of a run, oldest first (temp files ignored)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _CHECKPOINT_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def find_checkpoint(path: str | os.PathLike) -> Path:
    """The checkpoint file ``path`` names: itself if a file, else the newest one of a run directory.

    Raises:
        FileNotFoundError: no such file, or a run directory without checkpoints.
    """
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        checkpoints = list_checkpoints(path)
        if not checkpoints:
            raise FileNotFoundError(f"run directory {path} has no checkpoints (looked in {path / 'checkpoints'})")
        return checkpoints[-1][1]
    raise FileNotFoundError(f"checkpoint path {path} does not exist (pass a run directory or a .pt checkpoint)")


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict with ``weights_only=True`` and check its format.

    Raises:
        FileNotFoundError: see :func:`find_checkpoint`.
        ValueError: not a v2v checkpoint, or an unsupported version.
    """
    file = find_checkpoint(path)
    try:
        state = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated file, foreign pickle, ...
        raise ValueError(f"{file} is not a readable v2v checkpoint: {error}") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{file} is not a v2v checkpoint (missing format={CHECKPOINT_FORMAT!r})")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{file} has checkpoint version {state.get('version')}, this v2v reads {CHECKPOINT_VERSION}")
    return state


def load_generator(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[RecurrentUNet, RunConfig]:
    """The trained generator of a run directory (its newest checkpoint) or of a checkpoint file.

    Returns:
        ``(generator, config)``: the generator in eval mode on ``map_location`` (dropout off, batch
        norm on running statistics), and the run's resolved config (``config.task`` says the
        channels, ``config.setting`` whether it is recurrent). Use ``generator(video)`` on whole
        clips or ``generator.step(frame, state)`` to stream a video frame by frame.
    """
    state = read_checkpoint(path, map_location)
    config = resolve_config(config_from_dict(RunConfig, state["config"]))
    generator = build_generator(config)
    generator.load_state_dict(state["generator"])
    return generator.to(map_location).eval(), config
