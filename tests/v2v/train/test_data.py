"""The resumable clip order and batching."""

import pytest
import torch

from v2v.train.data import ResumableBatchSampler, SeededClips, collate_clips, make_loader


def test_item_seeds_make_augmentation_reproducible():
    sampler = ResumableBatchSampler(10, 2, seed=3)
    assert sampler.batch(4) == ResumableBatchSampler(10, 2, seed=3, start_step=4).batch(4)
    seeds = [seed for step in range(5) for _, seed in sampler.batch(step)]
    assert len(set(seeds)) == 10
    other_rank = ResumableBatchSampler(10, 1, seed=3, rank=1, world_size=2)
    assert {s for _, s in other_rank.batch(0)}.isdisjoint(s for _, s in sampler.batch(0))

    class Noisy:
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return torch.rand(2)  # like a random crop drawing from the global generator

    clips = SeededClips(Noisy())
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    first = clips[(1, 7)]
    assert torch.equal(torch.rand(1), expected)  # the global stream did not move
    assert torch.equal(clips[(1, 7)], first) and not torch.equal(clips[(1, 8)], first)


def test_order_is_a_function_of_seed_and_step():
    fresh = ResumableBatchSampler(10, 2, seed=3)
    resumed = ResumableBatchSampler(10, 2, seed=3, start_step=7)
    fresh_batches = [b for _, b in zip(range(12), fresh)]
    assert [b for _, b in zip(range(5), resumed)] == fresh_batches[7:12]
    other_seed = [b for _, b in zip(range(12), ResumableBatchSampler(10, 2, seed=4))]
    assert other_seed != fresh_batches


def test_each_epoch_visits_every_clip_once_in_a_new_order():
    sampler = ResumableBatchSampler(9, 3, seed=0)
    epochs = [[i for step in range(e * 3, e * 3 + 3) for i in sampler.indices(step)] for e in range(3)]
    assert all(sorted(epoch) == list(range(9)) for epoch in epochs)
    assert epochs[0] != epochs[1]


def test_ranks_share_a_step_without_overlap():
    world = [ResumableBatchSampler(11, 2, seed=1, rank=r, world_size=3) for r in range(3)]
    assert world[0].steps_per_epoch == 1  # 11 // 6; the incomplete block is skipped
    for step in range(4):
        parts = [s.indices(step) for s in world]
        flat = [i for part in parts for i in part]
        assert len(set(flat)) == 6 and all(len(p) == 2 for p in parts)


def test_too_few_clips_is_a_clear_error():
    with pytest.raises(ValueError, match="train.batch_size"):
        ResumableBatchSampler(3, 2, seed=0, world_size=2)


def clip(name, finite=True):
    flow = torch.zeros(2, 2, 4, 4)
    if not finite:
        flow[0, 0, 0, 0] = float("nan")
    return {
        "input": torch.zeros(3, 1, 4, 4),
        "target": torch.zeros(3, 3, 4, 4),
        "temporal_target": torch.zeros(3, 3, 4, 4),
        "flow_fwd": flow,
        "flow_bwd": torch.zeros(2, 2, 4, 4),
        "name": name,
    }


def test_collate_stacks_and_checks_flows():
    batch = collate_clips([clip("a"), clip("b")])
    assert batch["input"].shape == (2, 3, 1, 4, 4) and batch["name"] == ["a", "b"]
    with pytest.raises(ValueError, match=r"flow_fwd of clip\(s\) \['b'\]"):
        collate_clips([clip("a"), clip("b", finite=False)])
    broken = clip("c")
    del broken["target"]
    with pytest.raises(KeyError, match="target"):
        collate_clips([broken])


def test_loader_leaves_the_global_random_stream_alone():
    dataset = [clip(str(i)) for i in range(4)]
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    loader = make_loader(dataset, ResumableBatchSampler(4, 2, seed=0), num_workers=0, pin_memory=False, seed=0)
    batches = iter(loader)
    next(batches), next(batches)
    assert torch.equal(torch.rand(3), expected)
