"""--resume continues a run exactly: a run killed with SIGKILL and resumed ends with the same
parameters, optimiser states and step as an uninterrupted run; incompatible resumes are refused."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from v2v.config import ConfigError
from v2v.models import list_checkpoints, read_checkpoint
from v2v.train.__main__ import main
from v2v.train.loop import train

REPO = Path(__file__).resolve().parents[3]


def cli(*args, **popen):
    return subprocess.Popen([sys.executable, "-m", "v2v.train", *args], cwd=REPO, **popen)


def assert_same_state(a, b):
    for key in ("generator", "discriminator"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs"
    for key in ("optimizer_generator", "optimizer_discriminator"):
        for index, state in a[key]["state"].items():
            for name, value in state.items():
                assert torch.equal(value, b[key]["state"][index][name]), f"{key}[{index}].{name} differs"
    assert a["step"] == b["step"]


@pytest.mark.slow
def test_resume_after_sigkill_matches_an_uninterrupted_run(tiny_overrides, tmp_path):
    # Random crops and flips, dropout, several epochs of 4 clips: every random stream matters.
    overrides = [*tiny_overrides, "train.steps=30", "train.checkpoint_every=3", "train.keep_checkpoints=20", "data.crop_size=[24,24]", "train.val_videos=0"]
    straight = cli(*overrides, "train.run_name=straight", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    killed_dir = tmp_path / "runs" / "killed"
    victim = cli(*overrides, "train.run_name=killed", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not [s for s, _ in list_checkpoints(killed_dir) if s >= 6]:
        assert victim.poll() is None, f"the run ended before it could be killed: {victim.stderr.read().decode()}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    interrupted_at = list_checkpoints(killed_dir)[-1][0]
    assert interrupted_at < 30

    assert main(["--resume", str(killed_dir)]) == 0
    assert straight.wait(timeout=300) == 0, straight.stderr.read().decode()
    resumed, uninterrupted = read_checkpoint(killed_dir), read_checkpoint(tmp_path / "runs" / "straight")
    assert resumed["step"] == 30
    assert_same_state(resumed, uninterrupted)


def test_resume_continues_exactly_in_process(tiny_config):
    """The same guarantee without a subprocess: 3 steps + resume to 5 equals 5 straight steps."""
    straight = read_checkpoint(train(tiny_config("train.steps=5", "train.run_name=a", "train.val_videos=0")).run_dir)
    first = train(tiny_config("train.steps=3", "train.run_name=b", "train.val_videos=0"))
    resumed = train(tiny_config("train.steps=5", "train.run_name=b", "train.val_videos=0"), resume=first.run_dir)
    assert resumed.run_dir == first.run_dir and resumed.step == 5
    assert_same_state(read_checkpoint(first.run_dir), straight)


def test_incompatible_resumes_are_refused(tiny_config, capsys):
    run_dir = train(tiny_config("train.steps=2", "train.run_name=r", "train.val_videos=0")).run_dir
    with pytest.raises(ConfigError, match="optim.lr_generator"):
        train(tiny_config("train.steps=4", "train.run_name=r", "optim.lr_generator=1e-3"), resume=run_dir)
    with pytest.raises(ConfigError, match="train.steps: 1 is below the checkpoint's step 2"):
        train(tiny_config("train.steps=1", "train.run_name=r"), resume=run_dir)
    assert main(["--resume", str(run_dir), "seed=5"]) == 2
    assert "seed" in capsys.readouterr().err
    assert main(["--resume", str(run_dir / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--resume", str(run_dir), "--config", "paper"]) == 2
    assert "--config" in capsys.readouterr().err
    # Changing only what does not touch the computation is allowed: here, more steps.
    assert main(["--resume", str(run_dir), "train.steps=3", "train.log_every=5"]) == 0
    assert read_checkpoint(run_dir)["step"] == 3
