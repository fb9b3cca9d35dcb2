"""On-disk cache of optical flows, keyed by the frames' content and the provider's identity.

Flows are constants of the input video (docs/conventions.md), so each clip's flows are computed once and
reused across epochs and runs. The key is a BLAKE2b hash of

- the cache format version,
- the provider's identity (name, settings, the versions of the library that computes it; for RAFT
  the content hash of the weights file),
- the frames' dtype, shape and raw bytes, exactly as passed to the provider.

An entry is one safetensors file ``<root>/<key[:2]>/<key>.safetensors`` holding ``flow_fwd`` and
``flow_bwd``, written atomically with a checksum (:mod:`v2v.flow.storage`), in float32 or, in the
``float16`` storage mode, half precision (then the mode is part of the key, so the two modes never
read each other's entries; float32 keys are those of earlier versions). A frame pair at 480x854
takes 6.6 MB in float32 (two flows of 2 x 480 x 854 values) and 3.3 MB in float16. An entry that is
unreadable, truncated, fails its checksum or has the wrong shape is reported with a warning,
recomputed and overwritten. Concurrent writers of one key (DataLoader workers) are harmless: both
write complete files and the last rename wins.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .providers import ExactFlowProvider, FlowProvider
from .storage import CorruptEntryError, load_tensors_checked, save_tensors_atomic

__all__ = ["FlowCache", "CACHE_FORMAT_VERSION", "STORAGE_DTYPES"]

CACHE_FORMAT_VERSION = 1

STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}
"""How entries may be stored (``FlowConfig.cache_dtype``)."""


def _frames_bytes(frames) -> tuple[str, tuple[int, ...], bytes]:
    if isinstance(frames, torch.Tensor):
        array = frames.detach().cpu().contiguous().numpy()
    elif isinstance(frames, np.ndarray):
        array = np.ascontiguousarray(frames)
    else:
        raise TypeError(f"frames must be a torch.Tensor or numpy array, got {type(frames).__name__}")
    return str(array.dtype), tuple(array.shape), array.tobytes()


class FlowCache:
    """Flows on disk under ``root``, keyed by frame content and provider identity.

    Args:
        root: cache folder (created on first write).
        storage_dtype: ``"float32"`` or ``"float16"`` (see the module docstring).

    Attributes:
        hits, misses, recomputed: counters of loads served, entries computed because absent, and
            entries computed because the stored one was corrupt (per instance, per process).
    """

    def __init__(self, root: str | os.PathLike, storage_dtype: str = "float32") -> None:
        if root is None or str(root) == "":
            raise ValueError("FlowCache needs a root folder, got an empty path")
        if storage_dtype not in STORAGE_DTYPES:
            raise ValueError(f"FlowCache storage_dtype must be one of {list(STORAGE_DTYPES)}, got {storage_dtype!r}")
        self.storage_dtype = storage_dtype
        self.root = Path(root).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"flow cache root {self.root} exists and is not a folder")
        self.hits = 0
        self.misses = 0
        self.recomputed = 0

    def key(self, frames, provider: FlowProvider) -> str:
        """The cache key (hex) of ``frames`` under ``provider``."""
        storage = {} if self.storage_dtype == "float32" else {"storage": self.storage_dtype}
        identity = json.dumps({"format": CACHE_FORMAT_VERSION, **storage, **provider.identity()}, sort_keys=True)
        dtype, shape, data = _frames_bytes(frames)
        digest = hashlib.blake2b(digest_size=20)
        digest.update(identity.encode())
        digest.update(f"|{dtype}|{shape}|".encode())
        digest.update(data)
        return digest.hexdigest()

    def path(self, key: str) -> Path:
        """File of an entry."""
        return self.root / key[:2] / f"{key}.safetensors"

    def load(self, key: str, expected_shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The stored flows of ``key``, or None when absent.

        Raises:
            CorruptEntryError: the entry exists but is damaged or has another shape.
        """
        path = self.path(key)
        if not path.is_file():
            return None
        shapes = {"flow_fwd": expected_shape, "flow_bwd": expected_shape}
        tensors, _ = load_tensors_checked(path, shapes)
        dtype = STORAGE_DTYPES[self.storage_dtype]
        for name in ("flow_fwd", "flow_bwd"):
            if tensors[name].dtype != dtype:
                raise CorruptEntryError(f"{path}: {name} is stored as {tensors[name].dtype}, this cache stores {dtype}")
        return tensors["flow_fwd"].float(), tensors["flow_bwd"].float()

    def store(self, key: str, flow_fwd: torch.Tensor, flow_bwd: torch.Tensor, provider: FlowProvider | None = None) -> None:
        """Write an entry atomically."""
        metadata = {"provider": json.dumps(provider.identity(), sort_keys=True)} if provider else {}
        dtype = STORAGE_DTYPES[self.storage_dtype]
        save_tensors_atomic(self.path(key), {"flow_fwd": flow_fwd.to(dtype), "flow_bwd": flow_bwd.to(dtype)}, metadata)

    def get_or_compute(self, frames, provider: FlowProvider) -> tuple[torch.Tensor, torch.Tensor]:
        """Flows of ``frames`` from the cache, computing and storing them when absent or corrupt.

        Args:
            frames: ``[T, C, H, W]`` as accepted by ``provider.compute``.
            provider: any provider except ``exact`` (exact flows come with the data).

        Returns:
            ``(flow_fwd, flow_bwd)``, each ``[T-1, 2, H, W]`` float32.
        """
        if isinstance(provider, ExactFlowProvider):
            raise ValueError("exact flows come with the data set and are not cached; call the provider directly")
        shape = tuple(frames.shape)
        if len(shape) != 4:
            raise ValueError(f"frames must have shape [T, C, H, W], got {shape}")
        expected = (max(shape[0] - 1, 0), 2, shape[2], shape[3])
        key = self.key(frames, provider)
        corrupt = False
        try:
            stored = self.load(key, expected)
        except CorruptEntryError as error:
            warnings.warn(f"flow cache: recomputing a damaged entry: {error}", RuntimeWarning, stacklevel=2)
            stored, corrupt = None, True
        if stored is not None:
            self.hits += 1
            return stored
        flow_fwd, flow_bwd = provider.compute(frames)
        self.store(key, flow_fwd, flow_bwd, provider)
        if self.storage_dtype != "float32":
            # What later loads will return: a run must not depend on whether an entry was hit.
            dtype = STORAGE_DTYPES[self.storage_dtype]
            flow_fwd, flow_bwd = flow_fwd.to(dtype).float(), flow_bwd.to(dtype).float()
        if corrupt:
            self.recomputed += 1
        else:
            self.misses += 1
        return flow_fwd, flow_bwd

    def __repr__(self) -> str:
        return f"FlowCache({str(self.root)!r}, storage_dtype={self.storage_dtype!r})"
