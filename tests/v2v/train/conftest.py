"""Tiny runs for the training tests: a few steps of a narrow network on 32x32 synthetic clips."""

import pytest
import torch

from v2v.config import load_config

TINY = [
    "model.gen_channels=8",
    "model.gen_max_channels=16",
    "model.disc_channels=8",
    "model.disc_max_channels=16",
    "data.frame_size=[32,32]",
    # 32x32 frames reach a 1x1 bottleneck, where instance norm (the quickstart's) is undefined.
    "model.norm=batch",
    "data.num_train_sequences=4",
    "data.num_val_sequences=1",
    "data.eval_clip_length=6",
    "train.threads=1",
    "train.progress=false",
    "train.log_every=1",
    "train.image_every=2",
    "train.val_videos=1",
]


@pytest.fixture
def tiny_overrides(tmp_path):
    """Overrides for a tiny quickstart run writing under ``tmp_path/runs``."""
    return [*TINY, f"train.runs_dir={tmp_path / 'runs'}"]


@pytest.fixture
def tiny_config(tiny_overrides):
    """Factory: the tiny quickstart config with extra overrides."""

    def make(*overrides):
        return load_config("quickstart", [*tiny_overrides, *overrides])

    return make


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the machine is small and shared, and OpenMP spin-waiting under contention
    makes tiny convolutions orders of magnitude slower. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
