"""Tests of the data set classes and build_dataset: sample contract, splits, flows, DAVIS clips."""

import pytest
import torch
from torch.utils.data import DataLoader

from v2v.data import (
    DataConfig,
    DavisVideoDataset,
    SyntheticVideoDataset,
    apply_crop_flip,
    build_dataset,
    sample_crop_flip,
    synthetic_clip,
)
from v2v.flow import FlowCache, make_flow_provider
from v2v.frames import to_unit_range
from v2v.tasks import get_task
from v2vcore.reference import warp


def check_sample(sample, task, frames, height, width):
    cin, cout = get_task(task).channels
    assert sample["input"].shape == (frames, cin, height, width) and sample["input"].dtype == torch.float32
    assert sample["target"].shape == (frames, cout, height, width) and sample["target"].dtype == torch.float32
    for key in ("input", "target"):
        assert sample[key].min() >= -1 and sample[key].max() <= 1
    for key in ("flow_fwd", "flow_bwd"):
        assert sample[key].shape == (frames - 1, 2, height, width) and sample[key].dtype == torch.float32
    assert isinstance(sample["name"], str) and sample["name"] == f"{sample['sequence']}@{sample['start']:05d}"


def mean_identity_error(video, flow_bwd):
    """Mean |warp(frame k, b) - frame k+1| over all pixels (occlusions and borders included)."""
    return (warp(video[:-1], flow_bwd) - video[1:]).abs().mean().item()


@pytest.mark.parametrize("task", ["segmentation", "colorization", "superres"])
def test_synthetic_training_samples(task):
    config = DataConfig(frame_size=(64, 80), crop_size=(48, 64), num_train_sequences=3)
    dataset = build_dataset(config, "train", task)
    assert isinstance(dataset, SyntheticVideoDataset) and len(dataset) == 3
    torch.manual_seed(11)
    sample = dataset[1]
    check_sample(sample, task, 5, 48, 64)
    assert sample["name"] == "synthetic-train-00001@00000"
    # The sample is the clip's task pair and exact flows under ONE crop/flip (whose warp identity
    # test_augment checks): redraw the same augmentation and compare.
    clip = synthetic_clip(dataset.sequence_seed(1), size=(64, 80), num_frames=5)
    task_in, task_out = get_task(task).pair(clip["frames"], clip["masks"])
    torch.manual_seed(11)
    params = sample_crop_flip((64, 80), (48, 64), True)
    expected = apply_crop_flip({"input": task_in, "target": task_out, "flow_fwd": clip["flow_fwd"],
                                "flow_bwd": clip["flow_bwd"]}, params)
    for key in ("input", "target", "flow_fwd", "flow_bwd"):
        assert torch.equal(sample[key], expected[key]), key
    assert torch.equal(sample["temporal_target"], sample["target"])  # a paper task's temporal target is its target
    # And the flows align the sample's own input video.
    video = to_unit_range(sample["input"])
    still = mean_identity_error(video, torch.zeros_like(sample["flow_bwd"]))
    assert mean_identity_error(video, sample["flow_bwd"]) < 0.6 * still


def test_synthetic_splits_are_deterministic_disjoint_and_sized():
    config = DataConfig(frame_size=(32, 32), num_train_sequences=4, num_val_sequences=2, eval_clip_length=9)
    train = build_dataset(config, "train", "colorization")
    val = build_dataset(config, "val", "colorization")
    test = build_dataset(config, "test", "colorization")
    assert len(val) == 2 and val[0]["input"].shape[0] == 9  # evaluation: longer whole videos
    assert val.crop_size is None and not val.hflip and train.hflip
    seeds = {d.split: {d.sequence_seed(i) for i in range(len(d))} for d in (train, val, test)}
    assert not (seeds["train"] & seeds["val"]) and not (seeds["val"] & seeds["test"])
    again = build_dataset(config, "val", "colorization")
    assert torch.equal(again[1]["target"], val[1]["target"])
    other_seed = build_dataset(DataConfig(frame_size=(32, 32), seed=1, num_val_sequences=2), "val", "colorization")
    assert not torch.equal(other_seed[0]["target"][:2], val[0]["target"][:2])
    with pytest.raises(ValueError, match="synthetic split"):
        build_dataset(config, "holdout", "colorization")
    with pytest.raises(ValueError, match="unknown task"):
        build_dataset(config, "train", "denoise")
    with pytest.raises(IndexError):
        val.clip(2)


