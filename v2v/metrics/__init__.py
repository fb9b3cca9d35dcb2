"""Metrics of video-to-video translation (definitions and names: ``docs/metrics.md``).

Segmentation (DAVIS): :func:`region_similarity` (J), :func:`contour_accuracy` (F),
:func:`temporal_stability` (T, lower is better) and the per-sequence aggregates
:func:`sequence_statistics` (mean, recall, decay). Colorization and super-resolution: :func:`psnr`,
:func:`ssim_per_frame`, and :func:`pooled_psnr` (the PSNR of a video's pooled MSE, a stabiliser's fidelity).
Temporal consistency of any output video: :func:`warping_error` (Lai et al. 2018, masked by the
training's consistency mask) and :func:`tof` (TecoGAN). Streams, one frame at a time:
:class:`ConsistencyScorer` (warping error, flicker, tOF) and :class:`MaskScorer` (J, F, T).
"""

from .consistency import ConsistencyScorer
from .davis import MaskScorer
from .image import pooled_psnr, psnr, psnr_per_frame, ssim_per_frame
from .segmentation import BOUNDARY_THRESHOLD, boundary_map, contour_accuracy, region_similarity
from .stability import pair_stability, temporal_stability, temporal_stability_pairs
from .statistics import SequenceStatistics, decay, mean, nanmean, recall, sequence_statistics
from .temporal import tof, tof_per_pair, warping_error, warping_error_per_pair

__all__ = [
    "region_similarity",
    "contour_accuracy",
    "boundary_map",
    "BOUNDARY_THRESHOLD",
    "temporal_stability",
    "temporal_stability_pairs",
    "pair_stability",
    "sequence_statistics",
    "SequenceStatistics",
    "mean",
    "recall",
    "decay",
    "nanmean",
    "psnr",
    "psnr_per_frame",
    "pooled_psnr",
    "ssim_per_frame",
    "warping_error",
    "warping_error_per_pair",
    "tof",
    "tof_per_pair",
    "ConsistencyScorer",
    "MaskScorer",
]
