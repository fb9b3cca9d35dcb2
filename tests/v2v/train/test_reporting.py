"""Image strips, validation pictures, the loss plot, the log, sample videos and JSON written for people to look at."""

import json

import av
import cv2
import numpy as np
import pytest
import torch

from v2v.train.reporting import (
    RunReporter,
    downscale,
    image_strip,
    plot_scalars,
    side_by_side,
    to_rgb,
    validation_strip,
    write_json,
    write_png,
    write_video,
)


def test_image_strip_rows_and_colour_conversion():
    gray = torch.full((4, 1, 6, 5), -1.0)
    rgb = torch.ones(4, 3, 6, 5)
    strip = image_strip(gray, rgb, gray)
    assert strip.shape == (3, 18, 20)
    assert strip[:, :6].max() == 0 and strip[:, 6:12].min() == 1
    with pytest.raises(ValueError, match="1 or 3 channels"):
        to_rgb(torch.zeros(1, 2, 3, 3))


def test_sample_video_is_written_atomically_and_readable(tmp_path):
    frames = side_by_side(torch.full((5, 1, 15, 9), -1.0), torch.ones(5, 3, 15, 9))
    assert frames.shape == (5, 15, 18, 3) and frames.dtype == np.uint8
    path = tmp_path / "sample.mp4"
    write_video(path, frames)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 5 and decoded[0].shape == (15, 18, 3)
    assert abs(int(decoded[2][5, 15].mean()) - 255) < 8 and int(decoded[2][5, 2].max()) < 8
    assert [p.name for p in tmp_path.iterdir()] == ["sample.mp4"]
    with pytest.raises(ValueError, match="uint8"):
        write_video(path, frames.astype(np.float32))


def test_json_and_scalars(tmp_path):
    write_json(tmp_path / "m.json", {"a": 1.5})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1.5}
    reporter = RunReporter(tmp_path)
    for step in (1, 2, 3):
        reporter.scalars(step, {"loss/x": float(step)})
    reporter.strip("s", 3, torch.zeros(2, 1, 4, 4))
    reporter.close()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    # Resuming from step 1 drops what a killed run logged after its checkpoint.
    RunReporter(tmp_path, purge_step=2).close()
    lines = [json.loads(line) for line in (tmp_path / "scalars.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1]


def test_validation_strip_rows_downscaled_with_residual_mask_and_flow():
    import v2vcore

    frames, height, width = 4, 48, 80
    video = torch.rand(frames, 1, height, width) * 2 - 1
    output = torch.rand(frames, 3, height, width) * 2 - 1
    target = torch.rand(frames, 3, height, width) * 2 - 1
    flow_fwd = torch.zeros(frames - 1, 2, height, width)
    flow_bwd = torch.zeros(frames - 1, 2, height, width)
    flow_bwd[:, 0] = -2.0  # a leftward shift: the columns it takes from outside the frame fail the check
    flow_fwd[:, 0] = 2.0
    strip = validation_strip(video, output, target, flow_fwd, flow_bwd, height=24)
    assert strip.shape == (3, 6 * 24, frames * 40)  # six rows, frames halved to the stated height
    rows = strip.reshape(3, 6, 24, frames, 40)
    _, mask = v2vcore.residual_error(((output + 1) / 2).unsqueeze(0), flow_fwd.unsqueeze(0), flow_bwd.unsqueeze(0), return_mask=True)
    expected_mask = torch.nn.functional.interpolate(mask[0].float(), size=(24, 40), mode="area")[:, 0]
    assert torch.allclose(rows[0, 4, :, 1:].permute(1, 0, 2), expected_mask)  # the consistency row
    assert torch.all(rows[:, 3:, :, 0] == 0.5)  # frame 0 has no pair: gray
    assert rows[:, 3, :, 1:].std() > 0  # the residual heat map varies with the random output
    assert torch.allclose(rows[:, 5, :, 1:], rows[:, 5, :1, 1:2].expand(-1, 24, -1, 40), atol=1e-6)  # one uniform flow colour
    with pytest.raises(ValueError, match="T frames and T-1 flows"):
        validation_strip(video, output, target, flow_fwd[:1], flow_bwd[:1], height=24)


def test_downscale_keeps_small_frames_and_aspect_ratio():
    frames = torch.rand(2, 3, 480, 854)
    assert downscale(frames, 128).shape == (2, 3, 128, 228)
    small = torch.rand(2, 3, 64, 64)
    assert downscale(small, 128) is small
    assert image_strip(frames[:, :1] * 2 - 1, height=120).shape == (3, 120, 2 * 214)


def test_png_loss_plot_and_log(tmp_path):
    reporter = RunReporter(tmp_path)
    for step in range(1, 20):
        reporter.scalars(step, {"loss/spatial": 1.0 / step, "loss/d": 0.69})
    reporter.scalars(10, {"val/psnr": float("nan")})
    reporter.log("hello")
    reporter.describe("name: x\n", {"task": "colorization"}, ["val/psnr"])
    reporter.close()
    assert (tmp_path / "train.log").read_text().endswith(" hello\n")
    plot_scalars(tmp_path / "scalars.jsonl", tmp_path / "loss.png", ["loss/spatial", "loss/d", "val/psnr", "missing"])
    image = cv2.cvtColor(cv2.imread(str(tmp_path / "loss.png")), cv2.COLOR_BGR2RGB).astype(int)
    # Two panels side by side (val/psnr has only NaN, "missing" nothing), each with its curve in
    # matplotlib's first colour: a blank plot, or one without either curve, fails.
    curve = np.abs(image - (31, 119, 180)).sum(axis=2) < 40
    half = image.shape[1] // 2
    assert curve[:, :half].sum() > 50 and curve[:, half:].sum() > 50
    assert image.shape[0] < image.shape[1]  # one row of panels
    plot_scalars(tmp_path / "scalars.jsonl", tmp_path / "none.png", ["missing"])
    assert not (tmp_path / "none.png").exists()  # nothing to draw: nothing written
    write_png(tmp_path / "img" / "x.png", torch.ones(3, 5, 7))
    assert cv2.imread(str(tmp_path / "img" / "x.png")).shape == (5, 7, 3)
