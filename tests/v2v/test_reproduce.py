"""Tests of ``python -m v2v.reproduce``: training and scoring a grid, resumability, real footage, the command line."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import yaml

from v2v.grid import BUDGETS, Cell, plan_cells
from v2v.reproduce import main, reproduce

from _grid_fixtures import TINY


def _real_clip(folder):
    """A 6-frame RGB frame folder standing in for real footage."""
    import cv2

    from v2v.data import synthetic_clip

    folder.mkdir()
    frames = (synthetic_clip(7, size=(40, 48), num_frames=6)["frames"] * 255).round().byte()
    for index, frame in enumerate(frames.permute(0, 2, 3, 1).numpy()):
        cv2.imwrite(str(folder / f"{index:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def test_grid_runs_writes_the_table_and_a_rerun_skips_complete_cells(tmp_path):
    # Every task's cells start from their own config (4 steps), not from base_config.
    task_config = tmp_path / "tiny.yaml"
    task_config.write_text("base: quickstart\ntrain:\n  steps: 4\n")
    tasks = ("colorization", "superres", "segmentation")
    budget = dataclasses.replace(TINY, tradeoff_weights=(), tasks=tasks, task_configs=tuple((t, str(task_config)) for t in tasks),
                                 overrides=tuple(o for o in TINY.overrides if not o.startswith("train.steps=")))
    clip = _real_clip(tmp_path / "clip")
    report = reproduce(budget, tmp_path / "grid", jobs=0, real_clips=[clip], command="test", progress=False)
    real = report["real_footage"]
    # Every task's image2image and default cells, in the table's task order.
    assert [(e["task"], e["setting"], e["seed"]) for e in real] == [
        (task, setting, 0) for task in tasks for setting in ("image2image", "video2video+local+global")]
    for entry in real:
        assert entry["frames"] == 6 and entry["clip"] == str(clip)
        assert {"warping_error", "warping_error_l1", "tOF", "flicker"} <= set(entry["metrics"])
        # PSNR only where the target is the clip itself; segmentation has no ground truth here.
        assert ("psnr" in entry["metrics"]) == (entry["task"] != "segmentation")
        assert entry["metrics"]["warping_error"] > 0 and entry["reference"]["warping_error"] >= 0
    table = (tmp_path / "grid" / "table1-tiny.md").read_text()
    for task in tasks:
        assert f"## Real footage ({task}, 1 clips)" in table
    segmentation_section = table[table.index("## Real footage (segmentation"):]
    assert "| setting | warping_error |" in segmentation_section and "input as the output" not in segmentation_section
    # The input taken as the output: the clip's 8-bit gray version (OpenCV's BT.601 luma as oracle).
    import cv2

    from v2v.data.video_io import read_video

    original, _ = read_video(clip)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (original * 255).round().byte().permute(0, 2, 3, 1).numpy()])
    mse = ((torch.from_numpy(gray).float()[:, None] / 255 - original) ** 2).mean(dim=(1, 2, 3))
    expected = float((10 * torch.log10(1 / mse)).mean())
    baselines = report["real_footage_input_psnr"]
    assert set(baselines) == {"colorization", "superres"}
    assert baselines["colorization"][str(clip)] == pytest.approx(expected, abs=0.05)
    # Super-resolution's baseline is the bicubic /2 then x2 clip: colour kept, far above gray.
    assert baselines["superres"][str(clip)] > baselines["colorization"][str(clip)] + 5
    for task in ("colorization", "superres"):
        section = table[table.index(f"## Real footage ({task}"):table.index("## Real footage (segmentation")]
        assert f"| *the input as the output* | {baselines[task][str(clip)]:.2f} |" in section
    tmp_path = tmp_path / "grid"
    assert [(c["task"], c["setting"], c["seed"]) for c in report["cells"]] == [
        (task, setting, 0) for task in tasks for setting in ("image2image", "video2video+local+global")]
    for entry in report["cells"]:
        assert {"warping_error", "tOF"} <= set(entry["metrics"])
        assert ("J" if entry["task"] == "segmentation" else "psnr") in entry["metrics"]
    written = json.loads((tmp_path / "table1-tiny.json").read_text())
    assert written["cells"] == report["cells"]
    for key in ("command", "commit", "machine", "budget", "seeds", "cells"):
        assert key in written
    assert "## colorization (4 steps)" in (tmp_path / "table1-tiny.md").read_text()
    assert written["task_configs"] == {task: str(task_config) for task in tasks}
    assert {entry["steps"] for entry in report["cells"]} == {4}

    complete = tmp_path / "cells" / Cell("colorization", "image2image", 0).name / "cell.json"
    interrupted = tmp_path / "cells" / Cell("colorization", "video2video+local+global", 0).name
    (interrupted / "cell.json").unlink()
    (interrupted / "leftover").write_text("from the interrupted attempt")
    stamp = complete.stat().st_mtime_ns
    again = reproduce(budget, tmp_path, jobs=0, real_clips=[clip], command="test", progress=False)
    assert complete.stat().st_mtime_ns == stamp  # skipped, not retrained
    assert not (interrupted / "leftover").exists()  # restarted from scratch
    assert (interrupted / "cell.json").is_file()
    assert again["cells"][0] == report["cells"][0]
    assert again["real_footage"][0] == real[0]  # read back, not translated again (segmentation's image2image)
    assert (interrupted / "real" / "clip.json").is_file()  # the retrained cell is scored again

    # A changed default weight: the image2image cell does not depend on it and is reused; the
    # temporal cell was trained under the old weight and is refused, not silently mixed in.
    changed = dataclasses.replace(budget, overrides=budget.overrides + ("loss.temporal_weight=7",))
    with pytest.raises(ValueError, match=r"video2video_local_global-s0 was trained with another config "
                       r"\(loss.temporal_weight differs .*delete that folder"):
        reproduce(changed, tmp_path, jobs=0, command="test", progress=False)
    assert complete.stat().st_mtime_ns == stamp and (interrupted / "cell.json").is_file()
    critic = dataclasses.replace(budget, overrides=budget.overrides + ("loss.temporal_gan_weight=0.5",))
    with pytest.raises(ValueError, match=r"local_global-s0 was trained with another config \(loss.temporal_gan_weight differs"):
        reproduce(critic, tmp_path, jobs=0, command="test", progress=False)
    assert complete.stat().st_mtime_ns == stamp

    # Cells written before data.synthetic.max_background_match and loss.temporal_gan_weight existed
    # kept every object and averaged the critic's decisions, as the defaults do: both are reused.
    for cell_dir in (complete.parent, interrupted):
        stored = yaml.safe_load((cell_dir / "run" / "config.yaml").read_text())
        del stored["data"]["synthetic"]["max_background_match"]
        del stored["loss"]["temporal_gan_weight"]
        (cell_dir / "run" / "config.yaml").write_text(yaml.safe_dump(stored))
    assert reproduce(budget, tmp_path, jobs=0, command="test", progress=False)["cells"] == again["cells"]
    assert complete.stat().st_mtime_ns == stamp

    # Cells written before model.temporal_channel_norm existed had a normalised temporal channel
    # (model.norm): the temporal cell is refused, the image2image cell (no temporal channel) reused.
    for cell_dir in (complete.parent, interrupted):
        stored = yaml.safe_load((cell_dir / "run" / "config.yaml").read_text())
        del stored["model"]["temporal_channel_norm"]
        (cell_dir / "run" / "config.yaml").write_text(yaml.safe_dump(stored))
    with pytest.raises(ValueError, match=r"local_global-s0 was trained with another config \(model.temporal_channel_norm differs"):
        reproduce(budget, tmp_path, jobs=0, command="test", progress=False)
    assert complete.stat().st_mtime_ns == stamp


def test_a_missing_real_clip_fails_before_any_training(tmp_path):
    with pytest.raises(FileNotFoundError, match="--real-video .*missing.mp4 does not exist"):
        reproduce(TINY, tmp_path / "grid", jobs=0, real_clips=[tmp_path / "missing.mp4"], progress=False)
    assert not (tmp_path / "grid").exists()


def test_bad_options_exit_2_without_writing(tmp_path, capsys):
    assert main(["--budget", "smoke", "--jobs", "-1", "--output", str(tmp_path / "a")]) == 2
    assert main(["--budget", "smoke", "--data", "davis", str(tmp_path / "missing"), "--output", str(tmp_path / "b")]) == 2
    assert main(["--budget", "smoke", "--data", "kitti", str(tmp_path), "--output", str(tmp_path / "c")]) == 2
    assert not any(tmp_path.iterdir())
    err = capsys.readouterr().err
    assert "--jobs" in err and "--data: davis" in err and "--data: takes 'davis PATH' or 'videos PATH'" in err


@pytest.mark.slow
def test_smoke_budget_end_to_end_with_figures(tmp_path):
    assert main(["--budget", "smoke", "--output", str(tmp_path), "--jobs", "2", "--figures", "--quiet"]) == 0
    report = json.loads((tmp_path / "table1-smoke.json").read_text())
    assert len(report["cells"]) == len(plan_cells(BUDGETS["smoke"]))
    for name in ("strip-colorization.png", "warping-error-segmentation.png", "tradeoff.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 1000


def test_grid_on_a_davis_folder(tmp_path):
    import torch

    from v2v.data import synthetic_clip, write_davis_layout

    sequences = {}
    for index, name in enumerate(["bear", "goat"]):
        clip = synthetic_clip(index, size=(32, 40), num_frames=6)
        sequences[name] = (clip["frames"], (clip["masks"] > 0.5).to(torch.uint8))
    root = write_davis_layout(tmp_path / "DAVIS", sequences, {"train": ["bear"], "val": ["goat"]})
    budget = dataclasses.replace(
        TINY, settings=("image2image",), tradeoff_task=None,
        overrides=TINY.overrides + (f"data.flow.cache_dir={tmp_path / 'flows'}",),
    )
    report = reproduce(budget, tmp_path / "grid", jobs=0, data=("davis", str(root)), progress=False)
    assert report["data"] == f"davis:{root}"
    (entry,) = report["cells"]
    assert entry["metrics"]["frames"] == 6.0  # the val sequence, whole
    assert (tmp_path / "grid" / "cells" / Cell("colorization", "image2image", 0).name / "cell.json").is_file()


def test_grid_on_a_videos_folder(tmp_path):
    """`--data videos DIR`: cells train on windows of the train videos and are scored on every val shot."""
    from v2v.data.video_writer import VideoWriter

    root = tmp_path / "corpus"
    for split, seeds in (("train", (0, 1)), ("val", (2,))):
        (root / split).mkdir(parents=True)
        for seed in seeds:
            clip = synthetic_frames(seed)
            with VideoWriter(root / split / f"clip{seed}.mp4", fps=25) as writer:
                for frame in clip:
                    writer.write(frame)
    budget = dataclasses.replace(
        TINY, settings=("image2image",), tradeoff_task=None, data_source="videos", base_config="real-colorization",
        overrides=("train.steps=2", "train.num_workers=0", "model.gen_depth=3", "data.crop_size=[32,32]",
                   f"data.materialize_dir={tmp_path / 'store'}", f"data.flow.cache_dir={tmp_path / 'flows'}"),
    )
    report = reproduce(budget, tmp_path / "grid", jobs=0, data=("videos", str(root)), progress=False)
    (entry,) = report["cells"]
    assert report["data"] == f"videos:{root}" and entry["metrics"]["frames"] == 12.0  # the val video, whole
    assert "psnr" in entry["metrics"] and report["input_psnr"]["colorization"] == entry["metrics"]["psnr_input"]
    with pytest.raises(ValueError, match="pass --data videos PATH"):
        reproduce(budget, tmp_path / "grid", jobs=0, progress=False)


def synthetic_frames(seed: int, frames: int = 12) -> list:
    """uint8 RGB frames of a synthetic clip (48x64), standing in for a real video."""
    from v2v.data import synthetic_clip
    from v2v.frames import to_uint8

    return list(to_uint8(synthetic_clip(seed, size=(48, 64), num_frames=frames)["frames"].permute(0, 2, 3, 1).numpy()))


def test_settings_narrow_the_budget_in_table_order():
    from v2v.reproduce import ReproduceConfig

    options = ReproduceConfig(data=("videos", "."), settings=("video2video+local+global", "image2image"))
    budget = options.grid()
    assert budget.name == "real" and budget.settings == ("image2image", "video2video+local+global")
    assert {cell.setting for cell in plan_cells(budget)} == set(budget.settings)
    assert len(plan_cells(budget)) == 2 * 2 * 3  # two tasks, two settings, three seeds
    assert ReproduceConfig().grid() is BUDGETS["cpu"]


def test_an_unknown_setting_exits_2_naming_the_choices(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--budget", "smoke", "--settings", "video2video+global", "--output", str(tmp_path / "a")])
    assert stop.value.code == 2 and "invalid choice: 'video2video+global'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
