"""``python -m v2v.evaluate`` on the bundled synthetic set and a tiny DAVIS folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from v2v import metrics
from v2v.data import build_dataset
from v2v.data.davis import write_davis_layout
from v2v.evaluate import EvaluateConfig, evaluate, main
from v2v.models import load_generator
from v2v.tasks import get_task

from _run_fixtures import make_run


@pytest.fixture(scope="module")
def segmentation_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "segmentation", "segmentation")


def _outputs(run: Path):
    """Independently: whole-clip forward passes over the run's test set."""
    generator, config = load_generator(run)
    dataset = build_dataset(config.data, "test", config.task)
    with torch.no_grad():
        return [(item, generator(item["input"].unsqueeze(0))[0]) for item in dataset], config


def test_segmentation_report_matches_the_metrics(tmp_path, segmentation_run):
    report = evaluate(EvaluateConfig(str(segmentation_run), output_dir=str(tmp_path / "eval"), progress=False))
    on_disk = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert on_disk["task"] == "segmentation" and on_disk["step"] == 1
    rows = report["per_sequence"]
    assert len(rows) == 2 and all(row["frames"] == 5 for row in rows)
    for (item, output), row in zip(*[_outputs(segmentation_run)[0], rows]):
        predicted, truth = (output[:, 0] > 0).numpy(), (item["target"][:, 0] > 0).numpy()
        assert row["J"] == pytest.approx(np.mean(metrics.region_similarity(predicted, truth)), abs=1e-6)
        assert row["F"] == pytest.approx(np.mean(metrics.contour_accuracy(predicted, truth)), abs=1e-6)
        expected_t = metrics.temporal_stability(predicted)
        assert (math.isnan(row["T"]) and math.isnan(expected_t)) or row["T"] == pytest.approx(expected_t, abs=1e-6)
        assert row["warping_error"] == pytest.approx(
            metrics.warping_error((output + 1) / 2, item["flow_fwd"], item["flow_bwd"]), rel=1e-4, abs=1e-7)
        assert row["tOF"] >= 0
    assert report["mean"]["J"] == pytest.approx(np.mean([row["J"] for row in rows]))
    assert set(rows[0]) == {"name", "frames", *get_task("segmentation").metrics}  # the keys of metrics.json
    table = (tmp_path / "eval" / "eval.md").read_text()
    assert "| sequence | frames | J | J_recall | J_decay | F |" in table and "**mean**" in table
    assert table.count("\n| synthetic") == 2


def test_colorization_reports_psnr(tmp_path):
    run = make_run(tmp_path / "color", "colorization")
    report = evaluate(EvaluateConfig(str(run), progress=False, max_videos=1, max_frames=3, tof_flow="none"))
    (row,) = report["per_sequence"]
    assert row["frames"] == 3 and "psnr" in row and "psnr_input" in row and "tOF" not in row and "J" not in row
    (item, output), = _outputs(run)[0][:1]
    assert get_task("colorization").output_base is not None and output.abs().max() > 1  # a residual generator's overshoot
    assert row["psnr"] == pytest.approx(metrics.psnr(((output[:3] + 1) / 2).clamp(0, 1), (item["target"][:3] + 1) / 2), abs=1e-5)
    assert report["dataset"]["split"] == "test"  # what the synthetic set evaluates on
    assert (run / "eval-synthetic-test" / "eval.json").is_file()  # default output folder
    evaluate(EvaluateConfig(str(run), progress=False, max_videos=1, max_frames=2, tof_flow="none", split="val"))
    assert (run / "eval-synthetic-val" / "eval.json").is_file() and (run / "eval-synthetic-test" / "eval.json").is_file()


def test_stabilize_scores_fidelity_to_the_processed_frames(tmp_path):
    run = make_run(tmp_path / "stabilize", "stabilize", processors=("brightness", "hue"))
    report = evaluate(EvaluateConfig(str(run), progress=False, max_videos=2, max_frames=3, tof_flow="none"))
    first, second = report["per_sequence"]
    assert "psnr" in first and "ssim" in first and "psnr_input" not in first and "warping_error" in first
    outputs, _ = _outputs(run)
    (item, output), (other, _) = outputs
    assert item["processor"] == "brightness" and other["processor"] == "hue"  # drawn by index: the same every time
    expected = metrics.psnr(((output[:3] + 1) / 2).clamp(0, 1), (item["target"][:3] + 1) / 2)
    assert first["psnr"] == pytest.approx(expected, abs=1e-5)