def test_synthetic_items_batch_with_the_default_collate():
    config = DataConfig(frame_size=(32, 32), num_train_sequences=4, crop_size=(24, 24))
    loader = DataLoader(build_dataset(config, "train", "segmentation"), batch_size=2)
    batch = next(iter(loader))
    assert batch["input"].shape == (2, 5, 3, 24, 24) and batch["flow_bwd"].shape == (2, 4, 2, 24, 24)
    assert batch["name"] == ["synthetic-train-00000@00000", "synthetic-train-00001@00000"]


def test_synthetic_with_estimated_flow_uses_the_cache(tmp_path):
    config = DataConfig(frame_size=(48, 48), num_train_sequences=2, hflip=False,
                        flow={"provider": "dis", "cache_dir": str(tmp_path / "flows")})
    dataset = build_dataset(config, "train", "superres")
    first = dataset[0]
    assert dataset.flow_cache.misses == 4 and dataset.flow_cache.hits == 0  # one entry per frame pair
    second = dataset[0]
    assert dataset.flow_cache.hits == 4 and torch.equal(first["flow_bwd"], second["flow_bwd"])
    exact = synthetic_clip(dataset.sequence_seed(0), size=(48, 48), num_frames=5)["flow_bwd"]
    assert not torch.equal(first["flow_bwd"], exact)  # estimated, not the exact flow
    assert (first["flow_bwd"] - exact).norm(dim=1).median() < 1.0


def test_materialized_synthetic_clips_are_reused_and_repaired(tmp_path):
    dataset = SyntheticVideoDataset("train", "colorization", num_sequences=2, num_frames=3, size=(32, 32),
                                    materialize_dir=tmp_path)
    dataset.materialize()
    files = sorted(tmp_path.rglob("*.safetensors"))
    assert len(files) == 2
    fresh = synthetic_clip(dataset.sequence_seed(0), size=(32, 32), num_frames=3)
    stored = dataset.clip(0)
    for key in ("frames", "flow_fwd", "flow_bwd", "masks"):
        assert torch.equal(stored[key], fresh[key])
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncate
    with pytest.warns(RuntimeWarning, match="regenerating a damaged clip"):
        repaired = dataset.clip(0)
    assert torch.equal(repaired["frames"], fresh["frames"])
    assert files[0].stat().st_size > 1000  # rewritten
    other = SyntheticVideoDataset("train", "colorization", num_sequences=1, num_frames=4, size=(32, 32),
                                  materialize_dir=tmp_path)
    other.clip(0)
    assert len(list(tmp_path.rglob("*.safetensors"))) == 3  # other parameters, other folder
    with pytest.raises(ValueError, match="materialize_dir"):
        SyntheticVideoDataset("train", "colorization", num_sequences=1, num_frames=3).materialize()


def test_davis_training_clips(tiny_davis, tmp_path):
    root, lengths = tiny_davis
    config = DataConfig(source="davis", root=str(root), frame_size=None, crop_size=(32, 48),
                        flow={"provider": "dis", "cache_dir": str(tmp_path / "flows")})
    dataset = build_dataset(config, "train", "segmentation")
    assert isinstance(dataset, DavisVideoDataset)
    # Non-overlapping clips of 5: bear (12) -> 2, boat (9) -> 1, cat (4) -> 0.
    assert [(dataset.sequences[s].name, start) for s, start, _ in dataset.items] == [("bear", 0), ("bear", 5), ("boat", 0)]
    sample = dataset[1]
    check_sample(sample, "segmentation", 5, 32, 48)
    assert sample["name"] == "bear@00005"
    assert set(sample["target"].unique().tolist()) <= {-1.0, 1.0}
    overlapping = DavisVideoDataset(root, "train", "colorization", clip_stride=1)
    assert len(overlapping) == (12 - 4) + (9 - 4)


