"""Tests of pair-by-pair flows over a frame stream."""

import pytest
import torch

from v2v.data import synthetic_clip
from v2v.data.video_io import open_video_reader
from v2v.data.video_writer import VideoWriter
from v2v.flow import DISFlowProvider, FlowCache, iter_pair_flows, make_flow_provider


def test_stream_matches_the_clip_computation(tmp_path):
    frames = synthetic_clip(3, size=(48, 64), num_frames=4)["frames"]
    as_uint8 = (frames * 255).round().to(torch.uint8)
    provider = DISFlowProvider()
    whole_fwd, whole_bwd = provider.compute(as_uint8)
    numpy_frames = (f.permute(1, 2, 0).numpy() for f in as_uint8)  # a generator, as a reader yields
    pairs = list(iter_pair_flows(numpy_frames, provider))
    assert len(pairs) == 3
    for k, (flow_fwd, flow_bwd) in enumerate(pairs):
        assert torch.equal(flow_fwd, whole_fwd[k]) and torch.equal(flow_bwd, whole_bwd[k])
    cache = FlowCache(tmp_path / "flows")
    list(iter_pair_flows(list(as_uint8), provider, cache))
    list(iter_pair_flows(list(as_uint8), provider, cache))
    assert cache.misses == 3 and cache.hits == 3


def test_stream_from_a_frame_folder(tmp_path):
    frames = synthetic_clip(1, size=(32, 32), num_frames=3)["frames"]
    with VideoWriter(tmp_path / "frames") as writer:
        for frame in frames:
            writer.write(frame)
    pairs = list(iter_pair_flows(open_video_reader(tmp_path / "frames"), make_flow_provider("dis", preset="fast")))
    assert len(pairs) == 2 and pairs[0][0].shape == (2, 32, 32)


def test_stream_errors():
    with pytest.raises(ValueError, match="exact"):
        list(iter_pair_flows([], make_flow_provider("exact")))
    with pytest.raises(ValueError, match="frame 1 is .* one size"):
        list(iter_pair_flows([torch.rand(3, 8, 8), torch.rand(3, 9, 8)], DISFlowProvider()))
    with pytest.raises(ValueError, match="frame 0"):
        list(iter_pair_flows([torch.rand(4, 8, 8)], DISFlowProvider()))
    with pytest.raises(TypeError, match="frame 0"):
        list(iter_pair_flows([[1, 2]], DISFlowProvider()))
    assert list(iter_pair_flows([torch.rand(3, 8, 8)], DISFlowProvider())) == []
