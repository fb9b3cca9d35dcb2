"""Typed configuration of the flow providers and the flow cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .cache import STORAGE_DTYPES, FlowCache
from .providers import (
    DEFAULT_FLOW_PROVIDER,
    PROVIDERS,
    DISFlowProvider,
    FlowProvider,
    RAFTFlowProvider,
    TVL1FlowProvider,
    make_flow_provider,
)

__all__ = ["FlowConfig", "FLOW_PROVIDER_CHOICES", "FLOW_CACHE_ENV", "default_cache_dir"]

FLOW_PROVIDER_CHOICES = ("auto",) + tuple(PROVIDERS)

FLOW_CACHE_ENV = "V2V_FLOW_CACHE"
"""Environment variable naming the flow cache folder that ``cache_dir: auto`` uses."""


def default_cache_dir() -> Path:
    """The folder ``cache_dir: auto`` stands for: ``$V2V_FLOW_CACHE`` when set, else
    ``$XDG_CACHE_HOME/v2v/flows``, else ``~/.cache/v2v/flows`` (one cache per user, whatever the
    working directory, so train, evaluate and translate started anywhere share it)."""
    if os.environ.get(FLOW_CACHE_ENV):
        return Path(os.environ[FLOW_CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "v2v" / "flows"


@dataclass
class FlowConfig:
    """Which flow provider a data set uses, its settings, and where flows are cached.

    Attributes:
        provider: ``"auto"`` (``exact`` where the data has exact flow, i.e. synthetic clips, ``dis``
            otherwise), ``"exact"``, ``"dis"``, ``"tvl1"`` or ``"raft"``.
        cache_dir: folder of the on-disk flow cache: ``"auto"`` (``$V2V_FLOW_CACHE``, else
            ``$XDG_CACHE_HOME/v2v/flows``, else ``~/.cache/v2v/flows``), or a path (relative paths
            are relative to the working directory); None disables caching. Exact flows are never
            cached.
        cache_dtype: how cached flows are stored: ``"float32"`` (exact) or ``"float16"`` (half the
            disk; a rounding error below 1/64 px for displacements under 32 px). Loaded flows are
            float32 either way; the two modes keep separate entries.
        dis_preset: OpenCV DIS preset: ``"ultrafast"``, ``"fast"`` or ``"medium"``.
        tvl1_attachment, tvl1_tightness, tvl1_num_warp, tvl1_num_iter: scikit-image TV-L1 settings.
        raft_weights: local RAFT state-dict file (required for ``raft``; nothing is downloaded).
        raft_model: ``"large"`` or ``"small"``.
        raft_iterations: RAFT refinement steps.
        raft_device: torch device for RAFT.
    """

    provider: str = "auto"
    cache_dir: str | None = "auto"
    cache_dtype: str = "float32"
    # The settings' defaults are the provider classes' own.
    dis_preset: str = DISFlowProvider.DEFAULT_PRESET
    tvl1_attachment: float = TVL1FlowProvider.DEFAULT_ATTACHMENT
    tvl1_tightness: float = TVL1FlowProvider.DEFAULT_TIGHTNESS
    tvl1_num_warp: int = TVL1FlowProvider.DEFAULT_NUM_WARP
    tvl1_num_iter: int = TVL1FlowProvider.DEFAULT_NUM_ITER
    raft_weights: str | None = None
    raft_model: str = RAFTFlowProvider.DEFAULT_MODEL
    raft_iterations: int = RAFTFlowProvider.DEFAULT_ITERATIONS
    raft_device: str = RAFTFlowProvider.DEFAULT_DEVICE

    def __post_init__(self) -> None:
        if self.provider not in FLOW_PROVIDER_CHOICES:
            raise ValueError(f"flow.provider must be one of {FLOW_PROVIDER_CHOICES}, got {self.provider!r}")
        if self.cache_dir is not None and (not isinstance(self.cache_dir, str) or not self.cache_dir):
            raise ValueError(f"flow.cache_dir must be auto, a non-empty path or None, got {self.cache_dir!r}")
        if self.cache_dtype not in STORAGE_DTYPES:
            raise ValueError(f"flow.cache_dtype must be one of {list(STORAGE_DTYPES)}, got {self.cache_dtype!r}")
        if self.raft_weights is not None and (not isinstance(self.raft_weights, str) or not self.raft_weights):
            raise ValueError(f"flow.raft_weights must be a path or None, got {self.raft_weights!r}")
        # Settings are validated by the provider classes; build each once to fail early.
        for name in ("dis", "tvl1"):
            make_flow_provider(name, **self.provider_settings(name))
        if self.raft_model not in ("large", "small"):
            raise ValueError(f"flow.raft_model must be 'large' or 'small', got {self.raft_model!r}")
        if isinstance(self.raft_iterations, bool) or not isinstance(self.raft_iterations, int) or self.raft_iterations < 1:
            raise ValueError(f"flow.raft_iterations must be an int >= 1, got {self.raft_iterations!r}")

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

    def build_cache(self) -> FlowCache | None:
        """The configured cache, or None when ``cache_dir`` is None."""
        root = self.cache_root()
        return FlowCache(root, storage_dtype=self.cache_dtype) if root is not None else None
