"""The RAFT provider with the real torchvision: RAFT-small with random weights saved to a local file,
its flows and the flow cache. Skipped where torchvision does not import (it is the optional extra
`raft`); CI runs it in the stage whose torch has a matching torchvision, with
V2V_REQUIRE_TORCHVISION=1 so that a skip there is a failure."""

from __future__ import annotations

import os

import pytest
import torch

from v2v.flow import FlowCache, RAFTFlowProvider, make_flow_provider


@pytest.fixture(scope="module")
def raft_small():
    try:
        from torchvision.models.optical_flow import raft_small
    except Exception as error:  # absent, or built for another torch ("operator torchvision::nms does not exist")
        if os.environ.get("V2V_REQUIRE_TORCHVISION") == "1":
            pytest.fail(f"V2V_REQUIRE_TORCHVISION=1 but torchvision does not import: {error}")
        pytest.skip(f"torchvision does not import (RAFT is the optional extra 'raft'): {error}")
    return raft_small


@pytest.fixture(scope="module")
def weights(raft_small, tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("raft") / "raft_small_random.pth"
    torch.save(raft_small(weights=None, progress=False).state_dict(), path)
    return path


def test_raft_small_flows_have_the_frames_shape(weights):
    provider = make_flow_provider("raft", weights=str(weights), model="small", iterations=2, batch_size=2)
    assert isinstance(provider, RAFTFlowProvider)
    frames = torch.rand(4, 3, 36, 44, generator=torch.Generator().manual_seed(1))
    flow_fwd, flow_bwd = provider.compute(frames)
    assert flow_fwd.shape == (3, 2, 36, 44) and flow_bwd.shape == (3, 2, 36, 44)
    assert flow_fwd.dtype == torch.float32 and torch.isfinite(flow_fwd).all() and torch.isfinite(flow_bwd).all()
    # Grayscale frames are repeated to three channels: the same flows.
    gray = frames.mean(1, keepdim=True)
    assert provider.compute(gray)[0].shape == (3, 2, 36, 44)
    # Deterministic network (eval mode): the same frames give the same flows.
    again_fwd, _ = provider.compute(frames)
    assert torch.equal(again_fwd, flow_fwd)


def test_raft_small_flows_are_cached_by_content_and_settings(weights, tmp_path):
    cache = FlowCache(tmp_path / "cache")
    provider = make_flow_provider("raft", weights=str(weights), model="small", iterations=2)
    frames = torch.rand(3, 3, 40, 48, generator=torch.Generator().manual_seed(2))
    first = cache.get_or_compute(frames, provider)
    assert (cache.misses, cache.hits) == (1, 0)
    second = cache.get_or_compute(frames, provider)
    assert (cache.misses, cache.hits) == (1, 1)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert first[0].shape == (2, 2, 40, 48)
    # Another iteration count is another entry.
    other = make_flow_provider("raft", weights=str(weights), model="small", iterations=3)
    assert cache.key(frames, other) != cache.key(frames, provider)
    cache.get_or_compute(frames, other)
    assert cache.misses == 2


def test_raft_weights_of_the_other_model_name_the_file(weights):
    provider = make_flow_provider("raft", weights=str(weights), model="large", iterations=1)
    with pytest.raises(ValueError, match=r"raft_small_random.pth: not a usable RAFT-large state dict"):
        provider.compute(torch.rand(2, 3, 16, 16))


def test_missing_weights_file_is_named(raft_small, tmp_path):
    missing = tmp_path / "nowhere" / "raft_large.pth"
    with pytest.raises(FileNotFoundError, match=r"RAFT weights file not found: .*nowhere/raft_large.pth"):
        make_flow_provider("raft", weights=str(missing))
    with pytest.raises(FileNotFoundError, match="needs a local weights file"):
        make_flow_provider("raft")
