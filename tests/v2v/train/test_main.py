"""The command line: python -m v2v.train [--config] [--resume] [--dry-run] [key=value ...]."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from v2v.models import load_generator
from v2v.train.__main__ import main

REPO = Path(__file__).resolve().parents[3]


def test_dry_run_prints_the_resolved_config_and_writes_nothing(tiny_overrides, tmp_path, capsys):
    assert main(["--dry-run", *tiny_overrides, "setting=video2video+local"]) == 0
    out = capsys.readouterr().out
    printed = yaml.safe_load(out.split("---")[0])
    assert printed["setting"] == "video2video+local" and printed["model"]["gen_channels"] == 8
    assert printed["model"]["gen_depth"] == 5  # resolved from the preset
    assert "decision (1, 1)" in out and "nothing written" in out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train.stepz=1"], "train.stepz: unknown config key"),
        (["--config", "nope"], "neither a YAML file nor a shipped config"),
        (["train.steps=-1"], "train.steps: must be >= 1"),
        (["steps"], "key=value"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_a_tiny_real_run_through_the_cli(tiny_overrides, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "v2v.train", *tiny_overrides, "train.steps=3", "train.run_name=cli", "train.progress=true"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "step/s" in done.stderr or "s/step" in done.stderr  # the progress bar
    assert "validation:" in done.stdout
    run_dir = tmp_path / "runs" / "cli"
    for name in ("config.yaml", "metrics.json", "scalars.jsonl", "checkpoints/step_0000003.pt"):
        assert (run_dir / name).is_file(), name
    generator, config = load_generator(run_dir)
    assert config.train.steps == 3 and not generator.training


@pytest.mark.parametrize("config", ["paper", "paper-segmentation"])
def test_paper_configs_dry_run_on_a_davis_folder(config, tmp_path, capsys):
    """configs/paper*.yaml end to end (paper networks, DAVIS reader, DIS flow) on a tiny DAVIS folder."""
    from v2v.data import synthetic_clip, write_davis_layout

    sequences = {}
    for index, name in enumerate(["bear", "goat"]):
        clip = synthetic_clip(index, size=(40, 72), num_frames=6)
        sequences[name] = (clip["frames"], (clip["masks"] > 0.5).to(torch.uint8))
    root = write_davis_layout(tmp_path / "DAVIS", sequences, {"train": ["bear"], "val": ["goat"]})
    argv = ["--dry-run", "--config", config, f"data.root={root}", f"data.flow.cache_dir={tmp_path / 'flows'}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 training clips, 1 validation videos" in out
    assert "input (1, 5, " in out and ", 40, 72)" in out  # native size, clips of 5
    parameters = int(re.search(r"RecurrentUNet, ([\d,]+) parameters", out).group(1).replace(",", ""))
    assert 45e6 < parameters < 55e6  # the paper preset's generator


def test_help_lists_every_config_key_with_its_default_and_meaning(capsys):
    from v2v.config import run_keys

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for entry in run_keys():
        assert f"  {entry.key} = " in out, entry.key
    assert "  train.steps = 1000\n      Optimisation steps" in out  # what a bare run (the quickstart) uses
    assert "  model.preset = small\n" in out
    assert "  data.flow.cache_dtype = float32\n" in out and "``" not in out  # markup stripped


@pytest.mark.parametrize("extra", [[], ["--dry-run"]])
def test_a_missing_davis_folder_is_one_line_saying_where_to_get_it(tmp_path, extra, capsys):
    argv = [*extra, "--config", "paper", f"data.root={tmp_path / 'nowhere'}", f"train.runs_dir={tmp_path / 'runs'}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: DAVIS root folder not found")
    assert "https://davischallenge.org/davis2017/code.html" in err and "TrainVal 480p" in err
    assert "JPEGImages/480p/<seq>/*.jpg" in err and "ImageSets/2017/{train,val}.txt" in err
    assert not (tmp_path / "runs").exists()


def test_threads_is_the_train_threads_override_and_is_checked(tiny_overrides, capsys):
    assert main(["--dry-run", "--threads", "2", *tiny_overrides]) == 0
    assert yaml.safe_load(capsys.readouterr().out.split("---")[0])["train"]["threads"] == 2
    assert main(["--dry-run", "--threads", "-1", *tiny_overrides]) == 2
    assert "train.threads: must be >= 0" in capsys.readouterr().err
