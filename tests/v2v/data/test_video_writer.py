"""The video writer: atomic files and frame folders, odd sizes, codecs, audio carried across."""


import numpy as np
import pytest

from v2v.data.video_io import open_video_reader, read_video
from v2v.data.video_writer import VideoWriter

from .test_video_io import gradient_frames, make_video_with_audio, stream_durations


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous result")
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(path, fps=10) as writer:
            for frame in gradient_frames(3):
                writer.write(frame)
            raise RuntimeError("boom")
    assert path.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    folder = tmp_path / "frames"
    with pytest.raises(ValueError, match="all frames must share one size"):
        with VideoWriter(folder) as writer:
            writer.write(np.zeros((8, 8, 3), np.uint8))
            writer.write(np.zeros((9, 8, 3), np.uint8))
    assert not folder.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_success_replaces_an_existing_destination(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"old")
    with VideoWriter(path, fps=10) as writer:
        writer.write(gradient_frames(1)[0])
    assert open_video_reader(path).num_frames == 1
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "stale.png").write_bytes(b"x")
    with VideoWriter(folder) as writer:
        writer.write(gradient_frames(1)[0])
    assert [p.name for p in folder.iterdir()] == ["000000.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "out.mp4"]


def test_writer_guards(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        VideoWriter(path, overwrite=False)
    with pytest.raises(ValueError, match="no frames were written"):
        with VideoWriter(tmp_path / "empty.mp4"):
            pass
    assert not (tmp_path / "empty.mp4").exists()
    with pytest.raises(ValueError, match="fps must be positive"):
        VideoWriter(tmp_path / "x.mp4", fps=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        VideoWriter(tmp_path / "missing" / "x.mp4")
    plain_file = tmp_path / "out"  # no video extension: a frame-folder destination
    plain_file.write_bytes(b"not a folder")
    with pytest.raises(ValueError, match="refusing to replace"):
        VideoWriter(plain_file)
    with pytest.raises(ValueError, match="even frame sizes"):
        with VideoWriter(tmp_path / "m.mp4", codec="mpeg4") as writer:
            writer.write(np.zeros((9, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="audio_from needs a video file"):
        VideoWriter(tmp_path / "folder", audio_from=path)
    writer = VideoWriter(tmp_path / "late.mp4")
    writer.write(np.zeros((8, 8, 3), np.uint8))
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(np.zeros((8, 8, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.mp4", "out", "out.mp4"]


def test_mpeg4_fallback_codec(tmp_path):
    with VideoWriter(tmp_path / "m.mp4", fps=10, codec="mpeg4") as writer:
        for frame in gradient_frames(5):
            writer.write(frame)
    assert stream_durations(tmp_path / "m.mp4")["video"][0] == "mpeg4"
    assert len(read_video(tmp_path / "m.mp4")[0]) == 5


@pytest.mark.parametrize("container, codec, expected", [(".mp4", "aac", "aac"), (".mov", "pcm_s16le", "aac")])
def test_audio_is_carried_and_cut_to_the_video(tmp_path, container, codec, expected):
    source = tmp_path / f"source{container}"
    make_video_with_audio(source, codec, frames=20, fps=10)
    reader = open_video_reader(source)
    assert reader.audio_stream_info["codec"] == codec and reader.audio_stream_info["channels"] == 1
    out = tmp_path / "out.mp4"
    with VideoWriter(out, fps=reader.fps, audio_from=source) as writer:
        for index, frame in enumerate(reader):
            if index == 12:
                break
            writer.write(frame)
    durations = stream_durations(out)
    assert durations["video"] == ("h264", pytest.approx(1.2, abs=0.01))
    assert durations["audio"][0] == expected
    assert durations["audio"][1] == pytest.approx(1.2, abs=0.15)  # cut at the video's end (AAC frames)
    assert open_video_reader(out).audio_stream_info["channels"] == 1

