"""``python -m v2v.stabilize`` on tiny generated videos: streaming equals a whole-clip run, lockstep errors,
fps and audio, scoring, checkpoints, atomic output and exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _video_fixtures import shot, write_frames, write_mp4_with_audio

import v2v.stabilize as command
import v2vcore
from v2v.data.video_io import open_video_reader, read_video
from v2v.flow import DISFlowProvider
from v2v.frames import to_uint8
from v2v.inference import translate_video
from v2v.models import read_generator
from v2v.processors import process_clip
from v2v.stabilize import StabilizeConfig, main, stabilize
from v2v.tasks import get_task

from _run_fixtures import make_run


@pytest.fixture
def pair(tmp_path) -> tuple[np.ndarray, np.ndarray, Path, Path]:
    """Two shots (the first lasts the minimum shot length) and their fresh gamma flicker, as frame folders."""
    original = np.concatenate([shot(1, 15), shot(7, 4)])
    processed = process_clip(original, "gamma", seed=0, flicker="fresh")
    return original, processed, write_frames(tmp_path / "original", original), write_frames(tmp_path / "processed", processed)


def _whole_clip_blend(original: np.ndarray, processed: np.ndarray, strength: float, cuts: list[int]) -> np.ndarray:
    """Blend written out over the whole clip at once: all flows and masks first, then the recursion."""
    flow_fwd, flow_bwd = DISFlowProvider().compute(torch.from_numpy(original).permute(0, 3, 1, 2))
    mask = v2vcore.consistency_mask(flow_fwd, flow_bwd)
    frames = torch.from_numpy(processed).permute(0, 3, 1, 2).float() / 255.0
    outputs = [frames[0]]
    for t in range(1, len(frames)):
        if t in cuts:
            outputs.append(frames[t])
            continue
        warped = v2vcore.warp(outputs[-1][None], flow_bwd[t - 1 : t])[0]
        outputs.append(torch.where(mask[t - 1], strength * warped + (1 - strength) * frames[t], frames[t]))
    return np.rint(torch.stack(outputs).clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)


def _read(path: Path) -> np.ndarray:
    return np.stack(list(open_video_reader(path)))


def test_streaming_output_equals_a_whole_clip_run(tmp_path, pair):
    original, processed, original_path, processed_path = pair
    result = stabilize(StabilizeConfig(str(original_path), str(processed_path), str(tmp_path / "out"), strength=0.7,
                                       use_flow_cache=False, progress=False))
    assert result.frames == 19 and result.cuts == [15] and result.method == "blend"
    assert np.array_equal(_read(tmp_path / "out"), _whole_clip_blend(original, processed, 0.7, cuts=[15]))


def test_strength_zero_writes_the_processed_frames(tmp_path, pair):
    _, processed, original_path, processed_path = pair
    assert main(["--input", str(original_path), "--processed", str(processed_path), "--output", str(tmp_path / "out"),
                 "--strength", "0", "--no-flow-cache", "--quiet"]) == 0
    assert np.array_equal(_read(tmp_path / "out"), processed)


def test_video_file_keeps_frame_rate_and_audio_side_by_side(tmp_path, capsys):
    original = np.stack(shot(3, 10))
    original_path = write_frames(tmp_path / "original", original)
    processed_path = write_mp4_with_audio(tmp_path / "processed.mp4", process_clip(original, "clahe", 0, "drift"), fps=10)
    output = tmp_path / "out.mp4"
    assert main(["--input", str(original_path), "--processed", str(processed_path), "--output", str(output),
                 "--side-by-side", "--no-flow-cache", "--quiet"]) == 0
    reader = open_video_reader(output)
    assert reader.fps == pytest.approx(10.0) and reader.frame_size == (32, 80)  # processed | stabilised
    assert reader.audio_stream_info is not None and len(list(reader)) == 10
    assert main(["--input", str(original_path), "--processed", str(processed_path), "--output", str(tmp_path / "x.mp4"),
                 "--fps", "12", "--quiet"]) == 2
    assert "--fps applies when --input and --processed are both frame folders" in capsys.readouterr().err


def test_score_prints_both_videos_and_the_fidelity(tmp_path, pair, capsys):
    _, _, original_path, processed_path = pair
    arguments = ["--input", str(original_path), "--processed", str(processed_path), "--no-flow-cache", "--quiet", "--score"]
    assert main([*arguments, "--output", str(tmp_path / "blended")]) == 0
    printed = capsys.readouterr().out
    assert "flows:   farneback" in printed and str(tmp_path / "blended") in printed and str(processed_path) in printed
    ratio = float(printed.split("warping error of the output: ")[1].split("x")[0])
    assert ratio < 0.6
    assert main([*arguments, "--output", str(tmp_path / "same"), "--strength", "0", "--score-protocol", "lai"]) == 0
    printed = capsys.readouterr().out
    assert "protocol lai" in printed and "warping error of the output: 1.000x" in printed and " inf  1.0000" in printed


def test_lockstep_errors_name_both_videos_and_write_nothing(tmp_path, pair, capsys):
    original, processed, original_path, _ = pair
    short = write_frames(tmp_path / "short", processed[:-1])
    small = write_frames(tmp_path / "small", processed[:, :16])
    output = tmp_path / "out.mp4"
    for other, problem in ((short, "has 18 frames but --input"), (small, "is 16x40 but --input")):
        assert main(["--input", str(original_path), "--processed", str(other), "--output", str(output), "--quiet"]) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"error: --processed {other} {problem} {original_path}") and error.count("\n") == 1
    assert not output.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["original", "processed", "short", "small"]


def test_a_video_that_ends_early_is_found_while_streaming(tmp_path, pair, monkeypatch, capsys):
    """A length a container does not state is checked by lockstep when the shorter video ends, mid-write."""
    _, processed, original_path, _ = pair
    short = write_frames(tmp_path / "short", processed[:12])
    monkeypatch.setattr(command, "check_video_pair", lambda *args, **kwargs: None)  # as if no count were stated
    output = tmp_path / "out"
    assert main(["--input", str(original_path), "--processed", str(short), "--output", str(output), "--quiet",
                 "--no-flow-cache"]) == 2
    assert capsys.readouterr().err == (f"error: --processed {short} has 12 frames but --input {original_path} has 19: "
                                       "every video must have the reference's length\n")
    assert not output.exists() and not list(tmp_path.glob(".out*"))


def test_corrupt_or_missing_input_leaves_nothing(tmp_path, pair, capsys):
    _, _, original_path, processed_path = pair
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01 not a video" * 100)
    output = tmp_path / "out.mp4"
    assert main(["--input", str(original_path), "--processed", str(corrupt), "--output", str(output), "--quiet"]) == 2
    assert "corrupt.mp4" in capsys.readouterr().err
    assert main(["--input", str(tmp_path / "nope"), "--processed", str(processed_path), "--output", str(output)]) == 2
    assert capsys.readouterr().err == f"error: --input {tmp_path / 'nope'} does not exist (expected a video file or a folder of frames)\n"
    assert not output.exists() and not list(tmp_path.glob(".out*"))


def test_a_failed_write_leaves_no_output(tmp_path, pair, disk_full_after, capsys):
    _, _, original_path, processed_path = pair
    disk_full_after(3)
    output = tmp_path / "out.mp4"
    assert main(["--input", str(original_path), "--processed", str(processed_path), "--output", str(output), "--quiet",
                 "--no-flow-cache"]) == 1
    assert "disk full" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["original", "processed"]


@pytest.mark.parametrize("arguments, message", [
    (["--method", "learned"], "--method: learned needs --checkpoint"),
    (["--strength", "1"], "--strength: must be in [0, 1)"),
    (["--score", "--score-flow", "dis"], "--score-flow: dis is also the stabiliser's --flow"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, pair, capsys, arguments, message):
    _, _, original_path, processed_path = pair
    output = tmp_path / "out"
    status = main(["--input", str(original_path), "--processed", str(processed_path), "--output", str(output),
                   "--quiet", "--no-flow-cache", *arguments])
    error = capsys.readouterr().err
    assert status == 2 and error.startswith(f"error: {message}") and error.count("\n") == 1
    assert not output.exists()


def test_a_checkpoint_of_another_task_is_refused_naming_it(tmp_path, pair, capsys):
    _, _, original_path, processed_path = pair
    run = make_run(tmp_path / "colorization-run", "colorization")
    output = tmp_path / "out"
    base = ["--input", str(original_path), "--processed", str(processed_path), "--output", str(output), "--quiet"]
    assert main([*base, "--checkpoint", str(run)]) == 2
    error = capsys.readouterr().err
    assert f"--checkpoint {run} is a checkpoint of the 'colorization' task" in error and "'stabilize' task" in error
    assert main([*base, "--checkpoint", str(run), "--method", "blend"]) == 2
    assert "--method blend takes no checkpoint" in capsys.readouterr().err
    assert not output.exists()


def test_a_learned_stabilizer_streams_what_the_generator_computes_on_the_whole_clip(tmp_path, pair):
    """--checkpoint of a stabilize run: the written frames are the generator's output on the whole
    clip of (original, processed) inputs, run shot by shot (its state dropped at the cut)."""
    original, processed, original_path, processed_path = pair
    run = make_run(tmp_path / "run", "stabilize")
    assert main(["--input", str(original_path), "--processed", str(processed_path), "--output", str(tmp_path / "out"),
                 "--checkpoint", str(run), "--device", "cpu", "--quiet", "--no-flow-cache"]) == 0
    loaded = read_generator(run)
    task = get_task("stabilize")
    model_input = task.input(torch.from_numpy(original).permute(0, 3, 1, 2), torch.from_numpy(processed).permute(0, 3, 1, 2))
    shots = [translate_video(loaded.generator, model_input[:15], torch.device("cpu")),
             translate_video(loaded.generator, model_input[15:], torch.device("cpu"))]
    expected = to_uint8(task.display(torch.cat(shots)).permute(0, 2, 3, 1).numpy())
    written = _read(tmp_path / "out")
    assert np.array_equal(written, expected)
    assert not np.array_equal(written, processed)  # the generator changes the frames: the test can fail


def test_existing_output_needs_overwrite(tmp_path, pair, capsys):
    _, _, original_path, processed_path = pair
    output = tmp_path / "out.mp4"
    output.write_bytes(b"keep me")
    base = ["--input", str(original_path), "--processed", str(processed_path), "--output", str(output), "--quiet", "--no-flow-cache"]
    assert main(base) == 2 and "--overwrite" in capsys.readouterr().err
    assert output.read_bytes() == b"keep me"
    assert main([*base, "--overwrite", "--max-frames", "3"]) == 0
    assert read_video(output)[0].shape[0] == 3


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for option in ("--input", "--processed", "--output", "--method", "--strength", "--score", "--side-by-side",
                   "--checkpoint", "--flow", "--score-flow"):
        assert option in text
