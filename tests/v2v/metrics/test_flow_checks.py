"""The warping-error metrics check the flows once per call (one device sync on CUDA), not once per
op they run, and still reject non-finite flows."""

from __future__ import annotations

import pytest
import torch

import v2vcore
from v2v.metrics.consistency import pair_warping_errors


@pytest.mark.parametrize("convention", ["v2v", "lai"])
def test_flows_are_checked_once_per_call(convention, monkeypatch):
    checks = []
    warp, mask = v2vcore.warp, v2vcore.consistency_mask

    def counting_warp(x, flow, *, padding="zeros", check_flow=True):
        checks.append(("warp", check_flow))
        return warp(x, flow, padding=padding, check_flow=check_flow)

    def counting_mask(flow_fwd, flow_bwd, *, check_flows=True):
        checks.append(("consistency_mask", check_flows))
        return mask(flow_fwd, flow_bwd, check_flows=check_flows)

    monkeypatch.setattr(v2vcore, "warp", counting_warp)
    monkeypatch.setattr(v2vcore, "consistency_mask", counting_mask)
    frames = torch.rand(4, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    flow = torch.randn(3, 2, 12, 16, generator=torch.Generator().manual_seed(1))
    pair_warping_errors(frames[:-1], frames[1:], flow, -flow, convention)
    assert len(checks) == 2 and sum(checked for _, checked in checks) == 1, checks


@pytest.mark.parametrize("convention", ["v2v", "lai"])
def test_non_finite_flows_are_still_rejected(convention):
    frames = torch.rand(3, 1, 8, 8)
    flow = torch.zeros(2, 2, 8, 8)
    flow[1, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        pair_warping_errors(frames[:-1], frames[1:], flow, flow.clone(), convention)
