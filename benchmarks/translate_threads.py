"""Translation speed per thread count: ``python -m v2v.translate --threads N`` at 640x480 on the CPU.

Writes a quickstart checkpoint (colorization, the ``small`` preset; random weights: speed does not
depend on them) and a 640x480 H.264 test video, then runs the command line itself, each thread count
in a fresh process (thread pools are per process), the counts interleaved round by round so that a
machine whose load drifts treats them alike, and reads the frames/s the command prints (the
translation loop: decode, input transform, generator, encode; not the start-up). ``--threads 0`` is
the default, torch's one thread per core. The load average is recorded before every run: on a
shared machine it is part of the result.

Usage::

    python benchmarks/translate_threads.py --output benchmarks/results/translate-threads.json
    python benchmarks/translate_threads.py --threads 0 1 2 --rounds 3 --frames 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from v2v.config import load_config
from v2v.config_engine import to_dict
from v2v.data.video_writer import VideoWriter
from v2v.models import build_generator
from v2v.models.checkpoint import new_checkpoint, save_checkpoint

_SPEED = re.compile(r"\(([0-9.]+) frames/s")


def _machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns (and prints, and optionally writes) the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[0, *range(1, (os.cpu_count() or 1) + 1)])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", type=int, nargs=2, default=[480, 640], metavar=("H", "W"))
    parser.add_argument("--output", type=Path, help="write the report as JSON here, and a markdown table beside it")
    args = parser.parse_args(argv)
    height, width = args.size
    runs: dict[int, list[dict]] = {count: [] for count in args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = load_config("quickstart")
        generator = build_generator(config.model, config.task, config.setting_switches)
        save_checkpoint(tmp / "run", new_checkpoint(0, to_dict(config), generator=generator.state_dict()))
        rng = np.random.default_rng(0)
        base = (rng.random((height // 8 + 16, width // 8 + 16, 3)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
        with VideoWriter(tmp / "input.mp4", fps=25) as writer:
            for t in range(args.frames):  # a panning texture
                writer.write(base[t : t + height, t : t + width])
        for round_index in range(args.rounds):
            for count in args.threads:
                output = tmp / f"out-{round_index}-{count}.mp4"
                load = os.getloadavg()[0]
                command = [sys.executable, "-m", "v2v.translate", "--checkpoint", str(tmp / "run"), "--input",
                           str(tmp / "input.mp4"), "--output", str(output), "--quiet", "--device", "cpu",
                           "--threads", str(count)]
                result = subprocess.run(command, capture_output=True, text=True)
                if result.returncode != 0:
                    raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
                printed = result.stdout
                speed = float(_SPEED.search(printed).group(1))
                runs[count].append({"frames_per_second": speed, "load_average_1min": load})
                print(f"round {round_index}: --threads {count}: {speed:.2f} frames/s (load {load:.1f})", flush=True)
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": _machine(),
        "torch": torch.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "size": [height, width],
        "frames": args.frames,
        "model": "quickstart (colorization, small preset), random weights",
        "rounds": args.rounds,
        "median_frames_per_second": {str(count): statistics.median(run["frames_per_second"] for run in values)
                                     for count, values in runs.items()},
        "runs": {str(count): values for count, values in runs.items()},
    }
    print(json.dumps(report["median_frames_per_second"], indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        args.output.with_suffix(".md").write_text(markdown(report))
    return report


def markdown(report: dict) -> str:
    """The report as a short markdown page: the command, the machine, one row per thread count."""
    lines = [
        f"# `v2v.translate` frames/s per thread count, {report['size'][1]}x{report['size'][0]}",
        "",
        f"Command: `{report['command']}`. Machine: {report['machine']}; torch {report['torch']} "
        f"(default {report['torch_default_threads']} threads). Model: {report['model']}; {report['frames']} frames, "
        f"{report['rounds']} rounds, thread counts interleaved in each round, each run a fresh process.",
        "",
        "| --threads | median frames/s | every round (load average when it started) |",
        "| --- | ---: | --- |",
    ]
    for count, values in report["runs"].items():
        shown = ", ".join(f"{run['frames_per_second']:.2f} ({run['load_average_1min']:.1f})" for run in values)
        label = f"{count} (default: one per core)" if count == "0" else count
        lines.append(f"| {label} | {report['median_frames_per_second'][count]:.2f} | {shown} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
