"""Checkpoints and generator exports: the format, the writers, the readers, in one module.

**Training checkpoint** (``<run>/checkpoints/step_<NNNNNNN>.pt``, and ``checkpoints/best.pt``): a
``torch.save`` dict of tensors and plain Python values only, so it loads with
``torch.load(weights_only=True)`` and cannot run code. Keys:

* ``format`` (``"v2v-checkpoint"``), ``version`` (2), ``step`` (optimisation steps done),
* ``config``: the resolved :class:`~v2v.config.RunConfig` as a nested dict,
* ``generator``, ``discriminator``: state dicts,
* ``optimizer_generator``, ``optimizer_discriminator``, ``scaler``: state dicts,
* ``rng``: every rank's random generator states (:func:`capture_rng_state`), ``world_size``,
* ``best``: ``{"metric", "value", "step"}`` of the best validation so far, or None (version 1
  checkpoints, which lack the key, read as None).

The newest checkpoint of a run is its highest step; ``best.pt`` is never pruned and never taken as
the newest.

**Generator export** (``<folder>/generator.safetensors`` + ``<folder>/generator.yaml``): the
generator's state dict alone as safetensors (metadata: ``format`` ``"v2v-generator"``,
``version``, ``step``), beside the run's resolved config as YAML. A fraction of a checkpoint's size
(no discriminator, no optimiser moments) and no pickle at all. Training writes one in the run
directory at the end and one in ``<run>/best/`` at each new best validation.

Every file is written atomically (:mod:`v2v.fileio`): a run killed at any instant leaves complete
files under their final names, at most a hidden temporary beside them.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import save_file

from v2v.config import RunConfig, run_config, with_stated_defaults
from v2v.fileio import atomic_path, atomic_write_text

from .factory import build_generator
from .generator import RecurrentUNet

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "GENERATOR_FORMAT",
    "GENERATOR_VERSION",
    "GENERATOR_WEIGHTS",
    "GENERATOR_CONFIG",
    "checkpoint_path",
    "best_checkpoint_path",
    "list_checkpoints",
    "find_checkpoint",
    "read_checkpoint",
    "new_checkpoint",
    "save_checkpoint",
    "prune_checkpoints",
    "capture_rng_state",
    "restore_rng_state",
    "export_generator",
    "LoadedGenerator",
    "read_generator",
    "load_generator",
]

CHECKPOINT_FORMAT = "v2v-checkpoint"
CHECKPOINT_VERSION = 2
"""Version 2 added ``best``; version 1 checkpoints are still read."""
GENERATOR_FORMAT = "v2v-generator"
GENERATOR_VERSION = 1
GENERATOR_WEIGHTS = "generator.safetensors"
GENERATOR_CONFIG = "generator.yaml"
_CHECKPOINT_NAME = re.compile(r"^step_(\d{7,})\.pt$")


# --------------------------------------------------------------------------------------------------
# Where checkpoints live.


def checkpoint_path(run_dir: str | os.PathLike, step: int) -> Path:
    """Where the checkpoint of ``step`` lives in ``run_dir``."""
    return Path(run_dir) / "checkpoints" / f"step_{step:07d}.pt"


def best_checkpoint_path(run_dir: str | os.PathLike) -> Path:
    """Where the checkpoint of the best validation lives in ``run_dir``."""
    return Path(run_dir) / "checkpoints" / "best.pt"


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of every complete step checkpoint of a run, oldest first (temporary files
    and ``best.pt`` are not listed)."""
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


# --------------------------------------------------------------------------------------------------
# Training checkpoints: writing and reading.


def new_checkpoint(step: int, config: dict[str, Any], **states: Any) -> dict[str, Any]:
    """A checkpoint dict with the format header, the step and the resolved config."""
    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": step, "config": config, **states}


