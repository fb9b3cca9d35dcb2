"""v2vcore: the fused residual-error op of "Video-to-Video Translation with Global Temporal Consistency".

``residual_error``, ``warp`` and ``consistency_mask`` run compiled C++/OpenMP (CPU) and CUDA kernels;
:mod:`v2vcore.reference` holds pure-PyTorch versions with the same signatures. See docs/op.md.
"""

from . import reference
from .ops import check_device, consistency_mask, has_cpu_kernels, has_cuda_kernels, residual_error, warp

__all__ = [
    "residual_error",
    "warp",
    "consistency_mask",
    "has_cpu_kernels",
    "has_cuda_kernels",
    "check_device",
    "reference",
]
__version__ = "0.1.0"