def test_davis_folder_and_protocol(tmp_path, segmentation_run):
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.random((4, 3, 32, 40))).float()
    labels = torch.zeros(4, 1, 32, 40, dtype=torch.uint8)
    labels[:, :, 8:24, 10:30] = 1
    labels[:, :, 2:6, 2:6] = 2  # a second object joins the foreground
    root = write_davis_layout(tmp_path / "DAVIS", {"cows": (frames, labels)}, {"val": ["cows"]})
    code = main(["--checkpoint", str(segmentation_run), "--data", "davis", "--davis-root", str(root),
                 "--frame-size", "32", "40", "--t-protocol", "davis", "--output-dir", str(tmp_path / "eval"), "--quiet",
                 "--tof-flow", "none"])
    assert code == 0
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    (row,) = report["per_sequence"]
    assert row["name"] == "cows" and row["frames"] == 4
    assert report["dataset"]["source"] == "davis" and report["options"]["t_protocol"] == "davis"
    assert report["dataset"]["split"] == "val"  # DAVIS's default split


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--checkpoint", str(tmp_path), "--data", "davis"]) == 2
    assert "--davis-root" in capsys.readouterr().err
    # tOF with RAFT names the missing weights file before the checkpoint is even read.
    assert main(["--checkpoint", str(tmp_path / "missing"), "--tof-flow", "raft"]) == 2
    assert "--tof-raft-weights" in capsys.readouterr().err
    assert main(["--checkpoint", str(tmp_path / "missing"), "--tof-flow", "raft", "--tof-raft-weights", str(tmp_path / "w.pt")]) == 2
    error = capsys.readouterr().err
    assert "w.pt" in error or "torchvision" in error  # the file, or (without the raft extra) the missing torchvision
    assert main(["--checkpoint", str(tmp_path / "missing"), "--tof-raft-weights", str(tmp_path / "w.pt")]) == 2
    assert "not 'raft'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(tmp_path / "missing"), "--tof-flow", "flownet2"])
    assert "--tof-flow: invalid choice: 'flownet2'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="t_protocol"):
        EvaluateConfig("x", t_protocol="other")
    with pytest.raises(ValueError, match="workers: must be >= 0"):
        EvaluateConfig("x", workers=-1)


def test_synthetic_data_for_a_run_trained_at_native_size_asks_for_a_frame_size():
    from v2v.config import load_config
    from v2v.evaluate import _dataset

    davis_run = load_config("paper", ["data.root=/nowhere"])  # DAVIS at native size: data.frame_size null
    assert davis_run.data.frame_size is None
    with pytest.raises(ValueError, match="--data synthetic: the run's data.frame_size is null.*--frame-size H W"):
        _dataset(EvaluateConfig("x", data="synthetic"), davis_run)
    dataset, described = _dataset(EvaluateConfig("x", data="synthetic", frame_size=(32, 32)), davis_run)
    assert described["frame_size"] == (32, 32) and len(dataset) > 0


def test_t_from_a_worker_pool_is_identical(tmp_path, segmentation_run, monkeypatch):
    from v2v.metrics import stability

    monkeypatch.setattr(stability, "PAIRS_PER_TASK", 1)  # every pair its own task, so the pool is used
    options = dict(progress=False, tof_flow="none")
    serial = evaluate(EvaluateConfig(str(segmentation_run), output_dir=str(tmp_path / "serial"), **options))
    pooled = evaluate(EvaluateConfig(str(segmentation_run), output_dir=str(tmp_path / "pooled"), workers=2, **options))
    assert pooled["options"]["workers"] == 2
    for a, b in zip(serial["per_sequence"], pooled["per_sequence"]):
        assert a == b or all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a if k != "name")