@pytest.mark.parametrize("task", ["segmentation", "colorization"])
def test_davis_targets_match_the_annotations_and_flows_the_input(tiny_davis, task):
    root, _ = tiny_davis
    dataset = DavisVideoDataset(root, "train", task)
    sample = dataset[0]
    clip = synthetic_clip(100, size=(48, 64), num_frames=12, num_objects=(2, 2))  # "bear"
    if task == "segmentation":
        assert torch.equal(sample["target"], clip["masks"][:5] * 2 - 1)
        assert (to_unit_range(sample["input"]) - clip["frames"][:5]).abs().mean() < 0.02  # JPEG
    # Flows are DIS on the task INPUT (luma for colorization), in [0, 1].
    expected = make_flow_provider("dis").compute(to_unit_range(sample["input"]))
    assert torch.equal(sample["flow_fwd"], expected[0]) and torch.equal(sample["flow_bwd"], expected[1])
    assert (sample["flow_bwd"] - clip["flow_bwd"][:4]).norm(dim=1).median() < 0.5


def test_davis_whole_videos_resize_and_cap(tiny_davis):
    root, lengths = tiny_davis
    config = DataConfig(source="davis", root=str(root), frame_size=(24, 32), eval_max_frames=6,
                        flow={"cache_dir": None})
    val = build_dataset(config, "val", "superres")
    assert len(val) == 2 and not val.hflip and val.crop_size is None
    assert val[0]["name"] == "dog@00000" and val[0]["input"].shape == (6, 3, 24, 32)
    assert val[1]["input"].shape[0] == lengths["eel"]
    segmentation = DavisVideoDataset(root, "val", "segmentation", frame_size=(24, 32))
    assert set(segmentation[0]["target"].unique().tolist()) <= {-1.0, 1.0}  # nearest: stays binary


def test_davis_bad_input(tiny_davis, tmp_path):
    root, _ = tiny_davis
    with pytest.raises(ValueError, match="no exact flow"):
        DavisVideoDataset(root, "train", "colorization", flow_provider=make_flow_provider("exact"))
    with pytest.raises(ValueError, match="gives no clip of 20 frames"):
        DavisVideoDataset(root, "train", "colorization", clip_length=20)
    with pytest.raises(ValueError, match="crop_size"):
        DavisVideoDataset(root, "train", "colorization", crop_size=(64, 64))
    with pytest.raises(FileNotFoundError, match="DAVIS root folder not found"):
        build_dataset(DataConfig(source="davis", root=str(tmp_path / "none")), "train", "segmentation")


def test_flows_computed_before_the_items_are_the_ones_the_items_read(tiny_davis, tmp_path):
    root, _ = tiny_davis
    cache = FlowCache(tmp_path / "flows")
    dataset = DavisVideoDataset(root, "val", "colorization", flow_cache=cache, max_frames=3)
    for index in range(len(dataset)):
        dataset.flows(index)
    assert cache.misses == 4  # two videos of three frames: two pairs each
    dataset[0], dataset[1]
    assert cache.hits == 4 and cache.misses == 4


def test_davis_loads_in_worker_processes(tiny_davis, tmp_path):
    root, _ = tiny_davis
    cache = FlowCache(tmp_path / "flows")
    dataset = DavisVideoDataset(root, "train", "segmentation", crop_size=(32, 32), hflip=True, flow_cache=cache)
    loader = DataLoader(dataset, batch_size=3, num_workers=2)
    batch = next(iter(loader))
    assert batch["input"].shape == (3, 5, 3, 32, 32) and batch["flow_bwd"].shape == (3, 4, 2, 32, 32)
    assert len(list((tmp_path / "flows").rglob("*.safetensors"))) == 3 * 4  # workers filled the shared cache, pair by pair
