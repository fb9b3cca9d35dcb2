"""Interleaved timing of the fused op against the eager and compiled reference.

pytest-benchmark times one case after the other; on a machine whose speed drifts (shared or
virtual CPUs) that skews ratios. This script runs the implementations in turn within every round
and reports, per implementation, the median time, and per reference the median of the per-round
ratios, which cancels slow drift. Each round also copies the bytes the forward must move at least
(the roofline's yardstick) and reports the fused forward's time over the copy's.

Usage::

    python benchmarks/compare.py                                    # CPU, [1,8,6,480,854] float32
    python benchmarks/compare.py --device cuda --dtype bfloat16 --rounds 50
    python benchmarks/compare.py --output benchmarks/results/cpu_compare.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

import v2vcore
from v2vcore import reference

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inputs import make_inputs, minimum_bytes  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--shape", type=int, nargs=5, default=[1, 8, 6, 480, 854], metavar=("B", "T", "C", "H", "W"))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile of the reference")
    parser.add_argument("--output", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    device, dtype = args.device, getattr(torch, args.dtype)
    video, flow_fwd, flow_bwd = make_inputs(tuple(args.shape), dtype=dtype, device=device)
    grad = torch.randn((args.shape[0], args.shape[1] - 1, *args.shape[2:]), device=device).to(dtype)
    implementations = {
        "fused": lambda v: v2vcore.residual_error(v, flow_fwd, flow_bwd, check_flows=False),
        "eager": lambda v: reference.residual_error(v, flow_fwd, flow_bwd),
    }
    if not args.no_compile:
        compiled = torch.compile(reference.residual_error, dynamic=False)
        implementations["compiled"] = lambda v: compiled(v, flow_fwd, flow_bwd)

    def synchronize():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def forward(function):
        with torch.no_grad():
            function(video)
        synchronize()

    def forward_backward(function):
        leaf = video.detach().requires_grad_(True)
        function(leaf).backward(grad)
        synchronize()

    modes = {"forward": forward, "forward_backward": forward_backward}
    # The roofline's yardstick, timed in the same rounds: a plain copy of the bytes the forward must
    # move at least (half read, half written).
    forward_bytes = minimum_bytes(tuple(args.shape), dtype, "forward")
    copy_source = torch.ones(forward_bytes // 2, dtype=torch.uint8, device=device)
    copy_target = torch.empty_like(copy_source)

    def copy():
        copy_target.copy_(copy_source)
        synchronize()

    copy()
    for run in modes.values():  # warm-up, compilation included
        for function in implementations.values():
            run(function)
            run(function)
    times = {mode: {name: [] for name in implementations} for mode in modes}
    copy_times = []
    for _ in range(args.rounds):
        for mode, run in modes.items():
            for name, function in implementations.items():
                start = time.perf_counter()
                run(function)
                times[mode][name].append(time.perf_counter() - start)
        start = time.perf_counter()
        copy()
        copy_times.append(time.perf_counter() - start)
    report = {
        "command": " ".join([sys.executable, *sys.argv]),
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else _cpu_name(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "shape": args.shape,
        "dtype": args.dtype,
        "rounds": args.rounds,
        "results": {},
    }
    for mode in modes:
        fused = times[mode]["fused"]
        entry = {f"{name}_median_ms": statistics.median(t) * 1e3 for name, t in times[mode].items()}
        for name in implementations:
            if name != "fused":
                ratios = [slow / fast for slow, fast in zip(times[mode][name], fused)]
                entry[f"speedup_vs_{name}_median"] = statistics.median(ratios)
                entry[f"speedup_vs_{name}_min"] = min(ratios)
        if mode == "forward":  # fused forward time over copy time, per round
            entry["copy_median_ms"] = statistics.median(copy_times) * 1e3
            entry["forward_bytes"] = forward_bytes
            entry["fused_over_copy_median"] = statistics.median(f / c for f, c in zip(fused, copy_times))
        report["results"][mode] = entry
    print(json.dumps(report, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f" ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return "cpu"


if __name__ == "__main__":
    main()
