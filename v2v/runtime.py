"""Where and how a command runs: the device, the precision, the CPU threads, and what a command's
failure looks like.

- :func:`resolve_device`: a ``--device`` / ``train.device`` option as a ``torch.device``;
- :func:`resolve_precision`: a ``--precision`` / ``train.precision`` option as an autocast dtype;
- :class:`ThreadsOption`, :func:`use_threads`: the ``--threads`` option of every computing command
  (``train.threads`` in a run's config), applied to torch, the compiled op and OpenCV;
- :func:`require_kernels`: the check every command makes before any heavy work, that the compiled
  op has kernels for its devices;
- :func:`run_command`: the one wrapper of every command line, turning bad input into one line on
  stderr and exit status 2, Ctrl-C into one line and 130, a failed write into 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import torch

import v2vcore
from v2v.config_engine import Checked, require

__all__ = [
    "DEVICE_HELP",
    "PRECISIONS",
    "DeviceError",
    "CommandFailed",
    "resolve_device",
    "resolve_precision",
    "ThreadsOption",
    "use_threads",
    "require_kernels",
    "command_name",
    "run_command",
]

DEVICE_HELP = "auto (CUDA when available, else the CPU), cpu, cuda or cuda:N"
"""What a device option accepts."""

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
"""Precision options: ``auto`` (bf16 autocast on CUDA, fp32 on the CPU), full float32, or autocast
in bfloat16 or float16 (``fp16`` training adds a gradient scaler; CUDA only)."""


@dataclass(kw_only=True)
class ThreadsOption(Checked):
    """The ``--threads`` option that every computing command's options share (a base of their
    configs; a subclass's :meth:`check` calls this one)."""

    threads: int = field(default=0, metadata={"metavar": "N"})
    """CPU threads of torch, the compiled op and OpenCV (0: torch's default, one per core, the fastest on a
    quiet machine; on a machine shared with other jobs, or for several runs side by side, 1 is often faster)."""

    def check(self) -> None:
        require(self.threads >= 0, "threads", f"must be 0 (one per core) or a positive number, got {self.threads}")


class DeviceError(ValueError):
    """A device that this process cannot use: unknown, not visible, or without compiled kernels."""


class CommandFailed(RuntimeError):
    """The work of a command failed after its inputs were accepted (an encoder or disk failure);
    nothing half-written was left under the names it was to write."""


def resolve_device(option: str, local_rank: int = 0) -> torch.device:
    """The device named by a device option.

    Args:
        option: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        local_rank: the GPU that ``"auto"`` and ``"cuda"`` mean (a distributed process's local rank).

    Raises:
        DeviceError: an unknown option, or a CUDA device that this process cannot see.
    """
    if not isinstance(option, str) or not (option in ("auto", "cpu", "cuda") or option.startswith("cuda:")):
        raise DeviceError(f"device must be {DEVICE_HELP}, got {option!r}")
    if option == "auto":
        option = "cuda" if torch.cuda.is_available() else "cpu"
    if option == "cpu":
        return torch.device("cpu")
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    try:
        device = torch.device(f"cuda:{local_rank}") if option == "cuda" else torch.device(option)
    except RuntimeError:
        raise DeviceError(f"device must be {DEVICE_HELP}, got {option!r}") from None
    if device.index is None or device.index >= visible:
        raise DeviceError(f"device {device} requested, but this process sees {visible} CUDA device(s) (use 'cpu')")
    return device


def resolve_precision(option: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a precision option on ``device`` (None: full float32).

    Raises:
        ValueError: not one of :data:`PRECISIONS`.
    """
    if option not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {option!r}")
    if option == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[option]


def use_threads(count: int) -> int:
    """Run this process's CPU work on ``count`` threads: torch's intra-op pool (which the compiled
    op's loops share, ``at::parallel_for``) and OpenCV's (flows, resizing).

    Args:
        count: threads, >= 1; 0 leaves both libraries' defaults (one thread per core).

    Returns:
        The number of torch threads in force.

    Raises:
        ValueError: a negative count.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"threads must be 0 (one per core) or a positive number, got {count!r}")
    if count:
        torch.set_num_threads(count)
        cv2.setNumThreads(count)
    return torch.get_num_threads()


def require_kernels(*devices: torch.device | str) -> None:
    """Check that the compiled op has kernels for every device (:func:`v2vcore.check_device`).

    Raises:
        DeviceError: with the message of ``v2vcore`` (which says how to rebuild).
    """
    for device in devices:
        try:
            v2vcore.check_device(device)
        except RuntimeError as error:
            raise DeviceError(str(error)) from None


def command_name(module: str) -> str:
    """The name a command was started by, for its usage line: the console script (``v2v-translate``)
    or ``python -m <module>``."""
    started_as = Path(sys.argv[0]).name
    return f"python -m {module}" if started_as.endswith(".py") or started_as in ("", "-c", "__main__.py") else started_as


def run_command(work: Callable[[], int]) -> int:
    """Run a command's body and turn its failure into an exit status, the same way for every command.

    Bad input (a ValueError such as :class:`~v2v.config_engine.ConfigError` or
    :class:`DeviceError`, a missing or existing file, an optional dependency that is not
    installed) prints ``error: <message>`` and returns 2; Ctrl-C prints ``interrupted`` and returns
    130; :class:`CommandFailed` and other OS errors (a full disk) print the message and return 1.
    Anything else is a bug and keeps its traceback. The commands write every file atomically
    (:mod:`v2v.fileio`), so none of these leaves half a file behind.

    Args:
        work: the command's body; returns its exit status.
    """
    try:
        return work()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (CommandFailed, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
