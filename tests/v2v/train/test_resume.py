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
from v2v.train.loop import ResumeError, train

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


def test_a_checkpoint_that_cannot_be_continued_is_one_line_and_exit_2(tiny_config, tiny_overrides, capsys):
    """Failures found only once training starts (the newest checkpoint unreadable under --resume
    auto, another process count) end like a bad argument, naming the problem, not in a traceback."""
    run_dir = train(tiny_config("train.steps=2", "train.val_videos=0", "train.run_name=quickstart-20260101-000000")).run_dir
    (_, newest), = list_checkpoints(run_dir)[-1:]
    state = torch.load(newest, weights_only=True)
    torch.save({**state, "world_size": 2}, newest)
    capsys.readouterr()
    assert main(["--resume", str(run_dir), "train.steps=3"]) == 2
    assert "written by 2 process(es), this run has 1" in capsys.readouterr().err
    with pytest.raises(ResumeError):
        train(tiny_config("train.steps=3", "train.run_name=quickstart-20260101-000000"), resume=run_dir)

    newest.write_bytes(b"not a checkpoint")
    assert main(["--resume", "auto", *tiny_overrides, "train.val_videos=0", "train.steps=3"]) == 2
    err = capsys.readouterr().err
    assert f"--resume: {newest} is not a v2v checkpoint (not a complete torch.save archive" in err and "Traceback" not in err
    assert newest.read_bytes() == b"not a checkpoint"  # nothing the user wrote is touched


def test_sigterm_finishes_the_step_checkpoints_and_resume_auto_continues_exactly(tiny_overrides, tmp_path, tiny_config):
    """A real process sent SIGTERM (how schedulers preempt) writes a checkpoint of the step it was
    in, exits with 128 + 15 and no traceback; `--resume auto` continues that run, and the result
    equals an uninterrupted run of as many steps."""
    overrides = [*tiny_overrides, "train.steps=100000", "train.checkpoint_every=100000", "train.val_videos=0", "train.run_name=preempted"]
    victim = cli(*overrides, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    jsonl = tmp_path / "runs" / "preempted" / "scalars.jsonl"
    deadline = time.monotonic() + 300
    while not (jsonl.is_file() and len(jsonl.read_text().splitlines()) >= 3):
        assert victim.poll() is None, f"the run ended before it could be stopped: {victim.stderr.read()}"
        assert time.monotonic() < deadline, "the run logged no step"
        time.sleep(0.05)
    victim.send_signal(signal.SIGTERM)
    _, stderr = victim.communicate(timeout=120)
    assert victim.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr and "stopped by SIGTERM after step" in stderr
    run_dir = tmp_path / "runs" / "preempted"
    (stopped_at, _), = list_checkpoints(run_dir)
    logged = [int(line.split('"step": ')[1].split(",")[0]) for line in jsonl.read_text().splitlines()]
    assert logged[-1] == stopped_at  # the checkpoint is of the last step that ran
    assert "SIGTERM: stopped after step" in (run_dir / "train.log").read_text()
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))

    resumed_steps = stopped_at + 2
    assert main(["--resume", "auto", *tiny_overrides, f"train.steps={resumed_steps}", "train.checkpoint_every=100000", "train.val_videos=0", "train.run_name=preempted"]) == 0
    straight = train(tiny_config(f"train.steps={resumed_steps}", "train.run_name=straight", "train.val_videos=0"))
    resumed = read_checkpoint(run_dir)
    assert resumed["step"] == resumed_steps
    assert_same_state(resumed, read_checkpoint(straight.run_dir))


def test_resume_auto_finds_the_newest_run_of_the_name_or_starts_one(tiny_config, tiny_overrides, tmp_path, capsys):
    from v2v.train.loop import latest_run

    config = tiny_config("train.steps=1", "train.val_videos=0")
    assert latest_run(config) is None
    runs = tmp_path / "runs"
    first = train(tiny_config("train.steps=1", "train.val_videos=0", "train.run_name=quickstart-20260101-000000")).run_dir
    second = train(tiny_config("train.steps=1", "train.val_videos=0", "train.run_name=quickstart-20250101-000000")).run_dir
    train(tiny_config("train.steps=1", "train.val_videos=0", "train.run_name=quickstart-other"))  # not of the pattern
    (runs / "quickstart-20270101-000000").mkdir()  # no checkpoint: nothing to continue
    os.utime(list_checkpoints(first)[-1][1], (1e9, 1e9))  # the older checkpoint, whatever its name says
    assert latest_run(config) == second
    assert latest_run(tiny_config("train.run_name=quickstart-20260101-000000")) == first
    capsys.readouterr()
    assert main(["--resume", "auto", *tiny_overrides, "train.val_videos=0", "train.steps=2"]) == 0
    assert "continuing" in capsys.readouterr().err and read_checkpoint(second)["step"] == 2

