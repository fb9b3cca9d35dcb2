"""Typed configuration of the flow providers and the flow cache."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from v2v.config_engine import Checked, ConfigError, require

from .cache import DEFAULT_MAX_BYTES, STORAGE_DTYPES, CacheUsage, FlowCache
from .providers import (
    DEFAULT_FLOW_PROVIDER,
    PROVIDERS,
    DISFlowProvider,
    FlowProvider,
    RAFTFlowProvider,
    TVL1FlowProvider,
    make_flow_provider,
)

__all__ = [
    "FlowConfig",
    "FLOW_PROVIDER_CHOICES",
    "FLOW_CACHE_ENV",
    "FLOW_CACHE_MAX_GB_ENV",
    "default_cache_dir",
    "default_cache_max_bytes",
    "cache_usage",
]

FLOW_PROVIDER_CHOICES = ("auto",) + tuple(PROVIDERS)

FLOW_CACHE_ENV = "V2V_FLOW_CACHE"
"""Environment variable naming the flow cache folder that ``cache_dir: auto`` uses."""


FLOW_CACHE_MAX_GB_ENV = "V2V_FLOW_CACHE_MAX_GB"
"""Environment variable giving the flow cache's size limit in GB that ``cache_max_gb: auto`` uses."""


def default_cache_max_bytes() -> int:
    """The limit ``cache_max_gb: auto`` stands for: ``$V2V_FLOW_CACHE_MAX_GB`` GB when set, else 2 GB.

    Raises:
        ValueError: the variable is set to something other than a positive number.
    """
    text = os.environ.get(FLOW_CACHE_MAX_GB_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        gigabytes = float(text)
    except ValueError:
        gigabytes = float("nan")
    if not gigabytes > 0 or gigabytes == float("inf"):
        raise ValueError(f"${FLOW_CACHE_MAX_GB_ENV} must be a positive number of GB, e.g. 2 or 0.5, got {text!r}")
    return int(gigabytes * 1e9)


def cache_usage(root: str | os.PathLike | None = None) -> CacheUsage:
    """What the flow cache at ``root`` (default: the ``auto`` folder) holds, with the ``auto`` limit."""
    return FlowCache(default_cache_dir() if root is None else root, max_bytes=default_cache_max_bytes()).usage()


def default_cache_dir() -> Path:
    """The folder ``cache_dir: auto`` stands for: ``$V2V_FLOW_CACHE`` when set, else
    ``$XDG_CACHE_HOME/v2v/flows``, else ``~/.cache/v2v/flows`` (one cache per user, whatever the
    working directory, so train, evaluate and translate started anywhere share it)."""
    if os.environ.get(FLOW_CACHE_ENV):
        return Path(os.environ[FLOW_CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "v2v" / "flows"


@dataclass
class FlowConfig(Checked):
    """Which flow provider a data set uses, its settings, and where flows are cached.

    Attributes:
        provider: ``"auto"`` (``exact`` where the data has exact flow, i.e. synthetic clips, ``dis``
            otherwise), ``"exact"``, ``"dis"``, ``"tvl1"``, ``"raft"`` or ``"farneback"`` (OpenCV's
            defaults, :class:`~v2v.flow.FarnebackFlowProvider`).
        cache_dir: folder of the on-disk flow cache: ``"auto"`` (``$V2V_FLOW_CACHE``, else
            ``$XDG_CACHE_HOME/v2v/flows``, else ``~/.cache/v2v/flows``), or a path (relative paths
            are relative to the working directory); None disables caching. Exact flows are never
            cached.
        cache_dtype: how cached flows are stored: ``"float32"`` (exact) or ``"float16"`` (half the
            disk; a rounding error below 1/64 px for displacements under 32 px). Loaded flows are
            float32 either way; the two modes keep separate entries.
        cache_max_gb: the cache's size limit in GB, beyond which the least recently used entries are
            evicted: ``"auto"`` (``$V2V_FLOW_CACHE_MAX_GB`` when set, else 2) or a positive number.
        dis_preset: OpenCV DIS preset: ``"ultrafast"``, ``"fast"`` or ``"medium"``.
        tvl1_attachment, tvl1_tightness, tvl1_num_warp, tvl1_num_iter: scikit-image TV-L1 settings.
        raft_weights: local RAFT state-dict file (required for ``raft``; nothing is downloaded).
        raft_model: ``"large"`` or ``"small"``.
        raft_iterations: RAFT refinement steps.
        raft_device: torch device for RAFT.
    """

    provider: str = field(default="auto", metadata={"choices": FLOW_PROVIDER_CHOICES})
    cache_dir: str | None = "auto"
    cache_dtype: str = field(default="float32", metadata={"choices": tuple(STORAGE_DTYPES)})
    cache_max_gb: float | Literal["auto"] = "auto"
    # The settings' defaults are the provider classes' own.
    dis_preset: str = field(default=DISFlowProvider.DEFAULT_PRESET, metadata={"choices": DISFlowProvider.PRESETS})
    tvl1_attachment: float = TVL1FlowProvider.DEFAULT_ATTACHMENT
    tvl1_tightness: float = TVL1FlowProvider.DEFAULT_TIGHTNESS
    tvl1_num_warp: int = TVL1FlowProvider.DEFAULT_NUM_WARP
    tvl1_num_iter: int = TVL1FlowProvider.DEFAULT_NUM_ITER
    raft_weights: str | None = None
    raft_model: str = field(default=RAFTFlowProvider.DEFAULT_MODEL, metadata={"choices": RAFTFlowProvider.MODELS})
    raft_iterations: int = RAFTFlowProvider.DEFAULT_ITERATIONS
    raft_device: str = RAFTFlowProvider.DEFAULT_DEVICE

    def check(self) -> None:
        require(self.cache_dir is None or bool(self.cache_dir), "cache_dir", "must be auto, a non-empty path or null")
        require(self.cache_max_gb == "auto" or 0 < self.cache_max_gb < float("inf"), "cache_max_gb",
                f"must be auto or a positive number of GB, got {self.cache_max_gb!r}")
        require(self.raft_weights is None or bool(self.raft_weights), "raft_weights", "must be a path or null")
        require(self.raft_iterations >= 1, "raft_iterations", f"must be >= 1, got {self.raft_iterations}")
        # The providers validate their own settings; build each once to fail early.
        for name in ("dis", "tvl1"):
            try:
                make_flow_provider(name, **self.provider_settings(name))
            except ValueError as error:
                raise ConfigError(f"{name}_*", str(error)) from None

    def resolve(self, has_exact_flow: bool) -> str:
        """The provider name ``"auto"`` stands for, given whether the data has exact flow."""
        if self.provider == "auto":
            return "exact" if has_exact_flow else DEFAULT_FLOW_PROVIDER
        if self.provider == "exact" and not has_exact_flow:
            raise ValueError(
                "flow.provider='exact' needs a data set with exact flow (the synthetic clips); "
                "use 'dis', 'tvl1' or 'raft' for DAVIS folders and video files"
            )
        return self.provider

    def provider_settings(self, name: str) -> dict:
        """Constructor arguments of provider ``name`` taken from this config."""
        if name == "dis":
            return {"preset": self.dis_preset}
        if name == "tvl1":
            return {"attachment": self.tvl1_attachment, "tightness": self.tvl1_tightness,
                    "num_warp": self.tvl1_num_warp, "num_iter": self.tvl1_num_iter}
        if name == "raft":
            return {"weights": self.raft_weights, "model": self.raft_model,
                    "iterations": self.raft_iterations, "device": self.raft_device}
        return {}

    def build_provider(self, has_exact_flow: bool) -> FlowProvider:
        """The configured provider (``auto`` resolved)."""
        name = self.resolve(has_exact_flow)
        return make_flow_provider(name, **self.provider_settings(name))

    def cache_root(self) -> Path | None:
        """The cache folder ``cache_dir`` names (``auto`` resolved), or None when caching is off."""
        if self.cache_dir is None:
            return None
        return default_cache_dir() if self.cache_dir == "auto" else Path(self.cache_dir).expanduser()

    def cache_max_bytes(self) -> int:
        """The size limit ``cache_max_gb`` names (``auto`` resolved), in bytes."""
        return default_cache_max_bytes() if self.cache_max_gb == "auto" else int(self.cache_max_gb * 1e9)

    def build_cache(self) -> FlowCache | None:
        """The configured cache, or None when ``cache_dir`` is None."""
        root = self.cache_root()
        return FlowCache(root, storage_dtype=self.cache_dtype, max_bytes=self.cache_max_bytes()) if root is not None else None
