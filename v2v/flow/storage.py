"""Atomic, checksummed tensor files (safetensors) for the flow cache and materialised data sets.

A file is written to a temporary name in the destination folder, flushed to disk and renamed over
the destination (:func:`v2v.fileio.atomic_path`), so readers see either the old complete file or the new complete
file, never a partial one, and a crash leaves at most a stray ``.tmp`` file. Each file stores a
checksum of its tensors (BLAKE2b over names, dtypes, shapes and bytes) in its metadata; a load
that fails to parse, misses the checksum or a tensor, or disagrees with the expected shapes raises
:class:`CorruptEntryError`, which callers treat as "recompute".
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from v2v.fileio import atomic_path

__all__ = ["CorruptEntryError", "tensors_checksum", "save_tensors_atomic", "load_tensors_checked"]

_CHECKSUM_KEY = "v2v_checksum"


class CorruptEntryError(RuntimeError):
    """A stored tensor file is unreadable, truncated, fails its checksum or has unexpected shapes."""


def tensors_checksum(tensors: dict[str, torch.Tensor]) -> str:
    """BLAKE2b hex digest over the names, dtypes, shapes and contents of ``tensors`` (sorted by name)."""
    digest = hashlib.blake2b(digest_size=20)
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_tensors_atomic(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` to ``path`` as safetensors, atomically, with a checksum in the metadata.

    Args:
        path: destination file; its folder is created when missing.
        tensors: name -> tensor (moved to CPU, made contiguous).
        metadata: optional string -> string pairs stored alongside.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cpu: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for name, tensor in tensors.items():
        tensor = tensor.detach().contiguous().cpu()
        pointer = tensor.untyped_storage().data_ptr()
        if tensor.numel() and pointer in storages:  # safetensors refuses tensors sharing memory
            tensor = tensor.clone()
        storages.add(tensor.untyped_storage().data_ptr())
        cpu[name] = tensor
    meta = dict(metadata or {})
    meta[_CHECKSUM_KEY] = tensors_checksum(cpu)
    with atomic_path(path) as temporary:
        save_file(cpu, str(temporary), metadata=meta)


def load_tensors_checked(
    path: str | os.PathLike,
    expected_shapes: dict[str, tuple[int, ...]] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load a file written by :func:`save_tensors_atomic` and verify it.

    Args:
        path: the file.
        expected_shapes: optional name -> shape; every listed tensor must exist with that shape.

    Returns:
        ``(tensors, metadata)``.

    Raises:
        FileNotFoundError: the file does not exist.
        CorruptEntryError: anything else is wrong with it (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such tensor file: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as error:  # safetensors raises its own error types for a bad header or size
        raise CorruptEntryError(f"{path}: unreadable or truncated ({error})") from error
    stored = metadata.get(_CHECKSUM_KEY)
    if stored is None:
        raise CorruptEntryError(f"{path}: no checksum in its metadata")
    if tensors_checksum(tensors) != stored:
        raise CorruptEntryError(f"{path}: checksum mismatch (the file was modified or damaged)")
    for name, shape in (expected_shapes or {}).items():
        if name not in tensors:
            raise CorruptEntryError(f"{path}: missing tensor {name!r}")
        if tuple(tensors[name].shape) != tuple(shape):
            raise CorruptEntryError(
                f"{path}: tensor {name!r} has shape {tuple(tensors[name].shape)}, expected {tuple(shape)}"
            )
    return tensors, metadata
