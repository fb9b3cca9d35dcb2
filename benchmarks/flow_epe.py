"""Endpoint error of each flow provider against the exact flow of the bundled synthetic videos.

A benchmark-style report, not a timed test: for every motion regime and seed it generates a clip,
runs every provider on its frames, and measures the mean endpoint error (pixels) of the forward and
backward flows against the exact ones, over all pixels, over pixels visible in both frames, and over
occluded pixels, next to the error of assuming no motion. Prints a table and writes JSON.

Usage::

    python benchmarks/flow_epe.py                       # 256x256, 4 frames, 4 seeds per regime
    python benchmarks/flow_epe.py --size 128 --seeds 2  # quicker
    python benchmarks/flow_epe.py --raft-weights raft_large.pth   # adds RAFT (needs torchvision)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cv2
import torch

from v2v.data import synthetic_clip
from v2v.flow import make_flow_provider
from v2vcore.flow import endpoint_error

REGIMES = {
    # Peak speeds of about a pixel per frame: the regime the tests bound.
    "slow": dict(camera_speed=0.75, camera_rotation=0.2, camera_zoom=0.003, object_speed=1.0,
                 object_rotation=0.5, object_zoom=0.005),
    # The defaults of the training data.
    "default": {},
    # Twice the default speeds.
    "fast": dict(camera_speed=4.0, camera_rotation=1.0, camera_zoom=0.02, object_speed=6.0,
                 object_rotation=4.0, object_zoom=0.04),
}


def providers(raft_weights: str | None) -> dict:
    chosen = {
        "dis-ultrafast": ("dis", {"preset": "ultrafast"}),
        "dis-fast": ("dis", {"preset": "fast"}),
        "dis-medium": ("dis", {"preset": "medium"}),
        "tvl1": ("tvl1", {}),
    }
    if raft_weights:
        chosen["raft-large"] = ("raft", {"weights": raft_weights})
    return {label: make_flow_provider(name, **settings) for label, (name, settings) in chosen.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="frame side (square clips)")
    parser.add_argument("--frames", type=int, default=4, help="frames per clip")
    parser.add_argument("--seeds", type=int, default=4, help="clips per motion regime")
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--raft-weights", default=None, help="local RAFT-large state dict (optional)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "flow_epe.json"))
    args = parser.parse_args()

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    models = providers(args.raft_weights)
    rows = []
    for regime in args.regimes:
        totals: dict[str, dict[str, float]] = {}
        for seed in range(args.seeds):
            clip = synthetic_clip(seed, size=(args.size, args.size), num_frames=args.frames, **REGIMES[regime])
            visible = torch.cat([~clip["occlusion_fwd"], ~clip["occlusion"]])
            exact = torch.cat([clip["flow_fwd"], clip["flow_bwd"]])
            estimates = {"zero-flow": (torch.zeros_like(exact), 0.0)}
            for label, provider in models.items():
                start = time.perf_counter()
                flow_fwd, flow_bwd = provider.compute(clip["frames"])
                elapsed = time.perf_counter() - start
                estimates[label] = (torch.cat([flow_fwd, flow_bwd]), elapsed / (2 * (args.frames - 1)))
            for label, (flow, seconds) in estimates.items():
                entry = totals.setdefault(label, {"epe_all": 0.0, "epe_visible": 0.0, "epe_occluded": 0.0,
                                                  "seconds_per_pair": 0.0})
                entry["epe_all"] += endpoint_error(flow, exact).item() / args.seeds
                entry["epe_visible"] += endpoint_error(flow, exact, visible).item() / args.seeds
                occluded = endpoint_error(flow, exact, ~visible).item()
                entry["epe_occluded"] += (0.0 if occluded != occluded else occluded) / args.seeds
                entry["seconds_per_pair"] += seconds / args.seeds
        for label, entry in totals.items():
            rows.append({"regime": regime, "provider": label, **{k: round(v, 4) for k, v in entry.items()}})

    header = f"{'regime':8} {'provider':14} {'EPE all':>8} {'visible':>8} {'occluded':>9} {'s/pair':>7}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['regime']:8} {row['provider']:14} {row['epe_all']:8.3f} {row['epe_visible']:8.3f} "
              f"{row['epe_occluded']:9.3f} {row['seconds_per_pair']:7.3f}")
    report = {
        "description": "mean endpoint error (px) against the exact flow of synthetic clips; forward and "
                       "backward flows pooled; 'visible' excludes the occlusion ground truth",
        "size": [args.size, args.size], "frames": args.frames, "seeds": args.seeds,
        "threads": 1, "machine": platform.processor() or platform.machine(),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
