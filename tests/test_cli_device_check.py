"""Every command checks, before any heavy work, that the compiled op has kernels for its device, and
turns a failure into one line on stderr and exit code 2."""

from __future__ import annotations

import importlib

import pytest

import v2vcore

COMMANDS = [
    ("v2v.train.__main__", ["--dry-run"]),
    ("v2v.evaluate", ["--checkpoint", "runs/none", "--device", "cpu"]),
    ("v2v.translate", ["--checkpoint", "runs/none", "--input", "in.mp4", "--output", "out.mp4", "--device", "cpu"]),
    ("v2v.score", ["a.mp4", "--reference", "b.mp4"]),
    ("v2v.reproduce", ["--budget", "smoke"]),
    ("v2v.stabilize", ["--input", "in.mp4", "--processed", "flicker.mp4", "--output", "out.mp4"]),
]


@pytest.mark.parametrize(("module", "argv"), COMMANDS, ids=[m for m, _ in COMMANDS])
def test_a_device_without_kernels_stops_the_command_with_one_line(module, argv, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    calls = []

    def no_kernels(device):
        calls.append(str(device))
        raise RuntimeError(f"v2vcore.check_device: no kernels for {device} (test)")

    monkeypatch.setattr(v2vcore, "check_device", no_kernels)
    status = importlib.import_module(module).main(argv)
    captured = capsys.readouterr()
    assert status == 2
    assert calls, "the command did not check its device"
    assert captured.err.strip().splitlines() == [f"error: v2vcore.check_device: no kernels for {calls[0]} (test)"]
    assert list(tmp_path.iterdir()) == []  # nothing was written
