"""Evaluate stabilisers of flickering per-frame processors: the processed video, ``blend``'s
fidelity-against-stability curve, and any other method, scored with flows that no method uses.

For every clip (the shots of the real corpus's ``val`` videos scaled to a short side of 128, and
synthetic ``test`` clips), every held-out processor (:data:`v2v.processors.HELD_OUT_PROCESSORS`),
both flicker modes (``fresh``, ``drift``) and every seed of the processors' parameters, the clip is
processed (:func:`v2v.processors.process_clip`), every method stabilises the processed video, and
every video is scored against the original:

- warping error under each scoring of :data:`SCORINGS`: the project's protocol (``v2v``) on
  EVALUATION flows from Farneback and from TV-L1, Lai et al.'s protocol on Farneback flows, and, to
  show the trap, the project's protocol on the DIS flows ``blend`` itself uses (``v2v-dis-own``: not an
  evaluation; on the pixels it blends, blending's measured residual is its own update times
  ``1 - a``);
- fidelity to the processed frames: PSNR of the pooled MSE (:func:`v2v.metrics.pooled_psnr`) and
  mean SSIM.

Methods are callables ``(original uint8 [T, H, W, 3], processed uint8 [T, H, W, 3]) -> uint8
[T, H, W, 3]`` or run folders of learned stabilisers (loaded by :func:`v2v.stabilize.load_stabilizer`
and streamed with the DIS flows of the original); ``blend`` at each strength is one
(:func:`blend_methods`). :func:`evaluate` takes any mapping of them, so learned stabilisers plug in
beside the blending curve::

    from stabilize_eval import blend_methods, evaluate, real_clips
    rows = evaluate({**blend_methods([0.5, 0.8], dis, cache), "learned local+global": "runs/stabilize"}, clips, ...)

Usage::

    python benchmarks/stabilize_eval.py                              # the committed first version
    python benchmarks/stabilize_eval.py --method "learned (local+global)=runs/stabilize"
    python benchmarks/stabilize_eval.py --method "learned=runs/s0,runs/s1,runs/s2"   # three training seeds
    python benchmarks/stabilize_eval.py --quick                      # a smoke run: 1 clip, 1 seed

Writes ``benchmarks/results/stabilize.{md,json}`` (``--output``) and the figures
``docs/images/stabilize-fidelity.png`` and ``docs/images/stabilize-strip.png`` (``--figures``).
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from v2v.data import SyntheticVideoDataset
from v2v.data.videos import default_frame_store, find_videos, materialize_video
from v2v.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from v2v.flow import FlowCache, FlowConfig, FlowProvider, make_flow_provider
from v2v.frames import to_uint8
from v2v.metrics import pooled_psnr
from v2v.plotting import fidelity_stability_plot, frame_strip_plot
from v2v.processors import HELD_OUT_PROCESSORS, PROCESSORS, process_clip
from v2v.provenance import current_commit, machine_description
from v2v.scoring import StreamScorer
from v2v.stabilization import DEFAULT_STRENGTH, BlendStabilizer, stabilize_frames
from v2v.stabilize import load_stabilizer
from v2v.tables import markdown_table
from v2v.tasks import FidelityScorer

ROOT = Path(__file__).resolve().parents[1]

SCORINGS: dict[str, tuple[str, str]] = {
    "v2v-farneback": ("v2v", "farneback"),
    "v2v-tvl1": ("v2v", "tvl1"),
    "lai-farneback": ("lai", "farneback"),
    "v2v-dis-own": ("v2v", "dis"),
}
"""Name: (``v2v.scoring`` protocol, flow provider of the original). The first is the headline; the last
uses blend's own flows and is shown only as the trap it is."""

HEADLINE = "v2v-farneback"
OWN_FLOWS = "v2v-dis-own"
METHOD_FLOW = "dis"
"""The flows every method is given (blend's, and a learned stabiliser's when streamed here)."""

