"""Tests of DAVIS folder scanning, annotation reading and the layout writer."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from v2v.data import read_annotation, scan_davis, write_davis_layout
from v2v.data.davis import davis_palette, read_davis_split


def copy_of(tiny_davis, tmp_path):
    root, _ = tiny_davis
    target = tmp_path / "davis"
    shutil.copytree(root, target)
    return target


def test_scan_finds_sequences_frames_and_annotations(tiny_davis):
    root, lengths = tiny_davis
    sequences = scan_davis(root, "train", need_annotations=True)
    assert [s.name for s in sequences] == ["bear", "boat", "cat"]
    for sequence in sequences:
        assert len(sequence) == lengths[sequence.name] and sequence.frame_size == (48, 64)
        assert [p.stem for p in sequence.annotation_files] == [p.stem for p in sequence.frame_files]
    assert read_davis_split(root, "val") == ["dog", "eel"]


def test_annotations_roundtrip_as_palette_foreground(tiny_davis):
    from v2v.data import synthetic_clip

    root, _ = tiny_davis
    clip = synthetic_clip(100, size=(48, 64), num_frames=12, num_objects=(2, 2))  # the "bear" sequence
    sequence = scan_davis(root, "train")[0]
    with Image.open(sequence.annotation_files[3]) as image:
        assert image.mode == "P"
        ids = np.asarray(image)
    assert torch.equal(torch.from_numpy(ids.astype(np.int64)), clip["labels"][3, 0])
    foreground = read_annotation(sequence.annotation_files[3])
    assert foreground.dtype == bool and np.array_equal(foreground, clip["masks"][3, 0].numpy() > 0)


def test_read_annotation_modes(tmp_path):
    ids = np.zeros((6, 5), np.uint8)
    ids[1:3, 1:3], ids[4, 4] = 2, 255
    palette = Image.fromarray(ids, mode="P")
    palette.putpalette(davis_palette())
    palette.save(tmp_path / "p.png")
    Image.fromarray(ids, mode="L").save(tmp_path / "l.png")
    rgb = np.zeros((6, 5, 3), np.uint8)
    rgb[ids > 0] = (128, 0, 0)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    for name in ("p.png", "l.png", "rgb.png"):
        assert np.array_equal(read_annotation(tmp_path / name), ids > 0), name
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        read_annotation(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_annotation(tmp_path / "nope.png")
    assert len(davis_palette()) == 768 and davis_palette()[3:6] == [128, 0, 0]


def test_missing_root_and_split_list(tmp_path, tiny_davis):
    with pytest.raises(FileNotFoundError, match="DAVIS root folder not found"):
        scan_davis(tmp_path / "missing", "train")
    root, _ = tiny_davis
    with pytest.raises(FileNotFoundError, match=r"test\.txt.*\['train', 'val'\].*evaluates on 'val'"):
        scan_davis(root, "test")
    empty = copy_of(tiny_davis, tmp_path)
    (empty / "ImageSets" / "2017" / "train.txt").write_text("\n\n")
    with pytest.raises(ValueError, match="names no sequence"):
        scan_davis(empty, "train")


def test_missing_and_empty_sequence_folders(tmp_path, tiny_davis):
    root = copy_of(tiny_davis, tmp_path)
    shutil.rmtree(root / "JPEGImages" / "480p" / "boat")
    with pytest.raises(FileNotFoundError, match="boat"):
        scan_davis(root, "train")
    (root / "JPEGImages" / "480p" / "boat").mkdir()
    with pytest.raises(ValueError, match=r"boat is empty"):
        scan_davis(root, "train")


def test_frames_of_different_sizes(tmp_path, tiny_davis):
    root = copy_of(tiny_davis, tmp_path)
    path = root / "JPEGImages" / "480p" / "cat" / "00002.jpg"
    Image.new("RGB", (60, 48)).save(path)
    with pytest.raises(ValueError, match=r"00002\.jpg is 48x60.*share a size"):
        scan_davis(root, "train")


def test_unreadable_frame(tmp_path, tiny_davis):
    root = copy_of(tiny_davis, tmp_path)
    (root / "JPEGImages" / "480p" / "cat" / "00001.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(ValueError, match=r"cannot read image .*cat/00001\.jpg"):
        scan_davis(root, "train")


def test_annotations_missing_folder_or_file(tmp_path, tiny_davis):
    root = copy_of(tiny_davis, tmp_path)
    (root / "Annotations" / "480p" / "boat" / "00004.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"boat/00004\.png"):
        scan_davis(root, "train")
    shutil.rmtree(root / "Annotations" / "480p" / "boat")
    assert scan_davis(root, "train")[1].annotation_files is None  # fine without segmentation
    with pytest.raises(FileNotFoundError, match="segmentation task needs annotations.*boat"):
        scan_davis(root, "train", need_annotations=True)


def test_annotation_of_another_size(tmp_path, tiny_davis):
    root = copy_of(tiny_davis, tmp_path)
    Image.new("P", (10, 10)).save(root / "Annotations" / "480p" / "cat" / "00000.png")
    with pytest.raises(ValueError, match=r"annotation .*cat/00000\.png is 10x10"):
        scan_davis(root, "train")


def test_writer_accepts_uint8_frames_and_no_labels(tmp_path):
    frames = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    write_davis_layout(tmp_path, {"seq": (frames, None)}, {"val": ["seq"]})
    sequence = scan_davis(tmp_path, "val")[0]
    assert len(sequence) == 2 and sequence.annotation_files is None


def test_truncated_jpeg_is_an_error_not_a_gray_frame(tmp_path, tiny_davis):
    from v2v.data import DavisVideoDataset

    root = copy_of(tiny_davis, tmp_path)
    path = root / "JPEGImages" / "480p" / "cat" / "00003.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header survives: scanning passes
    dataset = DavisVideoDataset(root, "train", "colorization", clip_length=4)
    with pytest.raises(ValueError, match=r"cannot read image .*cat/00003\.jpg.*truncated"):
        dataset.load(len(dataset) - 1)
