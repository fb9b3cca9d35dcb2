"""End-to-end translation speed: ``python -m v2v.translate`` on an 854x480 video with the paper generator.

Writes a paper-preset colorization checkpoint (random weights: speed does not depend on them) and an
854x480 H.264 test video of ``--frames`` frames, then times ``v2v.translate.translate`` end to end
(decode, input transform, generator, encode) and reports frames/s. Needs PyAV.

Usage::

    python benchmarks/translate_fps.py --device cuda --precision bf16 --output benchmarks/results/translate_fps.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from v2v.config import load_config
from v2v.config_engine import to_dict
from v2v.data import VideoWriter
from v2v.models import build_generator
from v2v.models.checkpoint import new_checkpoint, save_checkpoint
from v2v.translate import TranslateConfig, translate


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", type=int, nargs=2, default=[480, 854], metavar=("H", "W"))
    parser.add_argument("--output", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    if args.frames < 2:
        parser.error("--frames must be >= 2")
    height, width = args.size
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = load_config("paper", [f"model.preset={args.preset}", "data.source=synthetic",
                                       f"data.frame_size=[{height},{width}]"])
        generator = build_generator(config.model, config.task, config.setting_switches)
        save_checkpoint(tmp / "run", new_checkpoint(0, to_dict(config), generator=generator.state_dict()))
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (height + 64, width + 64, 3), dtype=np.uint8)
        with VideoWriter(tmp / "input.mp4", fps=25) as writer:
            for t in range(args.frames):  # a panning texture
                writer.write(base[t % 64 : t % 64 + height, t % 64 : t % 64 + width])
        run = TranslateConfig(str(tmp / "run"), str(tmp / "input.mp4"), str(tmp / "output.mp4"), device=args.device,
                              precision=args.precision, progress=False, scene_cuts=False)
        translate(TranslateConfig(**{**vars(run), "output": str(tmp / "warmup.mp4"), "max_frames": 4}))
        start = time.perf_counter()
        result = translate(run)
        seconds = time.perf_counter() - start
    report = {
        "command": " ".join([sys.executable, *sys.argv]),
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "preset": args.preset,
        "precision": args.precision,
        "size": [height, width],
        "frames": result.frames,
        "seconds": seconds,
        "frames_per_second": result.frames / seconds,
    }
    print(json.dumps(report, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
