"""Tests of streaming video IO: files through PyAV, frame folders, atomic writes, audio, bad input."""

import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

from v2v.data.video_io import (
    FrameFolderReader,
    VideoFileReader,
    frame_to_uint8,
    list_frame_files,
    open_video_reader,
    read_image,
    read_video,
)
from v2v.data.video_writer import VideoWriter


def gradient_frames(count, height=48, width=64):
    """Smooth moving gradients (compress well, survive chroma subsampling)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for index in range(count):
        red = 0.5 + 0.4 * np.sin((xs + 2 * index) / 9.0)
        green = 0.5 + 0.4 * np.cos((ys - index) / 7.0)
        blue = np.full_like(xs, (index % 10) / 10.0)
        frames.append(np.rint(np.stack([red, green, blue], axis=2) * 255).astype(np.uint8))
    return frames


def make_video_with_audio(path, audio_codec, frames=20, fps=10, sample_rate=16000):
    container = av.open(str(path), "w")
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
    audio = container.add_stream(audio_codec, rate=sample_rate, layout="mono")
    per_frame = sample_rate // fps
    for index, image in enumerate(gradient_frames(frames)):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = index, Fraction(1, fps)
        for packet in video.encode(frame):
            container.mux(packet)
        samples = (np.sin(np.arange(index * per_frame, (index + 1) * per_frame) / 5.0) * 8000).astype(np.int16)
        sound = av.AudioFrame.from_ndarray(samples[None], format="s16", layout="mono")
        sound.sample_rate, sound.pts, sound.time_base = sample_rate, index * per_frame, Fraction(1, sample_rate)
        for packet in audio.encode(sound):
            container.mux(packet)
    for stream in (video, audio):
        for packet in stream.encode(None):
            container.mux(packet)
    container.close()


def stream_durations(path):
    with av.open(str(path)) as container:
        return {s.type: (s.codec_context.name, float(s.duration * s.time_base)) for s in container.streams}


def test_mp4_roundtrip_h264(tmp_path):
    frames = gradient_frames(12)
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=12.5) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.codec == "libx264" and writer.frames_written == 12
    reader = open_video_reader(path)
    assert isinstance(reader, VideoFileReader)
    assert reader.fps == pytest.approx(12.5) and reader.frame_size == (48, 64) and reader.num_frames == 12
    assert reader.audio_stream_info is None
    decoded = list(reader)
    assert len(decoded) == 12 and decoded[0].dtype == np.uint8 and decoded[0].shape == (48, 64, 3)
    error = np.mean([np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(decoded, frames)])
    assert error < 5.0  # lossy H.264 at crf 18 (yuv420p) on a tiny frame
    assert len(list(reader)) == 12  # a reader can be iterated again
    assert stream_durations(path)["video"][0] == "h264"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temporary file left


def test_odd_sizes_and_other_frame_forms(tmp_path):
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, fps=5, crf=0) as writer:
        writer.write(np.full((21, 33, 3), 200, np.uint8))
        writer.write(torch.full((3, 21, 33), 0.5))  # torch [C, H, W] float
        writer.write(np.full((21, 33), 0.25, np.float32))  # numpy gray float
    frames, fps = read_video(path)
    assert frames.shape == (3, 3, 21, 33) and fps == pytest.approx(5)
    assert torch.allclose(frames[:, :, 5, 5].mean(1), torch.tensor([200 / 255, 0.5, 0.25]), atol=2 / 255)


def test_frame_folder_roundtrip_is_lossless(tmp_path):
    frames = [np.random.default_rng(i).integers(0, 256, (17, 23, 3), dtype=np.uint8) for i in range(4)]
    folder = tmp_path / "frames"
    with VideoWriter(folder) as writer:
        for frame in frames:
            writer.write(frame)
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:06d}.png" for i in range(4)]
    reader = open_video_reader(folder, fps=30)
    assert isinstance(reader, FrameFolderReader) and reader.fps == 30 and len(reader) == 4
    for read, original in zip(reader, frames):
        assert np.array_equal(read, original)
    assert open_video_reader(folder).fps == 25.0  # documented default for folders


def test_natural_order_and_jpeg_folders(tmp_path):
    for index in (10, 2, 1):
        Image.fromarray(np.full((4, 4, 3), index, np.uint8)).save(tmp_path / f"frame{index}.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "frame3.JPG")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [p.name for p in list_frame_files(tmp_path)] == ["frame1.png", "frame2.png", "frame3.JPG", "frame10.png"]
    assert read_image(tmp_path / "frame2.png")[0, 0].tolist() == [2, 2, 2]


def test_reading_streams_with_constant_memory(tmp_path):
    path = tmp_path / "long.mp4"
    with VideoWriter(path, fps=25) as writer:
        for frame in gradient_frames(10) * 12:
            writer.write(frame)
    reader = open_video_reader(path)
    tracemalloc.start()
    count = 0
    for _frame in reader:
        count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 120
    assert peak < 20 * frame.nbytes  # not 120 frames held at once


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.mp4"):
        open_video_reader(tmp_path / "nowhere.mp4")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty"):
        open_video_reader(empty)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 1000)
    with pytest.raises(ValueError, match="garbage.mp4"):
        open_video_reader(garbage)
    good = tmp_path / "good.mp4"
    with VideoWriter(good, fps=10) as writer:
        for frame in gradient_frames(30):
            writer.write(frame)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.mp4"):
        list(open_video_reader(truncated))
    with pytest.raises(ValueError, match="fps can only be given for frame folders"):
        open_video_reader(good, fps=3)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.new("RGB", (8, 8)).save(mixed / "0.png")
    Image.new("RGB", (8, 9)).save(mixed / "1.png")
    with pytest.raises(ValueError, match=r"1\.png is 9x8.*different sizes"):
        list(open_video_reader(mixed))
    broken = tmp_path / "broken"
    broken.mkdir()
    Image.new("RGB", (8, 8)).save(broken / "0.png")
    (broken / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    frames = iter(open_video_reader(broken))
    assert next(frames).shape == (8, 8, 3)  # streaming: the good frame comes first
    with pytest.raises(ValueError, match=r"cannot read image .*1\.png"):
        next(frames)


def test_frame_to_uint8_forms_and_errors():
    assert frame_to_uint8(np.zeros((2, 3), np.uint8)).shape == (2, 3, 3)
    assert frame_to_uint8(torch.ones(1, 2, 3)).max() == 255
    assert frame_to_uint8(np.full((2, 2, 3), 2.0)).max() == 255  # clamped
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        frame_to_uint8(torch.zeros(2, 2, 3))
    with pytest.raises(ValueError, match="NaN"):
        frame_to_uint8(np.full((2, 2, 3), np.nan))
    with pytest.raises(ValueError, match="uint8 or float"):
        frame_to_uint8(np.zeros((2, 2, 3), np.int32))
    with pytest.raises(TypeError):
        frame_to_uint8([[0]])


def _write_rotated_clip(path, rotation, frames=3):
    """A 32x64 clip whose left quarter is white, stored with a display rotation (as phones do)."""
    import av

    container = av.open(str(path), "w")
    stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
    stream.set_display_rotation(rotation)
    for _ in range(frames):
        image = np.zeros((32, 64, 3), np.uint8)
        image[:, :16] = 255
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


@pytest.mark.parametrize("rotation, white", [(0, "left"), (90, "bottom"), (-90, "top"), (180, "right")])
def test_rotation_metadata_is_honoured_and_the_output_plays_upright(tmp_path, rotation, white):
    from v2v.data.video_io import VideoFileReader

    source = tmp_path / "phone.mp4"
    _write_rotated_clip(source, rotation)
    reader = VideoFileReader(source)
    assert reader.rotation == rotation % 360
    assert reader.frame_size == ((64, 32) if rotation in (90, -90) else (32, 64))
    frames = list(reader)
    assert len(frames) == 3 and frames[0].shape == (*reader.frame_size, 3)
    gray = frames[0].mean(axis=2)
    quarter = {"left": gray[:, :8], "right": gray[:, -8:], "top": gray[:8], "bottom": gray[-8:]}
    assert quarter[white].mean() > 200 and all(v.mean() < 100 for k, v in quarter.items() if k != white)
    # Written back, the frames carry no rotation and read the same way up.
    copy = tmp_path / "copy.mp4"
    with VideoWriter(copy, fps=10) as writer:
        for frame in frames:
            writer.write(frame)
    again = VideoFileReader(copy)
    assert again.rotation == 0 and again.frame_size == reader.frame_size
    assert np.abs(next(iter(again)).astype(int) - frames[0]).mean() < 8


def test_rotation_helpers():
    from v2v.data.video_io import rotation_quarter_turns, upright

    assert [rotation_quarter_turns(d) for d in (0, 90, -90, 180, -180, 270, 89.6)] == [0, 90, 270, 180, 180, 270, 90]
    with pytest.raises(ValueError, match="not a multiple of 90"):
        rotation_quarter_turns(45)
    image = np.arange(6).reshape(2, 3)
    assert upright(image, 90).tolist() == [[2, 5], [1, 4], [0, 3]]  # counter-clockwise
    with pytest.raises(ValueError, match="0, 90, 180 or 270"):
        upright(image, 45)