def save_checkpoint(run_dir: str | os.PathLike, state: dict[str, Any], *, best: bool = False) -> Path:
    """Write ``state`` atomically as ``<run_dir>/checkpoints/step_<step>.pt`` (``best.pt`` with
    ``best``); returns the path."""
    path = best_checkpoint_path(run_dir) if best else checkpoint_path(run_dir, state["step"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        torch.save(state, temporary)
    return path


def prune_checkpoints(run_dir: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` step checkpoints and stale temporary files; returns what
    went. ``best.pt`` is kept."""
    removed = []
    for _, path in list_checkpoints(run_dir)[:-keep] if keep > 0 else list_checkpoints(run_dir):
        path.unlink(missing_ok=True)
        removed.append(path)
    # Left behind by a process killed while writing (only rank 0 writes, so none is in progress).
    for path in (Path(run_dir) / "checkpoints").glob(".*.tmp"):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict with ``weights_only=True`` and check its format.

    Args:
        path: a checkpoint file, or a run directory (its newest step checkpoint).

    Raises:
        FileNotFoundError: see :func:`find_checkpoint`.
        ValueError: not a v2v checkpoint, or an unsupported version.
    """
    file = find_checkpoint(path)
    expected = f"a .pt checkpoint written by v2v.train, a run directory, or a {GENERATOR_WEIGHTS} export"
    # torch.save writes a zip archive; anything else (a video, a text file) is named as what it is not,
    # without torch's unpickling error, whose advice (weights_only=False) is wrong for it.
    if not zipfile.is_zipfile(file):
        raise ValueError(f"{file} is not a v2v checkpoint (not a complete torch.save archive: another kind of file, or a "
                         f"truncated one); expected {expected}")
    try:
        state = torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:  # the weights-only loader met an object that is not a tensor or a plain value
        raise ValueError(f"{file} is not a v2v checkpoint: it holds Python objects that a v2v checkpoint never holds, "
                         f"and it is not unpickled; expected {expected}") from None
    except Exception as error:  # a truncated or damaged archive
        raise ValueError(f"{file} is not a readable v2v checkpoint ({type(error).__name__}: {str(error).splitlines()[0]}); "
                         f"expected {expected}") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{file} is not a v2v checkpoint (missing format={CHECKPOINT_FORMAT!r})")
    version = state.get("version")
    if version == 1:
        state = {**state, "version": CHECKPOINT_VERSION, "best": None}  # no validation was tracked
    elif version != CHECKPOINT_VERSION:
        raise ValueError(f"{file} has checkpoint version {version}, this v2v reads 1 and {CHECKPOINT_VERSION}")
    if isinstance(state.get("config"), dict):
        state = {**state, "config": with_stated_defaults(state["config"])}  # written by older code: migrated
    return state


# --------------------------------------------------------------------------------------------------
# Random generator states (what makes a resumed run exact).


def capture_rng_state() -> dict[str, Any]:
    """This process's torch (CPU and CUDA), NumPy and Python random states, as storable values."""
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "pos": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
        "python": random.getstate(),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"]:
        if not torch.cuda.is_available() or torch.cuda.device_count() < len(state["cuda"]):
            raise RuntimeError(
                f"the checkpoint holds the state of {len(state['cuda'])} CUDA device(s), "
                f"this process sees {torch.cuda.device_count() if torch.cuda.is_available() else 0}"
            )
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


# --------------------------------------------------------------------------------------------------
# Generator exports and loading a generator for inference.


def export_generator(folder: str | os.PathLike, generator_state: dict[str, torch.Tensor], config: dict[str, Any], step: int) -> Path:
    """Write ``<folder>/generator.safetensors`` and ``<folder>/generator.yaml`` atomically.

    Args:
        folder: destination folder (created when missing).
        generator_state: the generator's state dict.
        config: the run's resolved config as a nested dict.
        step: optimisation steps behind these weights (stored in the metadata).

    Returns:
        The path of the safetensors file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in generator_state.items()}
    metadata = {"format": GENERATOR_FORMAT, "version": str(GENERATOR_VERSION), "step": str(step)}
    # The config first: a reader between the two renames sees the new config (identical within
    # a run) with the previous weights, never weights without a config.
    atomic_write_text(folder / GENERATOR_CONFIG, yaml.safe_dump(config, sort_keys=False))
    weights = folder / GENERATOR_WEIGHTS
    with atomic_path(weights) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)
    return weights


def _read_export(weights: Path, map_location: str | torch.device) -> tuple[dict[str, torch.Tensor], dict[str, Any], int]:
    config_file = weights.with_suffix(".yaml")
    if not config_file.is_file():
        raise FileNotFoundError(f"generator export {weights} has no config beside it (expected {config_file})")
    try:
        with safe_open(str(weights), framework="pt", device=str(map_location)) as handle:
            metadata = dict(handle.metadata() or {})
            state = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as error:  # safetensors raises its own types for a bad header or size
        raise ValueError(f"{weights} is not a readable safetensors file: {error}") from error
    if metadata.get("format") != GENERATOR_FORMAT:
        raise ValueError(f"{weights} is not a v2v generator export (missing format={GENERATOR_FORMAT!r} in its metadata)")
    if metadata.get("version") != str(GENERATOR_VERSION):
        raise ValueError(f"{weights} has generator export version {metadata.get('version')}, this v2v reads {GENERATOR_VERSION}")
    config = yaml.safe_load(config_file.read_text())
    return state, config, int(metadata["step"])


def _generator_file(path: Path) -> Path:
    """The file behind ``path``: a checkpoint or export file itself, or for a folder its newest
    step checkpoint, else its generator export."""
    if path.is_file():
        return path
    if path.is_dir():
        checkpoints = list_checkpoints(path)
        if checkpoints:
            return checkpoints[-1][1]
        if (path / GENERATOR_WEIGHTS).is_file():
            return path / GENERATOR_WEIGHTS
        raise FileNotFoundError(
            f"{path} has no checkpoints (looked in {path / 'checkpoints'}) and no generator export ({GENERATOR_WEIGHTS})"
        )
    raise FileNotFoundError(f"checkpoint path {path} does not exist (pass a run directory, a .pt checkpoint or a {GENERATOR_WEIGHTS})")


@dataclass
class LoadedGenerator:
    """A generator ready for inference and where it came from."""

    generator: RecurrentUNet
    """In eval mode (dropout off, batch norm on running statistics)."""
    config: RunConfig
    """The run's resolved config (``task`` says the channels, ``setting`` whether it is recurrent)."""
    step: int
    """Optimisation steps behind the weights."""
    path: Path
    """The checkpoint or export file read."""


def read_generator(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LoadedGenerator:
    """The trained generator behind ``path``, with its config and step.

    Args:
        path: a run directory (its newest step checkpoint, or its ``generator.safetensors`` when it
            has no checkpoints), a ``.pt`` checkpoint, a ``generator.safetensors`` export (its
            ``generator.yaml`` beside it), or an export folder such as ``<run>/best``.
        map_location: device for the weights and the returned generator.

    Raises:
        FileNotFoundError: nothing to load at ``path`` (the message says what was looked for).
        ValueError: the file is not a v2v checkpoint or export, or does not match its config.
    """
    file = _generator_file(Path(path))
    if file.suffix == ".safetensors":
        state, config_values, step = _read_export(file, map_location)
    else:
        checkpoint = read_checkpoint(file, map_location)
        state, config_values, step = checkpoint["generator"], checkpoint["config"], checkpoint["step"]
    config = run_config(with_stated_defaults(config_values))
    generator = build_generator(config.model, config.task, config.setting_switches)
    try:
        generator.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f"{file}: the generator weights do not match its config: {error}") from error
    return LoadedGenerator(generator=generator.to(map_location).eval(), config=config, step=step, path=file)


def load_generator(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[RecurrentUNet, RunConfig]:
    """``(generator, config)`` of :func:`read_generator`: the generator in eval mode on
    ``map_location`` and the run's resolved config. Use ``generator(video)`` on whole clips or
    ``generator.step(frame, state)`` to stream a video frame by frame."""
    loaded = read_generator(path, map_location)
    return loaded.generator, loaded.config
