"""Profile training steps and report the share of a step spent in the residual-error op.

Builds the networks of a run config (default: the paper preset, colorization,
``video2video+local+global``), feeds them random clips with smooth exact flows, warms up, then runs
``--steps`` steps of :func:`v2v.train.loop.train_step` under ``torch.profiler`` and reports steps/s,
peak memory, the time of the fused op (forward ``v2vcore::residual_error`` and backward
``v2vcore::residual_error_backward``) as a share of the step, and the top operators.

Usage::

    python benchmarks/train_step_profile.py                           # paper preset, 256x256, batch 4, bf16 on CUDA
    python benchmarks/train_step_profile.py --device cpu --preset small --size 64 --batch 1 --steps 2
    python benchmarks/train_step_profile.py --output benchmarks/results/train_step_profile.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from v2v.config import load_config
from v2v.models import build_discriminator, build_generator
from v2v.runtime import resolve_precision
from v2v.tasks import get_task
from v2v.train.loop import train_step

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inputs import affine_flows  # noqa: E402

OP_NAMES = ("v2vcore::residual_error", "v2vcore::residual_error_backward")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="paper", help="run config name or YAML path (default: paper)")
    parser.add_argument("--preset", default=None, help="model preset override (e.g. small)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="bf16", help="bf16 (autocast on CUDA) or fp32")
    parser.add_argument("--size", type=int, default=256, help="square frame size")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--output", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    for name in ("size", "frames", "batch", "steps"):
        if getattr(args, name) < (2 if name == "frames" else 1):
            parser.error(f"--{name} must be >= {2 if name == 'frames' else 1}")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    if args.precision not in ("bf16", "fp32"):
        parser.error(f"--precision must be bf16 or fp32, got {args.precision!r}")
    return args


def make_batch(config, batch: int, frames: int, size: int, device: torch.device) -> dict[str, torch.Tensor]:
    in_channels, out_channels = get_task(config.task).channels
    generator = torch.Generator().manual_seed(0)
    flows = [affine_flows(frames - 1, size, size, seed=b) for b in range(batch)]
    return {
        "input": (torch.rand(batch, frames, in_channels, size, size, generator=generator) * 2 - 1).to(device),
        "target": (torch.rand(batch, frames, out_channels, size, size, generator=generator) * 2 - 1).to(device),
        "flow_fwd": torch.stack([f for f, _ in flows]).float().to(device),
        "flow_bwd": torch.stack([b for _, b in flows]).float().to(device),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    overrides = [
        "data.source=synthetic", f"data.frame_size=[{args.size},{args.size}]", f"train.precision={args.precision}",
        f"train.device={args.device}",
    ]
    if args.preset:
        overrides.append(f"model.preset={args.preset}")
    config = load_config(args.config, overrides)
    device = torch.device(args.device)
    torch.manual_seed(config.seed)
    generator = build_generator(config.model, config.task, config.setting_switches).to(device)
    discriminator = build_discriminator(config.model, config.task, config.setting_switches).to(device)
    optim = config.optim
    optimizers = [
        torch.optim.Adam(net.parameters(), lr=lr, betas=(optim.beta1, optim.beta2))
        for net, lr in ((generator, optim.lr_generator), (discriminator, optim.lr_discriminator))
    ]
    autocast = resolve_precision(config.train.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast == torch.float16)
    batch = make_batch(config, args.batch, args.frames, args.size, device)

    def step():
        train_step(
            batch, config=config, generator=generator, discriminator=discriminator, frozen_discriminator=discriminator,
            optimizer_generator=optimizers[0], optimizer_discriminator=optimizers[1], scaler=scaler, autocast=autocast,
        )

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    synchronize()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    synchronize()
    seconds_per_step = (time.perf_counter() - start) / args.steps

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as profiler:
        for _ in range(args.steps):
            step()
        synchronize()
    events = profiler.key_averages()
    use_device_time = device.type == "cuda"

    def total(event) -> float:  # microseconds over the profiled steps
        return event.self_device_time_total if use_device_time else event.self_cpu_time_total

    step_time = sum(total(e) for e in events)
    op_time = sum(total(e) for e in events if e.key in OP_NAMES)
    top = sorted(events, key=total, reverse=True)[:15]
    report = {
        "command": " ".join([sys.executable, *sys.argv]),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "config": args.config,
        "preset": config.model.preset,
        "task": config.task,
        "setting": config.setting,
        "batch": args.batch,
        "frames": args.frames,
        "size": args.size,
        "precision": args.precision,
        "steps_per_second": 1.0 / seconds_per_step,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "time_basis": "self device (kernel) time" if use_device_time else "self CPU time",
        "residual_error_share_of_step": op_time / step_time if step_time else 0.0,
        "residual_error_us_per_step": op_time / args.steps,
        "top_operators": [{"name": e.key, "us_per_step": total(e) / args.steps} for e in top],
    }
    print(json.dumps(report, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.output.with_suffix(args.output.suffix + ".tmp")
        tmp.write_text(json.dumps(report, indent=2))
        tmp.replace(args.output)
    return report


if __name__ == "__main__":
    main()
