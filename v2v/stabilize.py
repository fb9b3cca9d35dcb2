"""Make a per-frame method's flickering output temporally consistent: ``python -m v2v.stabilize``.

``--input`` is the original video and ``--processed`` the output of any per-frame method run on it
(a colorizer, a tone mapper, style transfer...), each a video file or a folder of frames, of one
size and length (checked: a clear error names both otherwise). The two are read in lockstep and
stabilised frame by frame (:func:`v2v.stabilization.stream_stabilize`): flows of the ORIGINAL's
consecutive pairs (``--flow``, DIS by default, through the flow cache), the state reset at scene
cuts of the original, each output frame written before the next pair is read, so any length runs
in constant memory.

Methods: ``blend`` (the default without a checkpoint; :class:`v2v.stabilization.BlendStabilizer`,
training-free, ``--strength``) and ``learned`` (``--checkpoint``: a trained stabiliser, loaded with
:func:`v2v.models.read_generator`; a checkpoint of any other task is refused, naming its task).

The output keeps the frame rate and audio of ``--processed`` (or, when that is a frame folder or has
no audio, of ``--input``) and is written under a temporary name, renamed into place only when every
frame is written (:class:`v2v.data.VideoWriter`): a failed run leaves nothing under the output
name. A name without a video extension writes a folder of PNG frames.

``--score`` also prints the temporal consistency of the output and of the processed video against
the original (:class:`v2v.scoring.StreamScorer`, flows of the original from ``--score-flow``, an
estimator the stabiliser does not use: Farneback by default) and the output's fidelity to the
processed frames (PSNR, SSIM). See docs/stabilize.md.

Example::

    python -m v2v.stabilize --input clip.mp4 --processed clip_toned.mp4 --output clip_stable.mp4 --score
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from v2v.config_engine import Checked, add_arguments, from_arguments, require
from v2v.data.video_io import VIDEO_EXTENSIONS, frame_to_uint8, open_video_reader
from v2v.data.video_writer import VideoWriter
from v2v.flow import DEFAULT_FLOW_PROVIDER, ESTIMATORS, DISFlowProvider, FlowConfig
from v2v.metrics import pooled_psnr
from v2v.models import read_generator
from v2v.runtime import CommandFailed, command_name, require_kernels, resolve_device, run_command
from v2v.scene_cuts import DEFAULT_THRESHOLD
from v2v.scoring import StreamScorer, check_video_pair, format_report, lockstep
from v2v.stabilization import DEFAULT_STRENGTH, BlendStabilizer, LearnedStabilizer, Stabilizer, stream_stabilize
from v2v.tables import text_table
from v2v.tasks import FidelityScorer, get_task

__all__ = ["METHODS", "SCORE_PROTOCOLS", "DEFAULT_SCORE_FLOW", "StabilizeConfig", "StabilizeResult", "load_stabilizer",
           "stabilize", "main"]

METHODS = ("blend", "learned")
"""``blend``: training-free flow-guided blending; ``learned``: a trained stabiliser (``--checkpoint``)."""

SCORE_PROTOCOLS = ("v2v", "lai")
"""The :data:`v2v.scoring.PROTOCOLS` that ``--score`` offers (both warp along the original's flows)."""

DEFAULT_SCORE_FLOW = "farneback"
"""The evaluation flows of ``--score``: an estimator that shares nothing with the stabiliser's DIS."""



@dataclass
class StabilizeConfig(Checked):
    """Options of one stabilisation run."""

    input: str
    """The original video (file or folder of PNG/JPEG frames): its motion guides the stabilisation."""
    processed: str
    """The per-frame method's output of --input (file or frame folder), of its size and length."""
    output: str
    """Output .mp4 (or another video extension) for a video file, any other path for a folder of PNG frames."""
    method: str | None = field(default=None, metadata={"choices": METHODS})
    """blend or learned (default: learned with --checkpoint, else blend)."""
    checkpoint: str | None = None
    """A learned stabiliser: run folder, .pt checkpoint or generator export of the stabilize task."""
    strength: float = DEFAULT_STRENGTH
    """Blend's strength a in [0, 1): out_t = a warp(out_{t-1}) + (1 - a) processed_t on reliable pixels; 0 returns --processed."""
    side_by_side: bool = False
    """Write processed | stabilised side by side."""
    flow: str = field(default=DEFAULT_FLOW_PROVIDER, metadata={"choices": ESTIMATORS})
    """Flow estimator of the original's pairs, which guides the stabiliser."""
    dis_preset: str = field(default=DISFlowProvider.DEFAULT_PRESET, metadata={"choices": DISFlowProvider.PRESETS})
    """OpenCV DIS preset (--flow dis, --score-flow dis)."""
    raft_weights: str | None = None
    """Local RAFT state-dict file (required by raft; nothing is downloaded)."""
    flow_cache: str = "auto"
    """Flow cache folder (auto: $V2V_FLOW_CACHE, else $XDG_CACHE_HOME/v2v/flows, else ~/.cache/v2v/flows)."""
    use_flow_cache: bool = field(default=True, metadata={"flag": "--no-flow-cache"})
    """Store computed flows in the cache (``--no-flow-cache``: compute every flow, store none)."""
    scene_cuts: bool = True
    """Reset the stabiliser at detected scene cuts of --input (:mod:`v2v.scene_cuts`)."""
    scene_cut_threshold: float = DEFAULT_THRESHOLD
    """Mean absolute luma-thumbnail difference in (0, 1] above which a frame starts a new shot."""
    score: bool = False
    """Also print the warping error of the output and of --processed against --input, and the output's PSNR and SSIM to --processed."""
    score_flow: str = field(default=DEFAULT_SCORE_FLOW, metadata={"choices": ESTIMATORS})
    """Flow estimator of --score; must differ from --flow (measured with its own flows, blending only reports its update back)."""
    score_protocol: str = field(default="v2v", metadata={"choices": SCORE_PROTOCOLS})
    """Warping-error protocol of --score (docs/metrics.md)."""
    fps: float | None = None
    """Frame rate of the output when --input and --processed are both frame folders (default 25); a video file's rate is kept."""
    device: str = "auto"
    """Where a learned stabiliser runs: auto (CUDA when available, else the CPU), cpu, cuda or cuda:N; blend runs on the CPU."""
    max_frames: int | None = None
    """Stabilise only the first N frames (default: all)."""
    overwrite: bool = False
    """Replace an existing output (only once the run succeeds)."""
    progress: bool = field(default=True, metadata={"flag": "--quiet"})
    """Show a progress bar (``--quiet``: none)."""

    def check(self) -> None:
        require(0 <= self.strength < 1, "strength", f"must be in [0, 1), got {self.strength}")
        require(self.max_frames is None or self.max_frames >= 1, "max_frames", f"must be >= 1, got {self.max_frames}")
        require(self.fps is None or self.fps > 0, "fps", f"must be > 0, got {self.fps}")
        require(0 < self.scene_cut_threshold <= 1, "scene_cut_threshold", f"must be in (0, 1], got {self.scene_cut_threshold}")
        require(self.method != "learned" or self.checkpoint is not None, "method",
                "learned needs --checkpoint (a trained stabiliser); without one use blend")
        require(self.method != "blend" or self.checkpoint is None, "checkpoint",
                "--method blend takes no checkpoint; drop --checkpoint or use --method learned")
        require(not self.score or self.score_flow != self.flow, "score_flow",
                f"{self.score_flow} is also the stabiliser's --flow: scored with its own flows, blending reports its own "
                "update back (docs/stabilize.md); choose another estimator")

    @property
    def resolved_method(self) -> str:
        """The method that runs: ``method``, or ``learned`` with a checkpoint and ``blend`` without."""
        return self.method or ("learned" if self.checkpoint is not None else "blend")

    def flow_config(self, provider: str) -> FlowConfig:
        """The flow provider ``provider`` with these options' settings and cache."""
        return FlowConfig(provider=provider, cache_dir=self.flow_cache if self.use_flow_cache else None,
                          dis_preset=self.dis_preset, raft_weights=self.raft_weights)


@dataclass
class StabilizeResult:
    """What a run wrote: the output path, frame count, frame rate, method, cut positions, speed,
    whether audio was carried, and (with ``score``) the scores: the
    :meth:`v2v.scoring.StreamScorer.report` of the output and the processed video against the
    original, and ``fidelity``: ``{"processed": path, "psnr", "ssim", "per_frame"}``, the output's
    PSNR (of the MSE pooled over frames, :func:`v2v.metrics.pooled_psnr`) and SSIM (mean over
    frames) to the processed frames."""

    output: Path
    frames: int
    fps: float
    method: str
    cuts: list[int] = field(default_factory=list)
    seconds: float = 0.0
    audio: bool = False
    scores: dict | None = None


def load_stabilizer(checkpoint: str | Path, device: torch.device) -> Stabilizer:
    """The learned stabiliser behind ``checkpoint``, a generator of the ``stabilize`` task
    (:class:`v2v.stabilization.LearnedStabilizer`).

    Raises:
        FileNotFoundError: nothing to load at ``checkpoint``.
        ValueError: not a v2v checkpoint, or a checkpoint of a task that is not a stabiliser (the
            message names the checkpoint and its task).
    """
    loaded = read_generator(checkpoint, map_location=device)
    task = get_task(loaded.config.task)
    if not task.processed_input:
        raise ValueError(f"--checkpoint {checkpoint} is a checkpoint of the {task.name!r} task "
                         f"({loaded.config.setting}), not a learned stabiliser: --checkpoint takes a checkpoint of the "
                         "'stabilize' task; without one, --method blend stabilises without training")
    return LearnedStabilizer(loaded.generator, task, device)


def _check_paths(config: StabilizeConfig) -> tuple[Path, Path, Path]:
    original, processed, destination = Path(config.input), Path(config.processed), Path(config.output)
    for flag, path in (("--input", original), ("--processed", processed)):
        if not path.exists():
            raise FileNotFoundError(f"{flag} {path} does not exist (expected a video file or a folder of frames)")
        if path.resolve() == destination.resolve():
            raise ValueError(f"--output {destination} is the {flag} video itself; choose another path")
    if destination.exists() and not config.overwrite:
        raise FileExistsError(f"--output {destination} exists; pass --overwrite to replace it")
    if not destination.parent.is_dir():
        raise FileNotFoundError(f"--output {destination}: the folder {destination.parent} does not exist")
    if config.fps is not None and (original.is_file() or processed.is_file()):
        raise ValueError("--fps applies when --input and --processed are both frame folders; a video file keeps its own frame rate")
    return original, processed, destination


def _fidelity_table(scores: dict) -> str:
    """The output's fidelity to the processed video and its warping error relative to it, as lines of text."""
    fidelity = scores["fidelity"]
    output, processed = scores["videos"]
    lines = [f"fidelity to --processed {fidelity['processed']} (PSNR in dB of the MSE over all frames, SSIM mean over frames; "
             "higher is closer)"]
    lines += text_table(["video", "psnr", "ssim"], [[output["path"], f"{fidelity['psnr']:.2f}", f"{fidelity['ssim']:.4f}"]])
    if processed["warping_error"] > 0:
        lines.append(f"warping error of the output: {output['warping_error'] / processed['warping_error']:.3f}x the processed video's")
    return "\n".join(lines)


def stabilize(config: StabilizeConfig) -> StabilizeResult:
    """Stabilise ``config.processed`` along ``config.input`` into ``config.output`` (see the module docstring).

    Raises:
        FileNotFoundError: a missing input or checkpoint.
        FileExistsError: the output exists and ``overwrite`` is False.
        ValueError: unreadable or corrupt input, videos not in lockstep (naming both), a checkpoint
            that is not a stabiliser, bad options.
        CommandFailed: the video could not be encoded or written (nothing was left under its name).
    """
    original_path, processed_path, destination = _check_paths(config)
    method = config.resolved_method
    stabilizer: Stabilizer
    if method == "learned":
        stabilizer = load_stabilizer(config.checkpoint, resolve_device(config.device))
    else:
        stabilizer = BlendStabilizer(config.strength)
    original = open_video_reader(original_path, fps=None if original_path.is_file() else config.fps)
    processed = open_video_reader(processed_path, fps=None if processed_path.is_file() else config.fps)
    check_video_pair(processed, str(processed_path), "--processed", original, str(original_path), config.max_frames,
                     ref_label="--input")
    keeps = processed if processed_path.is_file() else original  # the file whose frame rate (and audio) is kept
    audio_from = None
    if destination.suffix.lower() in VIDEO_EXTENSIONS:
        audio_from = next((path for path, reader in ((processed_path, processed), (original_path, original))
                           if path.is_file() and reader.audio_stream_info), None)
    flow = config.flow_config(config.flow)
    provider, cache = flow.build_provider(has_exact_flow=False), flow.build_cache()
    scorer = fidelity = None
    if config.score:
        score_flow = config.flow_config(config.score_flow)
        scorer = StreamScorer(config.score_protocol, score_flow.build_provider(has_exact_flow=False), score_flow.build_cache(),
                              num_outputs=2, tof=False)
        fidelity = FidelityScorer()

    total = original.num_frames if config.max_frames is None else min(original.num_frames or config.max_frames, config.max_frames)
    pairs = lockstep([original, processed], [str(original_path), str(processed_path)], ["--input", "--processed"], config.max_frames)
    stabilized = stream_stabilize(pairs, stabilizer, provider, cache,
                                  scene_cut_threshold=config.scene_cut_threshold if config.scene_cuts else None)
    started = time.perf_counter()
    written, cuts = 0, []
    bar = tqdm(total=total, unit="frame", desc=f"stabilize ({method})", disable=not config.progress, file=sys.stderr)
    try:
        with VideoWriter(destination, fps=keeps.fps, audio_from=audio_from, overwrite=config.overwrite) as writer:
            for frame in stabilized:
                if frame.new_shot:
                    cuts.append(written)
                if scorer is not None:  # the output as the writer stores it (8-bit, before side-by-side)
                    stored = frame_to_uint8(frame.output)
                    scorer.update([stored, frame.processed], frame.original)
                    fidelity.update(torch.from_numpy(stored).permute(2, 0, 1).float() / 255.0,
                                    torch.from_numpy(frame.processed).permute(2, 0, 1).float() / 255.0, None)
                shown = frame.output
                if config.side_by_side:
                    shown = torch.cat([torch.from_numpy(frame.processed).permute(2, 0, 1).float() / 255.0, shown], dim=2)
                writer.write(shown)
                written += 1
                bar.update(1)
            if written == 0:
                raise ValueError(f"--input {original_path} has no frames to stabilise")
    except (OSError, RuntimeError) as error:  # a disk or encoder failure: the writer discarded its output
        raise CommandFailed(f"stabilisation failed, nothing was written to {destination}: {error}") from error
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    scores = None
    if scorer is not None:
        scores = scorer.report([str(destination), str(processed_path)], str(original_path))
        series = fidelity.series()
        scores["fidelity"] = {"processed": str(processed_path), "psnr": pooled_psnr(series["psnr"]),
                              "ssim": fidelity.summary()["ssim"], "per_frame": series}
    return StabilizeResult(destination, written, keeps.fps, method, cuts, elapsed, audio_from is not None, scores)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command_name("v2v.stabilize"),
        description="Make a per-frame method's flickering output (--processed) temporally consistent along the motion "
        "of the original video (--input), frame by frame in constant memory: training-free flow-guided blending, or "
        "a learned stabiliser (--checkpoint). Keeps the frame rate and audio; scene cuts reset the state.",
    )
    add_arguments(parser, StabilizeConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (console script ``v2v-stabilize``); returns the exit status (0 success,
    2 bad input or options, 1 a failed write, 130 Ctrl-C)."""
    args = _parser().parse_args(argv)

    def work() -> int:
        config = from_arguments(StabilizeConfig, args)
        devices = ["cpu"] + ([resolve_device(config.device)] if config.resolved_method == "learned" else [])
        require_kernels(*devices)  # before any heavy work
        result = stabilize(config)
        speed = result.frames / result.seconds if result.seconds > 0 else float("inf")
        cuts = f", scene cuts before frames {result.cuts}" if result.cuts else ""
        audio = ", audio kept" if result.audio else ""
        strength = f" a={config.strength:g}" if result.method == "blend" else ""
        print(f"wrote {result.output}: {result.frames} frames at {result.fps:g} fps, {result.method}{strength} "
              f"({speed:.1f} frames/s{cuts}{audio})")
        if result.scores is not None:
            print(format_report(result.scores))
            print(_fidelity_table(result.scores))
        return 0

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
