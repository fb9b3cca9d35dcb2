"""Atomic checkpoints that load with weights_only=True, random-state capture, pruning."""

import random

import numpy as np
import pytest
import torch

from v2v.models import find_checkpoint, list_checkpoints, read_checkpoint
from v2v.train.checkpoint import capture_rng_state, new_checkpoint, prune_checkpoints, restore_rng_state, save_checkpoint


def test_rng_state_round_trip():
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state = capture_rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(10), np.random.rand(10), random.random()
    restore_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]


def test_checkpoints_are_atomic_plain_and_pruned(tmp_path):
    for step in (1, 2, 3):
        state = new_checkpoint(step, {"name": "x"}, weights={"w": torch.full((2,), float(step))}, rng=[capture_rng_state()])
        save_checkpoint(tmp_path, state)
    # A file a killed writer left behind is neither listed nor loaded, and pruning removes it.
    stale = tmp_path / "checkpoints" / ".step_0000004.pt.abc.tmp"
    stale.write_bytes(b"torn")
    assert [step for step, _ in list_checkpoints(tmp_path)] == [1, 2, 3]
    assert find_checkpoint(tmp_path).name == "step_0000003.pt"
    loaded = torch.load(find_checkpoint(tmp_path), weights_only=True)  # no code can run
    assert loaded["weights"]["w"].tolist() == [3.0, 3.0]
    removed = prune_checkpoints(tmp_path, keep=2)
    assert stale in removed and not stale.exists()
    assert [step for step, _ in list_checkpoints(tmp_path)] == [2, 3]


def test_reading_bad_paths_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_checkpoint(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="has no checkpoints"):
        read_checkpoint(tmp_path)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state": 1}, foreign)
    with pytest.raises(ValueError, match="not a v2v checkpoint"):
        read_checkpoint(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable v2v checkpoint"):
        read_checkpoint(garbage)
    future = tmp_path / "future.pt"
    torch.save({**new_checkpoint(1, {}), "version": 99}, future)
    with pytest.raises(ValueError, match="version 99"):
        read_checkpoint(future)
