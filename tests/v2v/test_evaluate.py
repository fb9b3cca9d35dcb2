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
from v2v.evaluate import EvaluateConfig, evaluate, main, score_video
from v2v.models import load_generator

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
        assert row["J_mean"] == pytest.approx(np.mean(metrics.region_similarity(predicted, truth)), abs=1e-6)
        assert row["F_mean"] == pytest.approx(np.mean(metrics.contour_accuracy(predicted, truth)), abs=1e-6)
        expected_t = metrics.temporal_stability(predicted)
        assert (math.isnan(row["T"]) and math.isnan(expected_t)) or row["T"] == pytest.approx(expected_t, abs=1e-6)
        assert row["warping_error"] == pytest.approx(
            metrics.warping_error((output + 1) / 2, item["flow_fwd"], item["flow_bwd"]), rel=1e-4, abs=1e-7)
        assert row["tOF"] >= 0
    assert report["mean"]["J_mean"] == pytest.approx(np.mean([row["J_mean"] for row in rows]))
    table = (tmp_path / "eval" / "eval.md").read_text()
    assert "| sequence | frames | J_mean" in table and "**mean**" in table
    assert table.count("\n| synthetic") == 2


def test_colorization_reports_psnr(tmp_path):
    run = make_run(tmp_path / "color", "colorization")
    report = evaluate(EvaluateConfig(str(run), progress=False, max_videos=1, max_frames=3, tof_flow="none"))
    (row,) = report["per_sequence"]
    assert row["frames"] == 3 and "PSNR" in row and "tOF" not in row and "J_mean" not in row
    (item, output), = _outputs(run)[0][:1]
    assert row["PSNR"] == pytest.approx(metrics.psnr((output[:3] + 1) / 2, (item["target"][:3] + 1) / 2), abs=1e-5)
    assert (run / "eval" / "eval.json").is_file()  # default output folder


def test_superres_crop_border_changes_psnr():
    output = torch.rand(3, 3, 16, 16) * 2 - 1
    target = output.clone()
    target[:, :, 0, :] = -1.0  # differences on the first row only
    flows = torch.zeros(2, 2, 16, 16)
    whole = score_video("superres", output, target, flows, flows, tof_flow=None)
    cropped = score_video("superres", output, target, flows, flows, tof_flow=None, psnr_crop_border=1)
    assert math.isfinite(whole["PSNR"]) and cropped["PSNR"] == math.inf
    assert score_video("colorization", output, target, flows, flows, tof_flow=None, psnr_crop_border=1)["PSNR"] == whole["PSNR"]


def test_davis_folder_and_protocol(tmp_path, segmentation_run):
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.random((4, 3, 32, 40))).float()
    labels = torch.zeros(4, 1, 32, 40, dtype=torch.uint8)
    labels[:, :, 8:24, 10:30] = 1
    labels[:, :, 2:6, 2:6] = 2  # a second object joins the foreground
    root = write_davis_layout(tmp_path / "DAVIS", {"cows": (frames, labels)}, {"val": ["cows"]})
    code = main(["--checkpoint", str(segmentation_run), "--data", "davis", "--davis-root", str(root), "--split", "val",
                 "--frame-size", "32", "40", "--t-protocol", "davis", "--output-dir", str(tmp_path / "eval"), "--quiet",
                 "--tof-flow", "none"])
    assert code == 0
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    (row,) = report["per_sequence"]
    assert row["name"] == "cows" and row["frames"] == 4
    assert report["dataset"]["source"] == "davis" and report["options"]["t_protocol"] == "davis"


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--checkpoint", str(tmp_path), "--data", "davis"]) == 2
    assert "davis_root" in capsys.readouterr().err
    with pytest.raises(ValueError, match="t_protocol"):
        EvaluateConfig("x", t_protocol="other")