STRENGTHS = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9)
FIDELITY_CEILING = 45.0
"""PSNR (dB) above which the fidelity figure draws a video on its top band, with the processed video:
such a video is the processed one to the eye, and plotting it at 60-70 dB would squash the range where
stabilisers differ."""
FLICKERS = ("fresh", "drift")
SEEDS = (0, 1, 2)
PROCESSED = "processed"
REFERENCE = "flicker-free reference"
"""The same processor with frame 0's parameters held (flicker ``none``): how stable and how close to
the processed frames a stabiliser that removed exactly the flicker would be."""

Method = Callable[[np.ndarray, np.ndarray], np.ndarray] | str | Path
"""A stabiliser under evaluation: a callable on whole clips, or a run folder of a learned stabiliser.
:func:`evaluate` also takes a list of them under one name: replicas of one method (its training
seeds), whose rows carry their index as ``replica`` and whose summary has their spread."""


@dataclass(frozen=True)
class Clip:
    """One evaluation clip: a shot of a real video or a synthetic clip, ``uint8`` ``[T, H, W, 3]``."""

    name: str
    source: str
    frames: np.ndarray


# --------------------------------------------------------------------------------------------------
# Clips.


def real_clips(root: Path, short_side: int, max_frames: int) -> list[Clip]:
    """Every shot of ``root/val`` (the ``videos`` source's decoding, scaling and cuts), its first
    ``max_frames`` frames; shots of one frame are left out."""
    clips = []
    for source in find_videos(root / "val"):
        for shot in materialize_video(source, default_frame_store(), short_side=short_side):
            if shot.frames >= 2:
                frames = to_uint8(shot.read(0, min(shot.frames, max_frames))).permute(0, 2, 3, 1).numpy()
                clips.append(Clip(f"{Path(shot.video).stem}#{shot.index}", "real", np.ascontiguousarray(frames)))
    if not clips:
        raise ValueError(f"no shot of two frames or more in {root / 'val'}")
    return clips


def synthetic_clips(count: int, size: tuple[int, int], frames: int) -> list[Clip]:
    """The first ``count`` clips of the synthetic ``test`` split (default generator settings)."""
    dataset = SyntheticVideoDataset("test", "colorization", num_sequences=count, num_frames=frames, size=size)
    return [Clip(f"synthetic-test-{index}", "synthetic", to_uint8(dataset.clip(index)["frames"]).permute(0, 2, 3, 1).numpy())
            for index in range(count)]


# --------------------------------------------------------------------------------------------------
# Methods.


def blend_methods(strengths: Sequence[float], provider: FlowProvider, cache: FlowCache | None) -> dict[str, Method]:
    """``blend a=<strength>`` for each strength, streamed with the original's flows from ``provider``."""
    def method(strength: float) -> Method:
        return lambda original, processed: stabilize_frames(original, processed, BlendStabilizer(strength), provider, cache)

    return {f"blend a={strength:g}": method(strength) for strength in strengths}


def as_callable(method: Method, provider: FlowProvider, cache: FlowCache | None, device: str = "cpu") -> Callable:
    """A method as a callable on whole clips: a run folder becomes its learned stabiliser, streamed
    with the original's flows from ``provider``."""
    if callable(method):
        return method
    stabilizer = load_stabilizer(method, torch.device(device))
    return lambda original, processed: stabilize_frames(original, processed, stabilizer, provider, cache)


# --------------------------------------------------------------------------------------------------
# Scores.


def _unit(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1).float() / 255.0


def score_clip(original: np.ndarray, videos: Mapping[str, np.ndarray], scorings: Mapping[str, tuple[str, FlowProvider]],
               cache: FlowCache | None) -> dict[str, dict[str, Any]]:
    """Every video's warping error under every scoring (against ``original``) and its fidelity to
    ``videos["processed"]``.

    Returns:
        ``{video: {"warping_error": {scoring: value}, "per_frame": {scoring: [per pair]}, "psnr", "ssim"}}``.
    """
    names = list(videos)
    scores: dict[str, dict[str, Any]] = {name: {"warping_error": {}, "per_frame": {}} for name in names}
    for scoring, (protocol, provider) in scorings.items():
        scorer = StreamScorer(protocol, provider, cache, num_outputs=len(names), tof=False)
        for t in range(len(original)):
            scorer.update([videos[name][t] for name in names], original[t])
        for name, result in zip(names, scorer.results()):
            scores[name]["warping_error"][scoring] = result["warping_error"]
            scores[name]["per_frame"][scoring] = result["per_frame"]["warping_error"]
    processed = videos[PROCESSED]
    for name in names:
        if np.array_equal(videos[name], processed):
            scores[name].update(psnr=float("inf"), ssim=1.0)
            continue
        fidelity = FidelityScorer()
        for frame, reference in zip(videos[name], processed):
            fidelity.update(_unit(frame), _unit(reference), None)
        scores[name].update(psnr=pooled_psnr(fidelity.series()["psnr"]), ssim=fidelity.summary()["ssim"])
    return scores


