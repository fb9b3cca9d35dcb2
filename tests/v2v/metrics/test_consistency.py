"""The per-pair consistency measures and the streaming scorer of ``v2v.metrics.consistency``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import v2vcore
from v2v.metrics.consistency import (
    ConsistencyScorer,
    flow_difference,
    lai_reliable_mask,
    mean_abs_difference,
    pair_warping_errors,
)

needs_kernels = pytest.mark.skipif(
    not v2vcore.has_cpu_kernels(), reason="the compiled v2vcore op is not built (pip install --no-build-isolation -e .)"
)


def test_flicker_and_flow_difference_against_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 3, 5, 7)), rng.random((2, 3, 5, 7))
    np.testing.assert_allclose(mean_abs_difference(torch.from_numpy(a), torch.from_numpy(b)), np.abs(b - a).mean(axis=(1, 2, 3)))
    f, g = rng.normal(size=(2, 2, 6, 8)), rng.normal(size=(2, 2, 6, 8))
    norm = np.sqrt(((f - g) ** 2).sum(axis=1))
    np.testing.assert_allclose(flow_difference(torch.from_numpy(f), torch.from_numpy(g)), norm.mean(axis=(1, 2)))
    np.testing.assert_allclose(flow_difference(torch.from_numpy(f), torch.from_numpy(g), crop_border=2),
                               norm[:, 2:-2, 2:-2].mean(axis=(1, 2)))


@needs_kernels
def test_l1_and_mse_of_a_uniform_step():
    # Zero flow, frame t brighter by 0.1 everywhere: every pixel is reliable, residual 0.1.
    previous = torch.full((1, 3, 8, 9), 0.3)
    current = previous + 0.1
    zero = torch.zeros(1, 2, 8, 9)
    for convention in ("v2v", "lai"):
        errors = pair_warping_errors(previous, current, zero, zero, convention)
        assert errors.mse[0] == pytest.approx(0.01, rel=1e-5)
        assert errors.l1[0] == pytest.approx(0.1, rel=1e-5)
        assert errors.reliable_fraction[0] == 1.0


@needs_kernels
def test_lai_mask_uses_one_sided_differences():
    # A vertical step in the forward flow between columns 3 and 4: Lai's difference g[c] - g[c+1]
    # marks column 3 only; central differences would mark columns 3 and 4.
    flow_fwd = torch.zeros(1, 2, 6, 8)
    flow_fwd[:, 0, :, 4:] = 1.0
    flow_bwd = torch.zeros(1, 2, 6, 8)
    flow_bwd[:, 0, :, 5:] = -1.0  # the same motion seen from frame t (consistent: no occlusion)
    reliable = lai_reliable_mask(flow_fwd, flow_bwd)[0, 0]
    boundary_columns = sorted({int(c) for c in torch.nonzero(~reliable)[:, 1]})
    assert 3 in boundary_columns and 4 not in boundary_columns


def test_scorer_and_pair_functions_reject_bad_input():
    frame = torch.rand(3, 4, 5)
    with pytest.raises(ValueError, match="convention"):
        ConsistencyScorer("flownet")
    with pytest.raises(ValueError, match="convention"):
        pair_warping_errors(frame[None], frame[None], torch.zeros(1, 2, 4, 5), torch.zeros(1, 2, 4, 5), "fast")
    with pytest.raises(ValueError, match=r"flow_bwd must have shape \(1, 2, 4, 5\)"):
        pair_warping_errors(frame[None], frame[None], torch.zeros(1, 2, 4, 5), torch.zeros(1, 2, 5, 4))
    scorer = ConsistencyScorer()
    assert scorer.update(frame) is None
    assert math.isnan(scorer.summary()["warping_error"])
    with pytest.raises(ValueError, match="flow_fwd and flow_bwd of the pair are required"):
        scorer.update(frame)
    assert scorer.frames == 1  # the rejected frame was not counted
    with pytest.raises(ValueError, match="one size"):
        scorer.update(torch.rand(3, 5, 5), torch.zeros(2, 5, 5), torch.zeros(2, 5, 5))
    with pytest.raises(ValueError, match="uint8 or float"):
        ConsistencyScorer().update(torch.zeros(3, 4, 5, dtype=torch.int32))


@needs_kernels
def test_scorer_accepts_uint8_hwc_and_float_chw_alike():
    rng = np.random.default_rng(1)
    images = [(rng.random((6, 7, 3)) * 255).astype(np.uint8) for _ in range(3)]
    zero = torch.zeros(2, 6, 7)
    from_uint8, from_float = ConsistencyScorer(), ConsistencyScorer()
    for index, image in enumerate(images):
        flows = (zero, zero) if index else (None, None)
        from_uint8.update(image, *flows)
        from_float.update(torch.from_numpy(image).permute(2, 0, 1).float() / 255, *flows)
    assert from_uint8.summary() == pytest.approx(from_float.summary())
    assert len(from_uint8.per_pair["warping_error"]) == 2 and from_uint8.per_pair["tOF"] == []
