"""Writing checkpoints atomically, and the random-generator state that makes a resumed run exact.

Format: see :mod:`v2v.models.loading` (which reads them). Everything stored is a tensor or a plain
Python value, so ``torch.load(weights_only=True)`` reads it. A checkpoint is written to a temporary
file in the same folder, flushed to disk, then renamed over its final name (``os.replace``), so a
run killed at any instant leaves either the complete previous checkpoints or the new one, never a
torn file under a checkpoint name.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from v2v.models.loading import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, checkpoint_path, list_checkpoints

__all__ = ["capture_rng_state", "restore_rng_state", "save_checkpoint", "prune_checkpoints", "new_checkpoint"]


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


def new_checkpoint(step: int, config: dict[str, Any], **states: Any) -> dict[str, Any]:
    """A checkpoint dict with the format header, the step and the resolved config."""
    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": step, "config": config, **states}


def save_checkpoint(run_dir: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` as ``<run_dir>/checkpoints/step_<step>.pt`` atomically; returns the path."""
    path = checkpoint_path(run_dir, state["step"])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # Make the rename itself durable.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path


def prune_checkpoints(run_dir: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` checkpoints and stale temporary files; returns what went."""
    removed = []
    for _, path in list_checkpoints(run_dir)[:-keep] if keep > 0 else list_checkpoints(run_dir):
        path.unlink(missing_ok=True)
        removed.append(path)
    # Left behind by a process killed while writing (only rank 0 writes, so none is in progress).
    for path in (Path(run_dir) / "checkpoints").glob(".step_*.tmp"):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