def evaluate(
    methods: Mapping[str, Method | Sequence[Method]],
    clips: Sequence[Clip],
    *,
    processors: Sequence[str] = HELD_OUT_PROCESSORS,
    flickers: Sequence[str] = FLICKERS,
    seeds: Sequence[int] = SEEDS,
    scorings: Mapping[str, tuple[str, str]] = SCORINGS,
    cache: FlowCache | None = None,
    device: str = "cpu",
    strip: tuple[str, str, str, int] | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Process, stabilise and score every (clip, processor, flicker, seed).

    Args:
        methods: name -> :data:`Method`, or a list of replicas of one method (training seeds); the
            processed video itself is always scored, as ``processed``, and so is the :data:`REFERENCE`.
        clips: the clips (:func:`real_clips`, :func:`synthetic_clips`).
        processors, flickers, seeds: of :func:`v2v.processors.process_clip`.
        scorings: name -> (protocol, flow provider name) (:data:`SCORINGS`).
        cache: flow cache of the methods' and the scorings' flows.
        device: where learned stabilisers run.
        strip: ``(clip, processor, flicker, seed)`` whose frames and per-frame errors are kept for the strip.
        log: called with a line of progress per clip.

    Returns:
        ``{"rows": [...], "strip": {...} or None}``: a row per (clip, processor, flicker, seed, video)
        with ``method``, ``replica`` (0 unless the method has several), ``warping_error`` per scoring,
        ``ratio`` to the processed video's per scoring, ``psnr`` and ``ssim``. The strip keeps each
        method's first replica.
    """
    method_flow = make_flow_provider(METHOD_FLOW)
    # One video per (method, replica), keyed by the method's name alone for its first replica.
    callables: dict[str, tuple[str, int, Callable]] = {}
    for name, method in methods.items():
        replicas = list(method) if isinstance(method, (list, tuple)) else [method]
        for index, replica in enumerate(replicas):
            key = name if index == 0 else f"{name} [{index}]"
            callables[key] = (name, index, as_callable(replica, method_flow, cache, device))
    providers = {name: (protocol, make_flow_provider(flow)) for name, (protocol, flow) in scorings.items()}
    rows, kept = [], None
    started = time.perf_counter()
    for number, clip in enumerate(clips):
        for processor in processors:
            for flicker in flickers:
                for seed in seeds:
                    processed = process_clip(clip.frames, processor, seed, flicker)
                    videos = {PROCESSED: processed, REFERENCE: process_clip(clip.frames, processor, seed, "none"),
                              **{key: method(clip.frames, processed) for key, (_, _, method) in callables.items()}}
                    scores = score_clip(clip.frames, videos, providers, cache)
                    base = scores[PROCESSED]["warping_error"]
                    for key, score in scores.items():
                        name, replica, _ = callables.get(key, (key, 0, None))
                        rows.append({
                            "clip": clip.name, "source": clip.source, "frames": int(len(clip.frames)),
                            "processor": processor, "flicker": flicker, "seed": seed, "method": name, "replica": replica,
                            "warping_error": score["warping_error"],
                            "ratio": {key: value / base[key] if base[key] > 0 else float("nan") for key, value in score["warping_error"].items()},
                            "psnr": score["psnr"], "ssim": score["ssim"],
                        })
                    if strip == (clip.name, processor, flicker, seed):
                        firsts = [key for key in videos if callables.get(key, (key, 0, None))[1] == 0]
                        kept = {"clip": clip.name, "processor": processor, "flicker": flicker, "seed": seed,
                                "videos": {"original": clip.frames, **{key: videos[key] for key in firsts}},
                                "per_frame": {key: scores[key]["per_frame"] for key in firsts}}
        log(f"clip {number + 1}/{len(clips)} {clip.name} ({len(clip.frames)} frames) done at {time.perf_counter() - started:.0f} s")
    return {"rows": rows, "strip": kept}


# --------------------------------------------------------------------------------------------------
# Summaries.


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def summarize(rows: Sequence[dict[str, Any]], scorings: Sequence[str]) -> list[dict[str, Any]]:
    """Per (source, processor, flicker or ``both``, method): the means over clips, seeds and replicas
    of the warping error and its ratio to the processed video's (per scoring), PSNR and SSIM; the
    standard deviation over the processors' seeds of the seeds' mean headline ratio; and for a
    method with several replicas (training seeds) their number and the standard deviation over
    them of their mean headline ratio and PSNR."""
    summary = []
    keys = dict.fromkeys((row["source"], row["processor"], row["method"]) for row in rows)
    for source, processor, method in keys:
        for flicker in (*dict.fromkeys(row["flicker"] for row in rows), "both"):
            chosen = [row for row in rows if (row["source"], row["processor"], row["method"]) == (source, processor, method)
                      and flicker in (row["flicker"], "both")]
            seeds = sorted({row["seed"] for row in chosen})
            per_seed = [_mean([row["ratio"][scorings[0]] for row in chosen if row["seed"] == seed]) for seed in seeds]
            replicas = sorted({row["replica"] for row in chosen})
            per_replica = [[row for row in chosen if row["replica"] == replica] for replica in replicas]
            replica_ratio = [_mean([row["ratio"][scorings[0]] for row in group]) for group in per_replica]
            replica_psnr = [_mean([row["psnr"] for row in group]) for group in per_replica]
            summary.append({
                "source": source, "processor": processor, "flicker": flicker, "method": method, "videos": len(chosen),
                "warping_error": {key: _mean([row["warping_error"][key] for row in chosen]) for key in scorings},
                "ratio": {key: _mean([row["ratio"][key] for row in chosen]) for key in scorings},
                "ratio_seed_std": statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0,
                "replicas": len(replicas),
                "ratio_replica_std": statistics.stdev(replica_ratio) if len(replicas) > 1 else 0.0,
                "psnr_replica_std": statistics.stdev(replica_psnr) if len(replicas) > 1 else 0.0,
                "psnr": _mean([row["psnr"] for row in chosen]), "ssim": _mean([row["ssim"] for row in chosen]),
            })
    return summary


def _trap_section(document: dict[str, Any]) -> list[str]:
    """Blend's ratio under its own flows against the evaluation flows, real clips, fresh flicker, all processors."""
    rows = [row for row in document["rows"] if row["source"] == "real" and row["flicker"] == "fresh" and row["method"].startswith("blend a=")]
    if not rows:
        return []
    scorings = list(document["scorings"])
    lines = ["## The trap: blend measured with its own flows (real clips, fresh flicker, every processor)", "",
             f"With the flows it blended along, blend's measured residual on every reliable pixel is its own update times "
             f"1 - a; for independent per-frame flicker on perfectly tracked content that makes the ratio (1 - a)^2 / (1 + a). "
             f"The `{OWN_FLOWS}` column follows that arithmetic, not the video; the evaluation flows do not.", ""]
    table = []
    for method in dict.fromkeys(row["method"] for row in rows):
        strength = float(method.split("=")[1])
        chosen = [row for row in rows if row["method"] == method]
        table.append([method, f"{(1 - strength) ** 2 / (1 + strength):.3f}",
                      *(_number(_mean([row["ratio"][key] for row in chosen])) for key in scorings)])
    lines += markdown_table(["method", "(1 - a)^2 / (1 + a)", *(f"ratio {key}" for key in scorings)], table,
                            right=range(1, len(scorings) + 2)) + [""]
    return lines


def _number(value: float, digits: int = 3) -> str:
    return "inf" if value == float("inf") else f"{value:.{digits}f}"


def markdown_report(document: dict[str, Any]) -> str:
    """The result file: provenance, the clips, the headline table, the detail tables, the costs."""
    summary, scorings = document["summary"], list(document["scorings"])
    methods = list(dict.fromkeys(entry["method"] for entry in summary))
    processors = list(dict.fromkeys(entry["processor"] for entry in summary))
    sources = list(dict.fromkeys(entry["source"] for entry in summary))
    find = {(e["source"], e["processor"], e["flicker"], e["method"]): e for e in summary}
    settings = document["settings"]
    lines = [
        "# Stabilising flickering per-frame processors: the processed video, blend and learned stabilisers",
        "",
        document["description"],
        "",
        f"- command: `{document['command']}`",
        f"- commit: `{document['commit']}`; machine: {document['machine']}; {document['date']}",
        f"- processors (held out from training): {', '.join(settings['processors'])}; flicker: {', '.join(settings['flickers'])}; "
        f"parameter seeds: {', '.join(map(str, settings['seeds']))}",
        f"- methods get the original's `{METHOD_FLOW}` flows; scorings: "
        + "; ".join(f"`{name}` = protocol {protocol} on {flow} flows" for name, (protocol, flow) in document["scorings"].items()),
        f"- clips: {len(document['clips'])} ("
        + ", ".join(f"{sum(c['source'] == s for c in document['clips'])} {s}" for s in sources) + "): "
        + ", ".join(f"{c['name']} ({c['frames']}, {c['height']}x{c['width']})" for c in document["clips"]),
        "",
        "Ratio: a video's warping error over the processed video's (per clip, processor, flicker and seed; then the mean, "
        "± the standard deviation over the processors' seeds of the seeds' means; for a learned stabiliser trained with "
        "several seeds, the mean over them ± the standard deviation over training seeds, marked `(n seeds)`); lower is "
        "more stable. PSNR (of the MSE pooled over "
        "frames) and SSIM are against the processed frames; higher is closer. The flicker-free reference is the same "
        f"processor with frame 0's parameters held (`none`): where a stabiliser that removed exactly the flicker would be. "
        f"`{OWN_FLOWS}` scores with the flows blend itself uses: NOT an evaluation (docs/stabilize.md).",
        "",
    ]
    if OWN_FLOWS in scorings:
        lines += _trap_section(document)
    for source in sources:
        lines += [f"## {source.capitalize()} clips, both flicker modes: ratio under {scorings[0]}, fidelity", ""]
        header = ["method"] + [f"{p} {column}" for p in processors for column in ("ratio", "PSNR", "SSIM")]
        rows = []
        for method in methods:
            replicas = max(e["replicas"] for e in summary if e["method"] == method)
            cells = [method if replicas == 1 else f"{method} ({replicas} seeds)"]
            for processor in processors:
                entry = find.get((source, processor, "both", method))
                if entry is None:
                    cells += ["", "", ""]
                elif replicas > 1:
                    cells += [f"{_number(entry['ratio'][scorings[0]])} ± {entry['ratio_replica_std']:.3f}",
                              f"{_number(entry['psnr'], 2)} ± {entry['psnr_replica_std']:.2f}", _number(entry["ssim"])]
                else:
                    cells += [f"{_number(entry['ratio'][scorings[0]])} ± {entry['ratio_seed_std']:.3f}", _number(entry["psnr"], 2),
                              _number(entry["ssim"])]
            rows.append(cells)
        lines += markdown_table(header, rows, right=range(1, len(header))) + [""]
    for source in sources:
        for processor in processors:
            lines += [f"### {source}, {processor}", ""]
            header = ["flicker", "method", f"{scorings[0]} error", *(f"ratio {key}" for key in scorings), "PSNR", "SSIM", "videos"]
            rows = []
            for flicker in (*settings["flickers"], "both"):
                for method in methods:
                    entry = find.get((source, processor, flicker, method))
                    if entry is None:
                        continue
                    rows.append([flicker, method, f"{entry['warping_error'][scorings[0]]:.3e}",
                                 *(_number(entry["ratio"][key]) for key in scorings), _number(entry["psnr"], 2),
                                 _number(entry["ssim"]), str(entry["videos"])])
            lines += markdown_table(header, rows, right=range(2, len(header))) + [""]
    costs = document["costs"]
    lines += ["## Cost per frame", "",
              f"Milliseconds per frame (median of {costs['repeats']} runs, one thread, on the machine above while it ran other "
              "work; processors on one frame, blend with the DIS flows of one pair computed):", ""]
    sizes = list(costs["milliseconds"][next(iter(costs["milliseconds"]))])
    lines += markdown_table(["", *sizes], [[name, *(f"{per_size[size]:.1f}" for size in sizes)]
                                           for name, per_size in costs["milliseconds"].items()], right=range(1, len(sizes) + 1))
    lines += ["", f"Figures: `{document['figures']['fidelity']}`, `{document['figures']['strip']}`.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Costs and figures.


def processor_costs(frame: np.ndarray, sizes: Sequence[tuple[int, int]], repeats: int = 3) -> dict[str, dict[str, float]]:
    """Median milliseconds per frame of every processor of the bank, of OpenCV's non-local means (the
    denoiser the bank leaves out for its cost) and of blend (DIS flows of a pair and the blend step),
    at each ``(H, W)`` size."""
    costs: dict[str, dict[str, float]] = {}
    for height, width in sizes:
        image = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        label = f"{height}x{width}"
        rng = np.random.default_rng(0)
        for name, processor in PROCESSORS.items():
            values = {p.name: float(rng.uniform(p.low, p.high)) for p in processor.parameters}
            costs.setdefault(name, {})[label] = _median_ms(repeats, processor.apply, image, values)
        moved = np.roll(image, 2, axis=1)
        dis = make_flow_provider(METHOD_FLOW)

        # Non-local means, the denoiser the bank does not use: the yardstick of its cost.
        costs.setdefault("(non-local means, h 6: not in the bank)", {})[label] = _median_ms(
            repeats, cv2.fastNlMeansDenoisingColored, image, None, 6, 6, 5, 11)
        # Two frames: the second costs the DIS flows of the pair, the consistency mask, the warp and the blend.
        blend = BlendStabilizer(DEFAULT_STRENGTH)  # stabilize_frames resets it before the first frame
        costs.setdefault("blend (DIS flows + step)", {})[label] = _median_ms(repeats, stabilize_frames, [image, moved],
                                                                              [image, moved], blend, dis)
    return costs


def _rounded(value: Any, digits: int = 6) -> Any:
    """``value`` with every finite float rounded to ``digits`` significant digits (a smaller JSON file)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if np.isfinite(value) else value
    if isinstance(value, dict):
        return {key: _rounded(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(item, digits) for item in value]
    return value


def _median_ms(repeats: int, work: Callable[..., Any], *arguments: Any) -> float:
    """Median milliseconds of ``work(*arguments)`` over ``repeats`` runs after one warm-up run."""
    work(*arguments)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work(*arguments)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def fidelity_figure(summary: Sequence[dict[str, Any]], scoring: str) -> bytes:
    """A panel per held-out processor: the blending curve (ratio, PSNR) per source, both flicker modes
    pooled; the flicker-free reference and every other method a point; the processed video at
    ratio 1, PSNR inf; methods that hardly change it (above :data:`FIDELITY_CEILING`) share its band."""
    panels: dict[str, dict[str, list[tuple[float, float, str]]]] = {}
    for entry in summary:
        if entry["flicker"] != "both":
            continue
        panel = panels.setdefault(entry["processor"], {})
        point = (entry["ratio"][scoring], entry["psnr"])
        if entry["method"].startswith("blend a="):
            label = entry["method"].split("=")[1] if entry["source"] == "real" else ""  # one curve's labels: no overprint
            panel.setdefault(f"blend, {entry['source']} clips", []).append((*point, label))
        elif entry["method"] == PROCESSED:
            panel.setdefault(PROCESSED, [(*point, "")])
        elif entry["method"] == REFERENCE:
            panel.setdefault(f"{REFERENCE}, {entry['source']} clips", []).append((*point, ""))
        else:
            panel.setdefault(f"{entry['method']}, {entry['source']} clips", []).append((*point, ""))
    return fidelity_stability_plot(panels, x_label=f"warping error / processed video's ({scoring})",
                                   y_label="PSNR to the processed frames (dB)",
                                   title="Fidelity against stability on held-out processors (fresh and drift flicker)",
                                   y_ceiling=FIDELITY_CEILING)


def strip_figure(kept: dict[str, Any], scoring: str, columns: int = 5) -> bytes:
    """Frames of the kept example (original, processed, blend at the default strength, other methods)
    above every video's per-frame warping error."""
    videos = kept["videos"]
    length = len(videos["original"])
    picks = np.linspace(1, length - 1, columns).round().astype(int)
    default = f"blend a={DEFAULT_STRENGTH:g}"
    shown = [name for name in videos if name in ("original", PROCESSED, default) or not name.startswith("blend")]
    rows = {name: [videos[name][t] for t in picks] for name in shown}
    # Blend at strength 0 is the processed video itself (tested): one line for the two.
    series = {name: per_frame[scoring] for name, per_frame in kept["per_frame"].items() if name != "blend a=0"}
    return frame_strip_plot(rows, [f"t = {t}" for t in picks], series, y_label=f"warping error ({scoring})",
                            title=f"{kept['clip']}, {kept['processor']} ({kept['flicker']} flicker, seed {kept['seed']})")


# --------------------------------------------------------------------------------------------------
# The command.


def _parse_method(text: str) -> tuple[str, list[str]]:
    name, sep, runs = text.partition("=")
    folders = [run for run in runs.split(",") if run]
    if not sep or not name or not folders:
        raise argparse.ArgumentTypeError(f"--method takes NAME=RUN_FOLDER[,RUN_FOLDER...] (one folder per training seed), got {text!r}")
    return name, folders


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/real-corpus"),
                        help="the real-video corpus (its val/), as benchmarks/real_corpus.py builds it")
    parser.add_argument("--short-side", type=int, default=128, help="real clips' shorter side in pixels")
    parser.add_argument("--max-frames", type=int, default=60, help="frames per real shot at most")
    parser.add_argument("--synthetic", type=int, default=3, help="synthetic test clips")
    parser.add_argument("--synthetic-size", type=int, nargs=2, default=(128, 128), metavar=("H", "W"))
    parser.add_argument("--synthetic-frames", type=int, default=30)
    parser.add_argument("--processors", nargs="+", default=list(HELD_OUT_PROCESSORS), choices=list(PROCESSORS))
    parser.add_argument("--flicker", nargs="+", default=list(FLICKERS), choices=("fresh", "drift"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--strengths", type=float, nargs="+", default=list(STRENGTHS))
    parser.add_argument("--scorings", nargs="+", default=list(SCORINGS), choices=list(SCORINGS))
    parser.add_argument("--method", type=_parse_method, action="append", default=[], metavar="NAME=RUN[,RUN...]",
                        help="a learned stabiliser's run folder to evaluate beside blend, or several (its training seeds; "
                        "reported as their mean and spread); repeatable")
    parser.add_argument("--device", default="cpu", help="where learned stabilisers run")
    parser.add_argument("--flow-cache", default="auto", help="flow cache folder (auto: the user's; none: no cache)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "stabilize",
                        help="writes OUTPUT.md and OUTPUT.json")
    parser.add_argument("--figures", type=Path, default=ROOT / "docs" / "images", help="folder of the two PNG figures")
    parser.add_argument("--no-real", action="store_true", help="synthetic clips only")
    parser.add_argument("--cost-repeats", type=int, default=3, help="timed runs per processor and size")
    parser.add_argument("--cost-sizes", nargs="+", default=["128x228", "480x854"], metavar="HxW",
                        help="frame sizes of the cost table")
    parser.add_argument("--strip-clip", default="forensics-VID_20191220_170832#0",
                        help="the clip of the strip figure (default: a phone video of a dog; the longest real clip when absent)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: one real shot of 12 frames, one seed, one scoring")
    args = parser.parse_args(argv)
    commit, started = current_commit(), datetime.datetime.now(datetime.timezone.utc)  # what the numbers were computed from
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    if args.quick:
        args.max_frames, args.seeds, args.synthetic, args.scorings = 12, [0], 1, [HEADLINE]
    if not all(0 <= strength < 1 for strength in args.strengths):
        parser.error(f"--strengths must be in [0, 1), got {args.strengths}")
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    clips = [] if args.no_real else real_clips(args.corpus, args.short_side, args.max_frames)
    if args.quick:
        clips = clips[:1]
    clips += synthetic_clips(args.synthetic, tuple(args.synthetic_size), args.synthetic_frames) if args.synthetic else []
    if not clips:
        parser.error("no clips: give --corpus or --synthetic")
    cache = FlowConfig(cache_dir=None if args.flow_cache == "none" else args.flow_cache).build_cache()
    scorings = {name: SCORINGS[name] for name in args.scorings}
    methods: dict[str, Method] = {**blend_methods(args.strengths, make_flow_provider(METHOD_FLOW), cache),
                                  **dict(args.method)}
    longest = max(clips, key=lambda clip: (clip.source == "real", len(clip.frames)))
    strip_clip = next((clip for clip in clips if clip.name == args.strip_clip), longest)
    strip_key = (strip_clip.name, args.processors[0], args.flicker[0], args.seeds[0])
    log(f"{len(clips)} clips, {len(args.processors)} processors x {len(args.flicker)} flicker x {len(args.seeds)} seeds, "
        f"{len(methods)} methods, scorings {list(scorings)}")
    result = evaluate(methods, clips, processors=args.processors, flickers=args.flicker, seeds=args.seeds,
                      scorings=scorings, cache=cache, device=args.device, strip=strip_key, log=log)
    summary = summarize(result["rows"], list(scorings))
    sizes = [tuple(int(side) for side in size.split("x")) for size in args.cost_sizes]
    costs = processor_costs(longest.frames[0], sizes, args.cost_repeats)
    args.figures.mkdir(parents=True, exist_ok=True)
    figures = {"fidelity": args.figures / "stabilize-fidelity.png", "strip": args.figures / "stabilize-strip.png"}
    atomic_write_bytes(figures["fidelity"], fidelity_figure(summary, list(scorings)[0]))
    atomic_write_bytes(figures["strip"], strip_figure(result["strip"], list(scorings)[0]))
    kept = result["strip"]
    document = {
        "description": "Held-out flickering processors on the real corpus's val shots and synthetic test clips: the "
        "processed video, blend's fidelity-against-stability curve and any other method, scored against the original "
        "with flows the methods do not use (benchmarks/stabilize_eval.py; docs/stabilize.md).",
        "command": shlex.join(["python", "benchmarks/stabilize_eval.py", *(sys.argv[1:] if argv is None else argv)]),
        "commit": commit, "machine": machine_description(), "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "settings": {"short_side": args.short_side, "max_frames": args.max_frames, "processors": args.processors,
                     "flickers": args.flicker, "seeds": args.seeds, "strengths": args.strengths, "method_flow": METHOD_FLOW,
                     "synthetic": {"clips": args.synthetic, "size": list(args.synthetic_size), "frames": args.synthetic_frames}},
        "scorings": {name: list(value) for name, value in scorings.items()},
        "clips": [{"name": c.name, "source": c.source, "frames": int(len(c.frames)), "height": int(c.frames.shape[1]),
                   "width": int(c.frames.shape[2])} for c in clips],
        "costs": {"repeats": args.cost_repeats, "milliseconds": costs},
        "figures": {name: str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path) for name, path in figures.items()},
        "summary": summary,
        "strip": {key: kept[key] for key in ("clip", "processor", "flicker", "seed")} | {"per_frame": _rounded(kept["per_frame"])},
        "rows": _rounded(result["rows"]),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.output.with_suffix(".json"), document)
    atomic_write_text(args.output.with_suffix(".md"), markdown_report(document))
    log(f"wrote {args.output.with_suffix('.md')} and .json, {figures['fidelity']}, {figures['strip']}")
    return document


if __name__ == "__main__":
    main()
