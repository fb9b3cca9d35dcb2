"""``python -m v2v.translate`` on tiny generated videos with a tiny random generator checkpoint."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from v2v.data.video_io import open_video_reader, read_video
from v2v.data.video_writer import VideoWriter
from v2v.models import load_generator
from v2v.tasks import get_task
from v2v.translate import TranslateConfig, main, translate

from _run_fixtures import make_run


def _texture(seed: int, height: int = 32, width: int = 40) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.random((height // 4, width // 4, 3)).astype(np.float32)
    return (cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def _shot(seed: int, frames: int) -> list[np.ndarray]:
    image = _texture(seed)
    return [np.roll(image, t, axis=1) for t in range(frames)]


def _write_folder(path: Path, frames: list[np.ndarray]) -> Path:
    with VideoWriter(path) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def _write_mp4_with_audio(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    container = av.open(str(path), mode="w")
    video = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = "yuv420p"
    audio = container.add_stream("aac", rate=16000, layout="mono")
    samples_per_frame = 16000 // fps
    pts = 0
    for image in frames:
        for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
        tone = (0.2 * np.sin(np.arange(samples_per_frame) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, pts, Fraction(1, 16000)
        pts += samples_per_frame
        for packet in audio.encode(frame):
            container.mux(packet)
    for stream in (video, audio):
        for packet in stream.encode(None):
            container.mux(packet)
    container.close()
    return path


@pytest.fixture(scope="module")
def colorization_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run") / "colorization", "colorization")


def _expected_outputs(run: Path, frames: list[np.ndarray], shots: list[tuple[int, int]]) -> list[np.ndarray]:
    """The generator applied to whole shots (forward over clips), as uint8 frames."""
    generator, config = load_generator(run)
    rgb = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0
    expected = []
    with torch.no_grad():
        for start, stop in shots:
            clip = get_task(config.task).input(rgb[start:stop])
            for output in generator(clip.unsqueeze(0))[0]:
                expected.append((get_task(config.task).display(output).permute(1, 2, 0).numpy() * 255).round())
    return expected


def test_frame_folder_matches_the_generator_on_whole_shots(tmp_path, colorization_run):
    frames = _shot(1, 15) + _shot(7, 4)  # the first shot lasts the minimum shot length (15 frames)
    source = _write_folder(tmp_path / "frames", frames)
    result = translate(TranslateConfig(str(colorization_run), str(source), str(tmp_path / "out"), progress=False))
    assert result.frames == 19 and result.cuts == [15]
    written, _ = read_video(tmp_path / "out")
    written = (written.permute(0, 2, 3, 1).numpy() * 255).round()
    expected = _expected_outputs(colorization_run, frames, [(0, 15), (15, 19)])
    for got, want in zip(written, expected):
        assert np.abs(got - want).max() <= 1  # PNG rounding only


def test_without_scene_cuts_the_state_runs_across_the_cut(tmp_path, colorization_run):
    frames = _shot(1, 15) + _shot(7, 4)
    source = _write_folder(tmp_path / "frames", frames)
    result = translate(TranslateConfig(str(colorization_run), str(source), str(tmp_path / "out"),
                                       scene_cuts=False, progress=False))
    assert result.cuts == []
    written, _ = read_video(tmp_path / "out")
    written = (written.permute(0, 2, 3, 1).numpy() * 255).round()
    reset = _expected_outputs(colorization_run, frames, [(0, 15), (15, 19)])
    continuous = _expected_outputs(colorization_run, frames, [(0, 19)])
    assert np.abs(written[15] - continuous[15]).max() <= 1
    assert np.abs(written[15] - reset[15]).max() > 1  # the carried state changes the frame after the cut


def test_video_file_keeps_frame_rate_and_audio_side_by_side(tmp_path, colorization_run):
    source = _write_mp4_with_audio(tmp_path / "in.mp4", _shot(3, 10), fps=10)
    output = tmp_path / "out.mp4"
    assert main(["--checkpoint", str(colorization_run), "--input", str(source), "--output", str(output),
                 "--side-by-side", "--quiet"]) == 0
    reader = open_video_reader(output)
    assert reader.fps == pytest.approx(10.0)
    assert reader.frame_size == (32, 80)  # input | output
    assert reader.audio_stream_info is not None
    frames = list(reader)
    assert len(frames) == 10
    left = frames[0][:, :40].astype(float)
    assert np.abs(left[..., 0] - left[..., 1]).mean() < 6  # the model input of colorization is gray


def test_segmentation_writes_masks(tmp_path):
    run = make_run(tmp_path / "seg", "segmentation")
    source = _write_folder(tmp_path / "frames", _shot(2, 3))
    translate(TranslateConfig(str(run), str(source), str(tmp_path / "out"), progress=False))
    written, _ = read_video(tmp_path / "out")
    assert set(np.unique(written.numpy())) <= {0.0, 1.0}


def test_missing_and_corrupt_input_are_clear_errors(tmp_path, colorization_run, capsys):
    output = tmp_path / "out.mp4"
    assert main(["--checkpoint", str(colorization_run), "--input", str(tmp_path / "nope.mp4"), "--output", str(output)]) == 2
    assert "does not exist" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01 not a video" * 100)
    assert main(["--checkpoint", str(colorization_run), "--input", str(corrupt), "--output", str(output), "--quiet"]) == 2
    assert "corrupt.mp4" in capsys.readouterr().err
    assert main(["--checkpoint", str(tmp_path / "no-run"), "--input", str(corrupt), "--output", str(output)]) == 2
    assert not output.exists()


def test_a_failed_run_leaves_no_output(tmp_path, colorization_run, monkeypatch, capsys):
    source = _write_folder(tmp_path / "frames", _shot(1, 6))
    output = tmp_path / "out.mp4"
    original = VideoWriter.write

    def failing_write(self, frame):
        if self.frames_written == 3:
            raise OSError("disk full (simulated)")
        original(self, frame)

    monkeypatch.setattr(VideoWriter, "write", failing_write)
    assert main(["--checkpoint", str(colorization_run), "--input", str(source), "--output", str(output), "--quiet"]) == 1
    assert "disk full" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # no output, no temporary file


def test_existing_output_needs_overwrite(tmp_path, colorization_run, capsys):
    source = _write_folder(tmp_path / "frames", _shot(1, 2))
    output = tmp_path / "out.mp4"
    output.write_bytes(b"keep me")
    assert main(["--checkpoint", str(colorization_run), "--input", str(source), "--output", str(output), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert output.read_bytes() == b"keep me"
    assert main(["--checkpoint", str(colorization_run), "--input", str(source), "--output", str(output),
                 "--overwrite", "--quiet", "--max-frames", "1"]) == 0
    assert len(list(open_video_reader(output))) == 1


def test_help_describes_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for option in ("--checkpoint", "--input", "--output", "--side-by-side", "--scene-cut-threshold"):
        assert option in text


def test_bf16_precision_runs_the_generator_under_autocast(tmp_path, colorization_run):
    frames = _shot(3, 4)
    source = _write_folder(tmp_path / "frames", frames)
    translate(TranslateConfig(str(colorization_run), str(source), str(tmp_path / "fp32"), progress=False))
    translate(TranslateConfig(str(colorization_run), str(source), str(tmp_path / "bf16"), progress=False,
                              precision="bf16"))
    full, _ = read_video(tmp_path / "fp32")
    half, _ = read_video(tmp_path / "bf16")
    difference = (full - half).abs()
    assert difference.max() > 0, "bf16 autocast should change the last bits somewhere"
    assert difference.mean() < 0.02
    with pytest.raises(ValueError, match="precision: must be one of"):
        translate(TranslateConfig(str(colorization_run), str(source), str(tmp_path / "x"), precision="fp16"))
