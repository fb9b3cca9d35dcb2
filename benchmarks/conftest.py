"""pytest-benchmark set-up shared by the op benchmarks.

Run ``pytest benchmarks --benchmark-only --benchmark-json=out.json`` and turn the JSON into a table
with ``python benchmarks/report.py out.json``. GPU cases run where CUDA and the CUDA kernels are
present and are skipped otherwise. ``V2V_BENCH_ALL_SHAPES=1`` adds the larger CPU shapes.
"""

from __future__ import annotations

import os
import platform
import subprocess

import pytest
import torch

import v2vcore

CUDA = torch.cuda.is_available() and v2vcore.has_cuda_kernels()


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record what the numbers were measured on, next to them in the JSON."""
    machine_info["torch"] = torch.__version__
    machine_info["torch_cuda"] = torch.version.cuda
    machine_info["torch_threads"] = torch.get_num_threads()
    machine_info["cpu_model"] = _cpu_model()
    machine_info["cuda_device"] = torch.cuda.get_device_name() if CUDA else None
    machine_info["v2vcore_cuda_kernels"] = v2vcore.has_cuda_kernels()
    try:
        machine_info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=os.path.dirname(__file__)
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        machine_info["git_commit"] = None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


requires_cuda = pytest.mark.skipif(not CUDA, reason="needs a GPU and the CUDA kernels")
