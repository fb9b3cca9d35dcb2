"""Score the temporal consistency of any method's output videos: ``python -m v2v.score``.

No checkpoint and no GPU: the outputs of any methods, produced from one input video, are read
frame by frame next to that input (``--reference``), flows come from a :mod:`v2v.flow` provider
(kept in memory, or in the flow cache with ``--flow-cache``), and every pair of consecutive frames is scored as it streams by, so
memory holds two frames of each video and the flows of one pair whatever the length. The measures
and protocols are :mod:`v2v.scoring`'s; this module is their command line.

Example::

    python -m v2v.score ours.mp4 baseline.mp4 --reference input.mp4 --protocol lai --json scores.json --plot we.png

See ``docs/metrics.md`` ("Scoring any video") for the protocols side by side.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from v2v.config_engine import add_arguments, from_arguments, require
from v2v.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from v2v.flow import DEFAULT_FLOW_PROVIDER, ESTIMATORS, DISFlowProvider, FlowConfig
from v2v.plotting import per_frame_plot
from v2v.runtime import ThreadsOption, command_name, require_kernels, run_command, use_threads
from v2v.scoring import DEFAULT_PROTOCOL, PROTOCOLS, format_csv, format_report, score_videos

__all__ = ["ScoreConfig", "main"]


@dataclass
class ScoreConfig(ThreadsOption):
    """Options of one scoring run."""

    outputs: tuple[str, ...] = field(metadata={"positional": True, "metavar": "OUTPUT"})
    """Output video files or frame folders to score, side by side."""
    reference: str
    """The input video (file or frame folder) the outputs were made from."""
    target: str | None = None
    """Ground-truth video (required by --protocol davis: the masks); tOF compares against it when given."""
    protocol: str = field(default=DEFAULT_PROTOCOL, metadata={"choices": tuple(PROTOCOLS)})
    """How to score (see docs/metrics.md)."""
    flow: str = field(default=DEFAULT_FLOW_PROVIDER, metadata={"choices": ESTIMATORS})
    """Flow provider."""
    dis_preset: str = field(default=DISFlowProvider.DEFAULT_PRESET, metadata={"choices": DISFlowProvider.PRESETS})
    """OpenCV DIS preset."""
    raft_weights: str | None = None
    """Local RAFT state-dict file (required by --flow raft; nothing is downloaded)."""
    flow_cache: str | None = None
    """Also keep the computed flows on disk for later runs on the same videos: ``auto`` (the user's flow
    cache: $V2V_FLOW_CACHE, else $XDG_CACHE_HOME/v2v/flows, else ~/.cache/v2v/flows; at most
    $V2V_FLOW_CACHE_MAX_GB, default 2 GB) or a folder. None (the default): each pair's flows live in
    memory while it is scored and nothing is written (a 640x480 pair takes 4.9 MB on disk)."""
    tof: bool = True
    """Compute tOF (``--no-tof``: no flows of the outputs are computed, except for output-flow)."""
    max_frames: int | None = None
    """Score only the first N frames of every video."""
    fps: float | None = None
    """Frame rate of frame-folder inputs (not used by the measures)."""
    json: str | None = None
    """Write the protocol, the per-video and per-frame values as JSON."""
    csv: str | None = None
    """Write the per-frame values as CSV."""
    plot: str | None = None
    """Write a PNG of every output's per-frame warping error."""
    progress: bool = field(default=True, metadata={"flag": "--quiet"})
    """Show a progress bar (``--quiet``: none)."""

    def check(self) -> None:
        super().check()
        require(len(self.outputs) >= 1, "outputs", "give at least one OUTPUT video to score")
        require(self.max_frames is None or self.max_frames >= 2, "max_frames", f"must be at least 2 (one frame pair), got {self.max_frames}")
        for key in ("json", "csv", "plot"):
            value = getattr(self, key)
            if value is None:
                continue
            require(not Path(value).is_dir(), key, f"{value} is a folder; give a file name")
            require(Path(value).parent.is_dir(), key, f"{value}: the folder {Path(value).parent} does not exist")
        require(self.plot is None or Path(self.plot).suffix.lower() == ".png", "plot", f"{self.plot} must end in .png")

    @property
    def flow_config(self) -> FlowConfig:
        """The flow provider and cache these options name."""
        return FlowConfig(provider=self.flow, cache_dir=self.flow_cache, dis_preset=self.dis_preset, raft_weights=self.raft_weights)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command_name("v2v.score"),
        description="Score the temporal consistency of output videos made from one input video (any method, no "
        "checkpoint, no GPU): warping error (MSE, L1), tOF, flicker, and for mask videos J, F, T. Streams the videos "
        "frame by frame in bounded memory. Protocols: "
        + "; ".join(f"{name}: {spec.title}" for name, spec in PROTOCOLS.items()) + ".",
    )
    add_arguments(parser, ScoreConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (console script ``v2v-score``).

    Returns:
        0 on success; 2 for bad input or options (one line on stderr, nothing written); 1 when a
        result could not be written; 130 on Ctrl-C.
    """
    args = _parser().parse_args(argv)

    def work() -> int:
        config = from_arguments(ScoreConfig, args)
        use_threads(config.threads)
        require_kernels("cpu")  # before any heavy work: the metrics run the compiled op on the CPU
        flow = config.flow_config
        cache = flow.build_cache()
        report = score_videos(
            config.outputs, config.reference, protocol=config.protocol, target=config.target,
            provider=flow.build_provider(has_exact_flow=False), cache=cache, tof=config.tof,
            max_frames=config.max_frames, fps=config.fps, progress=config.progress,
        )
        # Everything is computed before anything is written, so a failure above leaves no file behind.
        if config.json is not None:
            atomic_write_json(config.json, report)
        if config.csv is not None:
            atomic_write_text(config.csv, format_csv(report))
        if config.plot is not None:
            atomic_write_bytes(config.plot, per_frame_plot(report))
        print(format_report(report))
        if cache is not None:
            print(cache.usage().describe(), file=sys.stderr)
        return 0

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
