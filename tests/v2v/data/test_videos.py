"""The videos source: shots, windows that never cross a cut, scaling, the store of decoded shots,
per-pair flows, and bad files that are skipped (named) instead of stopping a run."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from v2v.config import load_config
from v2v.config_engine import ConfigError
from v2v.data import DataConfig, VideoFolderDataset, build_dataset, materialize_video
from v2v.data.video_writer import VideoWriter
from v2v.flow import FlowCache, make_flow_provider
from v2v.tasks import get_task


def _texture(seed: int, height: int, width: int) -> np.ndarray:
    generator = np.random.default_rng(seed)
    import cv2

    noise = generator.random((height // 4 + 1, width // 4 + 1, 3)).astype(np.float32)
    return (cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def _shot(seed: int, frames: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """A texture panning one pixel per frame."""
    image = _texture(seed, height, width + frames)
    return [image[:, t : t + width].copy() for t in range(frames)]


def _write(path: Path, frames: list[np.ndarray], fps: float = 25) -> Path:
    with VideoWriter(path, fps=fps) as writer:
        for frame in frames:
            writer.write(frame)
    return path


@pytest.fixture
def corpus(tmp_path):
    """train: an mp4 with a cut after 20 frames (two textures), a frame folder of 12; val: an mp4 of 10."""
    root = tmp_path / "corpus"
    (root / "train").mkdir(parents=True)
    (root / "val").mkdir()
    _write(root / "train" / "cut.mp4", _shot(0, 20) + _shot(1, 18))
    _write(root / "train" / "folder", _shot(2, 12, 40, 56))
    _write(root / "val" / "clip.mp4", _shot(3, 10))
    return root


def _config(root: Path, tmp_path: Path, **values) -> DataConfig:
    defaults = {"crop_size": (32, 32), "clip_length": 5}
    return DataConfig(source="videos", root=str(root), frame_size=None, materialize_dir=str(tmp_path / "store"),
                      flow={"cache_dir": str(tmp_path / "flows")}, **{**defaults, **values})


def test_windows_stay_inside_shots_and_items_have_the_task_s_shapes(corpus, tmp_path):
    dataset = build_dataset(_config(corpus, tmp_path), "train", "colorization")
    assert [(shot.video, shot.first_frame, shot.frames) for shot in dataset.shots] == [
        ("cut.mp4", 0, 20), ("cut.mp4", 20, 18), ("folder", 0, 12)]
    # Non-overlapping windows of 5 inside each shot: 4 + 3 + 2.
    assert len(dataset) == 9
    for number, start, length in dataset.items:
        assert start + length <= dataset.shots[number].frames
    item = dataset[4]
    assert item["input"].shape == (5, 1, 32, 32) and item["target"].shape == (5, 3, 32, 32)
    assert item["flow_fwd"].shape == item["flow_bwd"].shape == (4, 2, 32, 32)
    assert item["name"] == "cut#1@00000" and item["sequence"] == "cut#1"
    # The shot's frames are the source's, as decoded (the pan continues across the window).
    frames, _, _ = dataset.load(5)
    assert frames.shape == (5, 3, 48, 64) and 0 <= frames.min() and frames.max() <= 1


def test_stabilize_items_are_processed_crops_of_the_windows(corpus, tmp_path):
    dataset = build_dataset(_config(corpus, tmp_path, processors=("posterize",)), "train", "stabilize")
    item = dataset[4]
    assert item["input"].shape == (5, 6, 32, 32) and item["target"].shape == item["temporal_target"].shape == (5, 3, 32, 32)
    assert item["processor"] == "posterize" and torch.equal(item["target"], item["input"][:, 3:])
    assert item["flow_fwd"].shape == (4, 2, 32, 32)
    with pytest.raises(ValueError, match="needs processing"):
        VideoFolderDataset(corpus, "val", "stabilize", short_side=None, flow_provider=dataset.flow_provider,
                           store=tmp_path / "store", progress=False)


def test_evaluation_items_are_whole_shots_capped(corpus, tmp_path):
    dataset = build_dataset(_config(corpus, tmp_path), "val", "superres")
    assert len(dataset) == 1 and dataset[0]["input"].shape == (10, 3, 48, 64)
    capped = build_dataset(_config(corpus, tmp_path, eval_max_frames=6), "val", "superres")
    assert capped[0]["target"].shape == (6, 3, 48, 64)


def test_short_side_scales_down_and_never_up(corpus, tmp_path):
    dataset = VideoFolderDataset(corpus, "train", "colorization", short_side=24, flow_provider=make_flow_provider("dis"),
                                 store=tmp_path / "store", progress=False)
    assert {(shot.height, shot.width) for shot in dataset.shots} == {(24, 32), (24, 34)}  # 48x64, 40x56 -> short side 24
    larger = VideoFolderDataset(corpus, "train", "colorization", short_side=100, flow_provider=make_flow_provider("dis"),
                                store=tmp_path / "store", progress=False)
    assert {(shot.height, shot.width) for shot in larger.shots} == {(48, 64), (40, 56)}


def test_the_store_is_written_once_and_read_back(corpus, tmp_path):
    store = tmp_path / "store"
    first = materialize_video(corpus / "train" / "cut.mp4", store, short_side=None)
    stamps = {shot.path: shot.path.stat().st_mtime_ns for shot in first}
    again = materialize_video(corpus / "train" / "cut.mp4", store, short_side=None)
    assert again == first and {shot.path: shot.path.stat().st_mtime_ns for shot in again} == stamps
    assert not list(store.glob(".*"))  # no temporary left behind
    # Another scale is another entry; a changed file is decoded again.
    assert materialize_video(corpus / "train" / "cut.mp4", store, short_side=24)[0].path.parent != first[0].path.parent
    _write(corpus / "train" / "cut.mp4", _shot(5, 8))
    changed = materialize_video(corpus / "train" / "cut.mp4", store, short_side=None)
    assert [shot.frames for shot in changed] == [8]


def test_overlapping_windows_share_their_pairs_in_the_flow_cache(corpus, tmp_path):
    cache = FlowCache(tmp_path / "flows")
    dataset = VideoFolderDataset(corpus, "train", "colorization", short_side=None, clip_length=5, clip_stride=1,
                                 flow_provider=make_flow_provider("dis"), flow_cache=cache, store=tmp_path / "store", progress=False)
    shot_items = [index for index, (number, _, _) in enumerate(dataset.items) if number == 2]  # the 12-frame folder
    for index in shot_items:
        dataset.flows(index)
    assert len(shot_items) == 8 and cache.misses == 11  # each of the shot's 11 pairs computed once
    fwd, bwd = dataset.flows(shot_items[3])  # from the cache, pair by pair: the flows of the whole window
    luma = (get_task("colorization").input(dataset.load(shot_items[3])[0]) + 1) / 2
    expected_fwd, expected_bwd = make_flow_provider("dis").compute(luma)
    torch.testing.assert_close(fwd, expected_fwd)
    torch.testing.assert_close(bwd, expected_bwd)


def test_bad_files_are_skipped_with_a_warning_naming_them(corpus, tmp_path):
    train = corpus / "train"
    (train / "notes.txt").write_text("not a video")
    (train / "empty.mp4").write_bytes(b"")
    (train / "truncated.mp4").write_bytes((train / "cut.mp4").read_bytes()[:300])
    (train / "no-frames").mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = build_dataset(_config(corpus, tmp_path), "train", "colorization")
    messages = "\n".join(str(w.message) for w in caught)
    for name in ("notes.txt", "empty.mp4", "truncated.mp4", "no-frames"):
        assert name in messages, name
    assert len(dataset) == 9  # the good videos are all there


def test_a_split_without_usable_videos_is_an_error_naming_the_folder(tmp_path):
    root = tmp_path / "corpus"
    (root / "train").mkdir(parents=True)
    (root / "train" / "readme.txt").write_text("nothing")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"videos in .*corpus/train give no a window|give no"):
            build_dataset(_config(root, tmp_path), "train", "colorization")
    with pytest.raises(FileNotFoundError, match="videos folder .*val does not exist"):
        build_dataset(_config(root, tmp_path), "val", "colorization")


def test_a_crop_larger_than_a_video_names_the_video(corpus, tmp_path):
    with pytest.raises(ValueError, match=r"crop_size \(45, 45\) is larger than the frames of folder \(40x56"):
        build_dataset(_config(corpus, tmp_path, crop_size=(45, 45)), "train", "colorization")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.frame_size=[64,64]"], "data.frame_size: must be null for data.source=videos"),
        (["data.frame_size=null", "data.crop_size=null"], "data.crop_size: data.source=videos needs a training crop"),
        (["data.frame_size=null", "task=segmentation", "model.residual=null"], "task: the segmentation task needs foreground masks"),
        (["data.frame_size=null", "data.short_side=8"], "data.short_side: must be >= 16"),
    ],
)
def test_bad_videos_configs_name_the_key(overrides, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        load_config("quickstart", ["data.source=videos", f"data.root={tmp_path}", "data.crop_size=[32,32]", *overrides])
    with pytest.raises(ConfigError, match="data.short_side: applies to data.source=videos"):
        load_config("quickstart", ["data.short_side=64"])


def test_precompute_flows_serves_the_videos_source(corpus, tmp_path, capsys):
    from v2v.precompute_flows import main

    overrides = ["data.source=videos", f"data.root={corpus}", "data.frame_size=null", "data.crop_size=[32,32]",
                 f"data.materialize_dir={tmp_path / 'store'}", f"data.flow.cache_dir={tmp_path / 'flows'}"]
    assert main(["--quiet", *overrides]) == 0
    out = capsys.readouterr().out
    # train: windows 0-4, 5-9 ... of shots of 20, 18 and 12 frames: 9 windows of 4 pairs; val: one shot, 9 pairs.
    assert "train: 9 items, 36 pairs computed" in out and "val: 1 items, 9 pairs computed" in out
