"""pytest-benchmark of the synthetic clip generator: one 256x256 clip of 5 frames on one core
(the data loader renders a training clip per step, so this bounds a CPU run's loader cost)."""

from __future__ import annotations

import cv2
import pytest
import torch

from v2v.data import synthetic_clip


@pytest.fixture
def one_core():
    threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    yield
    cv2.setNumThreads(threads)
    torch.set_num_threads(torch_threads)


@pytest.mark.parametrize("size", [(64, 64), (256, 256)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_synthetic_clip_5_frames(benchmark, one_core, size):
    synthetic_clip(0, size=size, num_frames=5)  # loads and caches the photographs
    seeds = iter(range(10**6))
    benchmark(lambda: synthetic_clip(next(seeds), size=size, num_frames=5))
