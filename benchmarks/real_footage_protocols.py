"""Score a reproduce grid's real-footage translations under other protocols and flows.

``python -m v2v.reproduce --real-video CLIP ...`` scores every translation one way (protocol
``v2v`` on DIS flows of the clip). This script scores the same translations, read back from the
grid's cells, under each scoring of :data:`SCORINGS`, so that the stability claim can be seen not
to hang on one choice of flow or of mask test: Lai et al.'s protocol (their warp direction and
occlusion test) on DIS flows, and the project's protocol on TV-L1 flows (another estimator).

Usage::

    python benchmarks/real_footage_protocols.py GRID OUTPUT.json [--flow-cache DIR]

GRID is the folder ``v2v.reproduce --output`` wrote (``table1-<budget>.json`` and ``cells/``).
The JSON holds every (scoring, task, clip, setting, seed) score and, per scoring and task, the
mean over clips per seed, its mean and std over seeds, the change of the default setting against
image2image and in how many clip-seed pairs the default setting is lower.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from v2v.fileio import atomic_write_json
from v2v.flow import FlowConfig
from v2v.grid import Cell
from v2v.provenance import current_commit, machine_description
from v2v.scoring import score_videos

SCORINGS: dict[str, tuple[str, str]] = {
    "v2v-dis": ("v2v", "dis"),  # what the grid's table reports (a check that the translations are its own)
    "lai-dis": ("lai", "dis"),
    "v2v-tvl1": ("v2v", "tvl1"),
}
"""Name: (``v2v.score`` protocol, flow provider)."""

BASELINE, DEFAULT = "image2image", "video2video+local+global"


def _grid_report(grid: Path) -> dict[str, Any]:
    reports = sorted(grid.glob("table1-*.json"))
    if len(reports) != 1:
        raise FileNotFoundError(f"GRID {grid} must hold exactly one table1-<budget>.json (found {len(reports)})")
    report = json.loads(reports[0].read_text())
    if not report.get("real_footage"):
        raise ValueError(f"{reports[0]} has no real footage: run v2v.reproduce with --real-video first")
    return report


def score_grid(grid: Path, flow_cache: Path | None = None) -> dict[str, Any]:
    """Every real-footage translation of ``grid`` scored under every scoring of :data:`SCORINGS`."""
    report = _grid_report(grid)
    runs: dict[tuple[str, str], list[tuple[str, int, Path]]] = {}
    for entry in report["real_footage"]:
        clip = Path(entry["clip"])
        translated = Cell(entry["task"], entry["setting"], entry["seed"]).folder(grid).real_translation(clip)
        if not translated.is_dir():
            raise FileNotFoundError(f"{translated} is missing: the grid's translation of {clip}")
        runs.setdefault((entry["task"], str(clip)), []).append((entry["setting"], entry["seed"], translated))
    scores = []
    for name, (protocol, flow) in SCORINGS.items():
        config = FlowConfig(provider=flow, cache_dir=None if flow_cache is None else str(flow_cache))
        provider, cache = config.build_provider(has_exact_flow=False), config.build_cache()
        for (task, clip), outputs in runs.items():
            scored = score_videos([str(path) for _, _, path in outputs], clip, protocol=protocol, provider=provider,
                                  cache=cache, tof=False)
            for (setting, seed, _), video in zip(outputs, scored["videos"]):
                scores.append({"scoring": name, "task": task, "clip": Path(clip).name, "setting": setting, "seed": seed,
                               "frames": video["frames"], "warping_error": video["warping_error"]})
    return {"scores": scores, "summary": summarize(scores)}


def summarize(scores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scoring and task: the mean over clips of each seed's warping error, mean and std over
    seeds, the default setting's change against image2image, and its lower clip-seed pairs."""
    table = {(s["scoring"], s["task"], s["setting"], s["seed"], s["clip"]): s["warping_error"] for s in scores}
    rows = []
    for scoring, task in dict.fromkeys((s["scoring"], s["task"]) for s in scores):
        clips = sorted({clip for (sc, t, _, _, clip) in table if (sc, t) == (scoring, task)})
        seeds = sorted({seed for (sc, t, _, seed, _) in table if (sc, t) == (scoring, task)})
        per_seed = {setting: [statistics.fmean(table[(scoring, task, setting, seed, clip)] for clip in clips) for seed in seeds]
                    for setting in (BASELINE, DEFAULT)}
        lower = sum(table[(scoring, task, DEFAULT, seed, clip)] < table[(scoring, task, BASELINE, seed, clip)]
                    for seed in seeds for clip in clips)
        means = {setting: statistics.fmean(values) for setting, values in per_seed.items()}
        rows.append({
            "scoring": scoring, "task": task, "clips": clips, "seeds": seeds,
            **{setting: {"mean": means[setting], "std": statistics.stdev(values) if len(values) > 1 else 0.0}
               for setting, values in per_seed.items()},
            "change": means[DEFAULT] / means[BASELINE] - 1,
            "pairs_lower": f"{lower}/{len(seeds) * len(clips)}",
        })
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", type=Path, help="the folder v2v.reproduce --output wrote")
    parser.add_argument("output", type=Path, help="JSON file to write")
    parser.add_argument("--flow-cache", type=Path, default=None, help="flow cache folder (default: none)")
    args = parser.parse_args(argv)
    if not args.grid.is_dir():
        parser.error(f"GRID {args.grid} is not a folder")
    result = score_grid(args.grid, args.flow_cache)
    document = {
        "description": "Real-footage warping error of a v2v.reproduce grid's translations (its real_footage "
        "cells) under several scorings; see docs/reproduction.md#real-footage",
        "commit": current_commit(), "machine": machine_description(),
        "command": "python benchmarks/real_footage_protocols.py " + " ".join(argv if argv is not None else []),
        "scorings": {name: {"protocol": protocol, "flow": flow} for name, (protocol, flow) in SCORINGS.items()},
        **result,
    }
    atomic_write_json(args.output, document)
    for row in result["summary"]:
        print(f"{row['scoring']:9s} {row['task']:13s} image2image {row[BASELINE]['mean']:.3e}  "
              f"default {row[DEFAULT]['mean']:.3e}  {100 * row['change']:+.0f}%  lower in {row['pairs_lower']}")
    return document


if __name__ == "__main__":
    main(sys.argv[1:])
