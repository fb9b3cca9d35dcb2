"""``python -m v2v.translate`` on tiny generated videos with a tiny random generator checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from _video_fixtures import shot, write_frames, write_mp4_with_audio

from v2v.data.video_io import open_video_reader, read_video
from v2v.data.video_writer import VideoWriter
from v2v.models import load_generator
from v2v.tasks import get_task
from v2v.translate import TranslateConfig, main, translate

from _run_fixtures import make_run


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
    frames = shot(1, 15) + shot(7, 4)  # the first shot lasts the minimum shot length (15 frames)
    source = write_frames(tmp_path / "frames", frames)
    result = translate(TranslateConfig(str(colorization_run), str(source), str(tmp_path / "out"), progress=False))
    assert result.frames == 19 and result.cuts == [15]
    written, _ = read_video(tmp_path / "out")
    written = (written.permute(0, 2, 3, 1).numpy() * 255).round()
    expected = _expected_outputs(colorization_run, frames, [(0, 15), (15, 19)])
    for got, want in zip(written, expected):
        assert np.abs(got - want).max() <= 1  # PNG rounding only


def test_without_scene_cuts_the_state_runs_across_the_cut(tmp_path, colorization_run):
    frames = shot(1, 15) + shot(7, 4)
    source = write_frames(tmp_path / "frames", frames)
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
    source = write_mp4_with_audio(tmp_path / "in.mp4", shot(3, 10), fps=10)
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
    source = write_frames(tmp_path / "frames", shot(2, 3))
    translate(TranslateConfig(str(run), str(source), str(tmp_path / "out"), progress=False))
    written, _ = read_video(tmp_path / "out")
    assert set(np.unique(written.numpy())) <= {0.0, 1.0}


def test_a_stabilize_checkpoint_is_sent_to_v2v_stabilize(tmp_path, capsys):
    run = make_run(tmp_path / "stabilize", "stabilize")
    source = write_frames(tmp_path / "frames", shot(2, 3))
    assert main(["--checkpoint", str(run), "--input", str(source), "--output", str(tmp_path / "out"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "is a stabilize checkpoint" in error and "python -m v2v.stabilize" in error
    assert not (tmp_path / "out").exists()


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


def test_a_failed_run_leaves_no_output(tmp_path, colorization_run, disk_full_after, capsys):
    source = write_frames(tmp_path / "frames", shot(1, 6))
    output = tmp_path / "out.mp4"
    disk_full_after(3)
    assert main(["--checkpoint", str(colorization_run), "--input", str(source), "--output", str(output), "--quiet"]) == 1
    assert "disk full" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # no output, no temporary file


def test_existing_output_needs_overwrite(tmp_path, colorization_run, capsys):
    source = write_frames(tmp_path / "frames", shot(1, 2))
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
    frames = shot(3, 4)
    source = write_frames(tmp_path / "frames", frames)
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


# -- output formats --------------------------------------------------------------------------------


def test_a_gif_output_is_a_gif_and_says_the_audio_is_not_kept(tmp_path, colorization_run, capsys):
    source = write_mp4_with_audio(tmp_path / "in.mp4", shot(1, 6))
    output = tmp_path / "out.gif"
    assert main(["--checkpoint", str(colorization_run), "--input", str(source), "--output", str(output), "--quiet"]) == 0
    assert output.is_file()
    with av.open(str(output)) as container:
        assert container.format.name == "gif" and not container.streams.audio
        assert len(list(container.decode(video=0))) == 6
    assert "the input's audio is not kept: .gif holds no audio" in capsys.readouterr().out


@pytest.mark.parametrize(("suffix", "muxer", "audio_codec"), [(".mkv", "matroska", "aac"), (".webm", "webm", "opus"),
                                                            (".mpg", "mpeg", "mp2"), (".avi", "avi", "mp2")])
def test_other_containers_keep_the_audio_copied_or_re_encoded(tmp_path, colorization_run, capsys, suffix, muxer, audio_codec):
    source = write_mp4_with_audio(tmp_path / "in.mp4", shot(1, 5))
    output = tmp_path / f"out{suffix}"
    assert main(["--checkpoint", str(colorization_run), "--input", str(source), "--output", str(output), "--quiet"]) == 0
    assert "audio kept" in capsys.readouterr().out
    with av.open(str(output)) as container:
        assert muxer in container.format.name.split(",")
        assert container.streams.audio[0].codec_context.name == audio_codec
    assert len(list(open_video_reader(output))) == 5


def test_an_unknown_extension_is_refused_before_any_work_and_frames_are_asked_for(tmp_path, colorization_run, capsys):
    source = write_frames(tmp_path / "frames", shot(1, 3))
    assert main(["--checkpoint", str(colorization_run), "--input", str(source), "--output", str(tmp_path / "out.xyz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --output ") and ".xyz is not a video format" in err and ".gif" in err and "without an extension" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
    # a PNG folder: a name without an extension, or --frames for any name
    assert main(["--checkpoint", str(colorization_run), "--input", str(source), "--output", str(tmp_path / "shots.v2"),
                 "--frames", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "shots.v2").iterdir()) == ["000000.png", "000001.png", "000002.png"]


# -- --score and the flow cache --------------------------------------------------------------------


def test_score_keeps_flows_in_memory_unless_a_cache_is_asked_for(tmp_path, colorization_run, capsys):
    source = write_frames(tmp_path / "frames", shot(1, 4))
    cache = Path(os.environ["V2V_FLOW_CACHE"])
    before = sorted(cache.rglob("*")) if cache.exists() else []
    common = ["--checkpoint", str(colorization_run), "--input", str(source), "--quiet", "--score"]
    assert main([*common, "--output", str(tmp_path / "a")]) == 0
    assert (sorted(cache.rglob("*")) if cache.exists() else []) == before  # nothing written by default
    assert "flow cache" not in capsys.readouterr().err
    kept = tmp_path / "kept"
    assert main([*common, "--output", str(tmp_path / "b"), "--flow-cache", str(kept)]) == 0
    assert len(list(kept.rglob("*.safetensors"))) == 6  # 3 pairs of the input and 3 of the output (tOF)
    assert f"flow cache {kept}: " in capsys.readouterr().err
    assert main([*common[:-1], "--output", str(tmp_path / "c"), "--flow-cache", "auto"]) == 2  # without --score
    assert "--flow-cache: keeps the flows of --score" in capsys.readouterr().err


# -- Ctrl-C ------------------------------------------------------------------------------------------


def test_ctrl_c_mid_run_exits_130_with_one_line_and_leaves_nothing(tmp_path, colorization_run):
    source = tmp_path / "long.mp4"
    with VideoWriter(source, fps=25) as writer:
        for frame in shot(4, 40) * 40:  # 1600 frames: seconds of work at least
            writer.write(frame)
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    output = outputs / "out.mp4"
    process = subprocess.Popen([sys.executable, "-m", "v2v.translate", "--checkpoint", str(colorization_run), "--input",
                                str(source), "--output", str(output), "--quiet", "--threads", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               # a suite started in the background (nohup, &) ignores SIGINT, and so would the child
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not any(outputs.iterdir()) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # until the writer's temporary exists: frames are being translated and written
    time.sleep(0.3)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr == "interrupted\n" and stdout == ""
    assert list(outputs.iterdir()) == []  # no output, no temporary


def test_a_frame_rate_the_format_cannot_store_is_refused_before_any_frame(tmp_path, colorization_run, capsys):
    source = write_frames(tmp_path / "frames", shot(1, 3))
    output = tmp_path / "out.mpg"
    assert main(["--checkpoint", str(colorization_run), "--input", str(source), "--output", str(output), "--fps", "7"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "stores only the frame rates" in err and "not 7 fps" in err
    assert len(err.splitlines()) == 1  # no progress bar was started
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
