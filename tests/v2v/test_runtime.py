"""Devices, precisions, the kernels check and the one command wrapper of every command."""

from __future__ import annotations

import cv2
import pytest
import torch

from v2v.runtime import (
    CommandFailed,
    DeviceError,
    ThreadsOption,
    require_kernels,
    resolve_device,
    resolve_precision,
    run_command,
    use_threads,
)

CPU = torch.device("cpu")


def test_resolve_device():
    assert resolve_device("cpu") == CPU
    if not torch.cuda.is_available():
        assert resolve_device("auto") == CPU
        with pytest.raises(ValueError, match="sees 0 CUDA device"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="sees 0 CUDA device"):
            resolve_device("cuda:1")
    for bad in ("gpu", "cuda:x", "", None):
        with pytest.raises(ValueError, match="device must be auto"):
            resolve_device(bad)




def test_resolve_precision():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cpu) is None and resolve_precision("auto", cuda) == torch.bfloat16
    assert resolve_precision("fp32", cuda) is None and resolve_precision("fp16", cpu) == torch.float16
    assert resolve_precision("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp8", cpu)


def test_require_kernels_turns_a_missing_build_into_a_device_error(monkeypatch):
    import v2vcore

    require_kernels("cpu")  # this build has CPU kernels

    def no_kernels(device):
        raise RuntimeError(f"no kernels for {device}")

    monkeypatch.setattr(v2vcore, "check_device", no_kernels)
    with pytest.raises(DeviceError, match="no kernels for cpu"):
        require_kernels("cpu")


@pytest.mark.parametrize(
    ("error", "status", "line"),
    [
        (ValueError("bad value"), 2, "error: bad value"),
        (FileNotFoundError("no such file"), 2, "error: no such file"),
        (FileExistsError("exists"), 2, "error: exists"),
        (ImportError("no torchvision"), 2, "error: no torchvision"),
        (DeviceError("no kernels"), 2, "error: no kernels"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (CommandFailed("encoder failed"), 1, "error: encoder failed"),
        (OSError(28, "No space left on device"), 1, "error: [Errno 28] No space left on device"),
    ],
)
def test_run_command_turns_failures_into_one_line_and_a_status(error, status, line, capsys):
    def work():
        raise error

    assert run_command(work) == status
    assert capsys.readouterr().err.strip().splitlines() == [line]


def test_run_command_returns_the_status_of_its_work_and_keeps_a_bug_s_traceback():
    assert run_command(lambda: 0) == 0 and run_command(lambda: 3) == 3

    def bug():
        raise AttributeError("a bug")

    with pytest.raises(AttributeError):
        run_command(bug)


def test_use_threads_sets_torch_and_opencv_and_threads_option_checks_its_range():
    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        assert use_threads(1) == 1 and torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
        assert use_threads(0) == 1  # 0 leaves what is in force
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
    with pytest.raises(ValueError, match="threads must be 0"):
        use_threads(-2)
    with pytest.raises(ValueError, match="threads: must be 0 .one per core. or a positive number, got -1"):
        ThreadsOption(threads=-1)
