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

The cache is bounded: once its entries exceed ``max_bytes`` (default :data:`DEFAULT_MAX_BYTES`,
2 GB), the least recently used ones are removed (an entry's modification time is its last use:
a hit touches it) until the entries take at most 90% of the limit, so that trimming, which lists
the folder, runs once per tenth of the limit written rather than at every entry. Each instance
counts what it writes and lists the folder again after every tenth of the limit, so processes
sharing the cache (data-loader workers) overshoot it by at most a tenth each. An entry another
process evicts while it is read is simply recomputed. :meth:`FlowCache.usage` counts what the cache
holds, :meth:`FlowCache.clear` empties it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .providers import ExactFlowProvider, FlowProvider
from .storage import CorruptEntryError, load_tensors_checked, save_tensors_atomic

__all__ = ["FlowCache", "CacheUsage", "CACHE_FORMAT_VERSION", "STORAGE_DTYPES", "DEFAULT_MAX_BYTES", "format_bytes"]

CACHE_FORMAT_VERSION = 1

DEFAULT_MAX_BYTES = 2 * 10**9
"""The cache's default size limit: 2 GB (``FlowConfig.cache_max_gb``, ``$V2V_FLOW_CACHE_MAX_GB``)."""

_TRIM_TO = 0.9  # a trim leaves the entries at this fraction of the limit


def format_bytes(count: float) -> str:
    """``count`` bytes in decimal units, e.g. ``"1.23 GB"``, ``"694 MB"``, ``"12 kB"``."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            value = count / size
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(count)} bytes"


@dataclass(frozen=True)
class CacheUsage:
    """What a flow cache holds: its folder, entries, their bytes, and its limit."""

    root: Path
    entries: int
    bytes: int
    max_bytes: int | None

    def describe(self) -> str:
        """One line: ``flow cache <root>: 694 MB in 98 entries (limit 2 GB)``."""
        limit = f"limit {format_bytes(self.max_bytes)}" if self.max_bytes is not None else "no limit"
        return f"flow cache {self.root}: {format_bytes(self.bytes)} in {self.entries} entries ({limit})"

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
        max_bytes: the size limit (least recently used entries are evicted beyond it); None: none.

    Attributes:
        hits, misses, recomputed, evicted: counters of loads served, entries computed because
            absent, entries computed because the stored one was corrupt, and entries this instance
            removed to keep to the limit (per instance, per process).
    """

    def __init__(self, root: str | os.PathLike, storage_dtype: str = "float32", max_bytes: int | None = DEFAULT_MAX_BYTES) -> None:
        if root is None or str(root) == "":
            raise ValueError("FlowCache needs a root folder, got an empty path")
        if storage_dtype not in STORAGE_DTYPES:
            raise ValueError(f"FlowCache storage_dtype must be one of {list(STORAGE_DTYPES)}, got {storage_dtype!r}")
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0):
            raise ValueError(f"FlowCache max_bytes must be a positive number of bytes or None, got {max_bytes!r}")
        self.storage_dtype = storage_dtype
        self.max_bytes = max_bytes
        self.root = Path(root).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"flow cache root {self.root} exists and is not a folder")
        self.hits = 0
        self.misses = 0
        self.recomputed = 0
        self.evicted = 0
        self._bytes: int | None = None  # the entries' size as last listed, plus what this instance wrote since
        self._unlisted = 0  # bytes this instance wrote since it last listed the folder

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
        try:
            tensors, _ = load_tensors_checked(path, shapes)
        except (CorruptEntryError, FileNotFoundError):
            if not path.exists():
                return None  # evicted by another process while being read
            raise
        try:
            os.utime(path)  # its last use, which eviction goes by
        except OSError:
            pass  # a read-only cache is still a cache
        dtype = STORAGE_DTYPES[self.storage_dtype]
        for name in ("flow_fwd", "flow_bwd"):
            if tensors[name].dtype != dtype:
                raise CorruptEntryError(f"{path}: {name} is stored as {tensors[name].dtype}, this cache stores {dtype}")
        return tensors["flow_fwd"].float(), tensors["flow_bwd"].float()

    def store(self, key: str, flow_fwd: torch.Tensor, flow_bwd: torch.Tensor, provider: FlowProvider | None = None) -> None:
        """Write an entry atomically."""
        metadata = {"provider": json.dumps(provider.identity(), sort_keys=True)} if provider else {}
        dtype = STORAGE_DTYPES[self.storage_dtype]
        path = self.path(key)
        save_tensors_atomic(path, {"flow_fwd": flow_fwd.to(dtype), "flow_bwd": flow_bwd.to(dtype)}, metadata)
        if self.max_bytes is None:
            return
        if self._bytes is None:
            self._bytes, self._unlisted = self.usage().bytes, 0
        else:
            size = path.stat().st_size
            self._bytes += size
            self._unlisted += size
            if self._unlisted > (1 - _TRIM_TO) * self.max_bytes:
                # Listed again after every tenth of the limit written: other processes write too.
                self._bytes, self._unlisted = self.usage().bytes, 0
        if self._bytes > self.max_bytes:
            self.trim()

    def _entries(self) -> list[tuple[float, int, Path]]:
        """``(last use, bytes, path)`` of every entry, oldest first."""
        found = []
        if not self.root.is_dir():
            return found
        for path in self.root.glob("??/*.safetensors"):
            try:
                info = path.stat()
            except FileNotFoundError:  # removed by another process meanwhile
                continue
            found.append((info.st_mtime, info.st_size, path))
        return sorted(found)

    def usage(self) -> CacheUsage:
        """What the cache holds now (all processes' entries)."""
        entries = self._entries()
        return CacheUsage(self.root, len(entries), sum(size for _, size, _ in entries), self.max_bytes)

    def trim(self, max_bytes: int | None = None) -> int:
        """Remove the least recently used entries until the rest take at most 90% of ``max_bytes``
        (default: this cache's limit; nothing to do without one).

        Returns:
            How many entries were removed.
        """
        limit = self.max_bytes if max_bytes is None else max_bytes
        entries = self._entries()
        total = sum(size for _, size, _ in entries)
        removed = 0
        if limit is not None and total > limit:
            for _, size, path in entries:
                if total <= _TRIM_TO * limit:
                    break
                path.unlink(missing_ok=True)
                total -= size
                removed += 1
        self._bytes, self._unlisted = total, 0
        self.evicted += removed
        return removed

    def clear(self) -> int:
        """Remove every entry (and temporaries left by killed writers, and emptied folders).

        Returns:
            How many entries were removed.
        """
        entries = self._entries()
        for _, _, path in entries:
            path.unlink(missing_ok=True)
        if self.root.is_dir():
            for folder in self.root.glob("??"):
                for stale in folder.glob(".*.tmp"):
                    stale.unlink(missing_ok=True)
                try:
                    folder.rmdir()
                except OSError:
                    pass  # not empty: another process is writing into it
        self._bytes = 0
        return len(entries)

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
        return f"FlowCache({str(self.root)!r}, storage_dtype={self.storage_dtype!r}, max_bytes={self.max_bytes!r})"
