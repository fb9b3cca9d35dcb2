"""benchmarks/stabilize_eval.py on a tiny synthetic clip: the rows, the methods it plugs in, the files it writes."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "v2v"))  # the tests' run fixture

import stabilize_eval  # noqa: E402

from _run_fixtures import make_run  # noqa: E402

SCORINGS = {key: stabilize_eval.SCORINGS[key] for key in ("v2v-farneback", "v2v-dis-own")}


@pytest.fixture(scope="module")
def clips():
    return stabilize_eval.synthetic_clips(1, (32, 40), 6)


def test_rows_cover_every_video_and_callables_plug_in(clips):
    calls = []

    def returns_the_original(original, processed):
        calls.append(processed.shape)
        return original.copy()

    methods = {**stabilize_eval.blend_methods([0.0, 0.8], stabilize_eval.make_flow_provider("dis"), None),
               "original": returns_the_original}
    result = stabilize_eval.evaluate(methods, clips, processors=["gamma"], flickers=["fresh"], seeds=[0], scorings=SCORINGS,
                                     strip=(clips[0].name, "gamma", "fresh", 0))
    rows = {row["method"]: row for row in result["rows"]}
    assert list(rows) == ["processed", "flicker-free reference", "blend a=0", "blend a=0.8", "original"]
    assert calls == [(6, 32, 40, 3)]
    assert rows["processed"]["ratio"]["v2v-farneback"] == 1.0 and rows["processed"]["psnr"] == math.inf
    assert rows["blend a=0"]["warping_error"] == rows["processed"]["warping_error"] and rows["blend a=0"]["ssim"] == 1.0
    for method in ("blend a=0.8", "flicker-free reference", "original"):
        assert rows[method]["ratio"]["v2v-farneback"] < 0.7 and math.isfinite(rows[method]["psnr"])
    assert 0 < rows["blend a=0.8"]["ssim"] < 1
    assert set(result["strip"]["per_frame"]["blend a=0.8"]) == set(SCORINGS)
    summary = stabilize_eval.summarize(result["rows"], list(SCORINGS))
    assert {entry["flicker"] for entry in summary} == {"fresh", "both"} and len(summary) == 2 * len(rows)


def test_a_run_folder_that_is_not_a_stabiliser_is_refused(clips, tmp_path):
    run = make_run(tmp_path / "run", "colorization")
    with pytest.raises(ValueError, match="'colorization' task"):
        stabilize_eval.evaluate({"learned": run}, clips, processors=["gamma"], flickers=["fresh"], seeds=[0], scorings=SCORINGS)


def test_main_writes_the_report_the_json_and_the_figures(tmp_path):
    document = stabilize_eval.main([
        "--no-real", "--synthetic", "1", "--synthetic-size", "32", "40", "--synthetic-frames", "6", "--seeds", "0", "1",
        "--processors", "clahe", "--flicker", "fresh", "--strengths", "0", "0.8", "--scorings", *SCORINGS,
        "--output", str(tmp_path / "stabilize"), "--figures", str(tmp_path), "--flow-cache", "none",
        "--cost-repeats", "1", "--cost-sizes", "24x32",
    ])
    written = json.loads((tmp_path / "stabilize.json").read_text())
    assert written["commit"] and written["machine"] and len(written["rows"]) == len(document["rows"]) == 2 * 4
    assert written["rows"][0]["psnr"] is None  # the processed video against itself: inf, null in strict JSON
    assert set(written["costs"]["milliseconds"]) >= {"stylization", "clahe", "blend (DIS flows + step)"}
    report = (tmp_path / "stabilize.md").read_text()
    assert "| blend a=0.8 |" in report and "### synthetic, clahe" in report and "## Cost per frame" in report
    for name in ("stabilize-fidelity.png", "stabilize-strip.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.isfinite([entry["ratio"]["v2v-farneback"] for entry in written["summary"]]).all()


def test_replicas_of_one_method_are_rows_of_that_method_with_their_spread(clips):
    def scaled(factor):
        return lambda original, processed: (processed.astype(np.float32) * factor).round().clip(0, 255).astype(np.uint8)

    result = stabilize_eval.evaluate({"dimmer": [scaled(0.9), scaled(0.5)]}, clips, processors=["gamma"], flickers=["fresh"],
                                     seeds=[0], scorings=SCORINGS, strip=(clips[0].name, "gamma", "fresh", 0))
    dimmer = [row for row in result["rows"] if row["method"] == "dimmer"]
    assert [row["replica"] for row in dimmer] == [0, 1] and dimmer[0]["psnr"] > dimmer[1]["psnr"]
    assert set(result["strip"]["videos"]) == {"original", "processed", "flicker-free reference", "dimmer"}
    (entry,) = [e for e in stabilize_eval.summarize(result["rows"], list(SCORINGS)) if e["method"] == "dimmer" and e["flicker"] == "both"]
    assert entry["replicas"] == 2 and entry["psnr"] == pytest.approx((dimmer[0]["psnr"] + dimmer[1]["psnr"]) / 2)
    assert entry["psnr_replica_std"] == pytest.approx(abs(dimmer[0]["psnr"] - dimmer[1]["psnr"]) / 2 ** 0.5)
    assert stabilize_eval._parse_method("learned=a,b") == ("learned", ["a", "b"])
    with pytest.raises(Exception, match="NAME=RUN_FOLDER"):
        stabilize_eval._parse_method("learned=")
    document = {"summary": stabilize_eval.summarize(result["rows"], list(SCORINGS)), "scorings": SCORINGS, "rows": result["rows"],
                "settings": {"processors": ["gamma"], "flickers": ["fresh"], "seeds": [0]}, "description": "d", "command": "c",
                "commit": "x", "machine": "m", "date": "today", "clips": [{"name": clips[0].name, "source": "synthetic",
                "frames": 6, "height": 32, "width": 40}], "costs": {"repeats": 1, "milliseconds": {"gamma": {"24x32": 0.1}}},
                "figures": {"fidelity": "f.png", "strip": "s.png"}}
    report = stabilize_eval.markdown_report(document)
    assert f"| dimmer (2 seeds) | {entry['ratio']['v2v-farneback']:.3f} ± {entry['ratio_replica_std']:.3f} |" in report
