"""Optical-flow providers (exact, OpenCV DIS, scikit-image TV-L1, torchvision RAFT, OpenCV Farneback) and the flow cache.

``make_flow_provider(name, **settings)`` builds a provider with ``compute(frames) -> (flow_fwd,
flow_bwd)``; :class:`FlowCache` stores computed flows on disk keyed by frame content and provider
settings. Conventions: ``docs/conventions.md``; see ``docs/data.md``.
"""

from .cache import CACHE_FORMAT_VERSION, DEFAULT_MAX_BYTES, CacheUsage, FlowCache, format_bytes
from .config import (
    FLOW_CACHE_ENV,
    FLOW_CACHE_MAX_GB_ENV,
    FLOW_PROVIDER_CHOICES,
    FlowConfig,
    cache_usage,
    default_cache_dir,
    default_cache_max_bytes,
)
from .providers import (
    DEFAULT_FLOW_PROVIDER,
    ESTIMATORS,
    PROVIDERS,
    DISFlowProvider,
    ExactFlowProvider,
    FarnebackFlowProvider,
    FlowProvider,
    RAFTFlowProvider,
    TVL1FlowProvider,
    frames_to_numpy,
    make_flow_provider,
)
from .storage import CorruptEntryError, load_tensors_checked, save_tensors_atomic
from .streaming import iter_pair_flows

__all__ = [
    "FlowProvider",
    "ExactFlowProvider",
    "DISFlowProvider",
    "TVL1FlowProvider",
    "RAFTFlowProvider",
    "FarnebackFlowProvider",
    "PROVIDERS",
    "ESTIMATORS",
    "DEFAULT_FLOW_PROVIDER",
    "make_flow_provider",
    "frames_to_numpy",
    "FlowCache",
    "CacheUsage",
    "CACHE_FORMAT_VERSION",
    "DEFAULT_MAX_BYTES",
    "format_bytes",
    "FLOW_CACHE_ENV",
    "FLOW_CACHE_MAX_GB_ENV",
    "default_cache_dir",
    "default_cache_max_bytes",
    "cache_usage",
    "FlowConfig",
    "FLOW_PROVIDER_CHOICES",
    "CorruptEntryError",
    "save_tensors_atomic",
    "load_tensors_checked",
    "iter_pair_flows",
]
