"""Image strips, sample videos and JSON written for people to look at."""

import json

import av
import numpy as np
import pytest
import torch

from v2v.train.reporting import RunReporter, image_strip, side_by_side, to_rgb, write_json, write_video


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
