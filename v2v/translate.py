"""Translate a video file or a folder of frames with a trained generator: ``python -m v2v.translate``.

The video is streamed (:func:`v2v.inference.stream_translate`): each frame is read, converted to the
input of the task the checkpoint's config names (RGB for segmentation, luma for colorization,
bicubic /2 then x2 for super-resolution; :meth:`v2v.tasks.Task.input`), translated by
``generator.step`` with the recurrent state of the previous frame, shown as the task shows outputs
(:meth:`v2v.tasks.Task.display`) and written before the next one is read, so any length and any
resolution run in constant memory. A detected scene cut (:mod:`v2v.scene_cuts`) resets the state,
so one shot does not smear into the next.

The output keeps the input's frame rate and, for video files, its audio (carried across by
:class:`v2v.data.VideoWriter`). It is written under a temporary name and renamed into place only
when every frame has been written: a failed or interrupted run leaves nothing under the requested
name (an existing output is replaced only on success).

Example::

    python -m v2v.translate --checkpoint runs/colorization --input clip.mp4 --output clip_color.mp4 --side-by-side
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import torch
from tqdm import tqdm

from v2v.config_engine import add_arguments, from_arguments, require
from v2v.data.video_io import frame_to_uint8, open_video_reader
from v2v.data.video_writer import VideoWriter, output_format
from v2v.flow import DEFAULT_FLOW_PROVIDER, FlowCache, FlowConfig
from v2v.frames import to_unit_range
from v2v.inference import stream_translate
from v2v.models import read_generator
from v2v.runtime import (
    CommandFailed,
    ThreadsOption,
    command_name,
    require_kernels,
    resolve_device,
    resolve_precision,
    run_command,
    use_threads,
)
from v2v.scene_cuts import DEFAULT_THRESHOLD
from v2v.scoring import DEFAULT_PROTOCOL, StreamScorer, format_report
from v2v.tasks import get_task

__all__ = ["TranslateConfig", "TranslateResult", "translate", "main"]


@dataclass
class TranslateConfig(ThreadsOption):
    """Options of one translation run."""

    checkpoint: str
    """Run directory (its newest checkpoint), checkpoint ``.pt`` file or ``generator.safetensors``."""
    input: str
    """Input video file (``.mp4``, ``.mov``, ``.mkv``, ...) or folder of PNG/JPEG frames."""
    output: str
    """Output video file: ``.mp4``, ``.mkv``, ``.mov``, ``.m4v``, ``.avi``, ``.webm``, ``.gif``, ``.mpg``, ``.ts`` or
    ``.flv``; a name without an extension (or ``--frames``) writes a folder of PNG frames."""
    frames: bool = False
    """Write a folder of PNG frames at ``--output``, whatever its name."""
    side_by_side: bool = False
    """Write ``model input | output`` side by side."""
    scene_cuts: bool = True
    """Reset the recurrent state at detected scene cuts (:mod:`v2v.scene_cuts`)."""
    scene_cut_threshold: float = DEFAULT_THRESHOLD
    """Mean absolute luma-thumbnail difference in (0, 1] above which a frame starts a new shot."""
    fps: float | None = None
    """Frame rate of a frame-folder input (default 25); a video file keeps its own."""
    device: str = "auto"
    """Where the generator runs: auto (CUDA when available, else the CPU), cpu, cuda or cuda:N."""
    max_frames: int | None = None
    """Translate only the first N frames (default: all)."""
    overwrite: bool = False
    """Replace an existing output (only once the run succeeds)."""
    progress: bool = field(default=True, metadata={"flag": "--quiet"})
    """Show a progress bar (``--quiet``: none)."""
    precision: str = field(default="fp32", metadata={"choices": ("fp32", "bf16")})
    """fp32, or bf16 autocast for the generator (fastest on recent GPUs)."""
    score: bool = False
    """Also print the written video's temporal consistency against the input (``python -m v2v.score``'s
    default protocol: DIS flows of the input, computed while streaming and kept in memory)."""
    flow_cache: str | None = None
    """With --score: also keep the flows in the flow cache for later runs, ``auto`` (the user's flow cache,
    at most $V2V_FLOW_CACHE_MAX_GB, default 2 GB) or a folder; none (default): nothing is written."""

    def check(self) -> None:
        super().check()
        require(self.flow_cache is None or self.score, "flow_cache", "keeps the flows of --score; add --score")
        require(self.max_frames is None or self.max_frames >= 1, "max_frames", f"must be >= 1, got {self.max_frames}")
        require(self.fps is None or self.fps > 0, "fps", f"must be > 0, got {self.fps}")
        require(0 < self.scene_cut_threshold <= 1, "scene_cut_threshold", f"must be in (0, 1], got {self.scene_cut_threshold}")


@dataclass
class TranslateResult:
    """What a run wrote: the output path, frame count, frame rate, cut positions and speed.

    ``scores`` is the report of :meth:`v2v.scoring.StreamScorer.report` when the run was asked to
    score (``TranslateConfig.score``), else None; ``audio_note`` says why the input's audio was not
    kept (a container without audio); ``flow_cache`` is the flow cache ``--score`` kept its flows in.
    """

    output: Path
    frames: int
    fps: float
    cuts: list[int] = field(default_factory=list)
    seconds: float = 0.0
    audio: bool = False
    scores: dict | None = None
    audio_note: str | None = None
    flow_cache: FlowCache | None = None


def _check_paths(config: TranslateConfig) -> tuple[Path, Path]:
    source = Path(config.input)
    destination = Path(config.output)
    if not source.exists():
        raise FileNotFoundError(f"--input {source} does not exist (expected a video file or a folder of frames)")
    if source.resolve() == destination.resolve():
        raise ValueError(f"--output {destination} is the input itself; choose another path")
    if destination.exists() and not config.overwrite:
        raise FileExistsError(f"--output {destination} exists; pass --overwrite to replace it")
    if not destination.parent.is_dir():
        raise FileNotFoundError(f"--output {destination}: the folder {destination.parent} does not exist")
    if source.is_file() and config.fps is not None:
        raise ValueError("--fps applies to frame-folder inputs; a video file keeps its own frame rate")
    try:
        output_format(destination, config.frames)
    except ValueError as error:
        raise ValueError(f"--output {error}") from None
    return source, destination


def _as_rgb(frame: torch.Tensor) -> torch.Tensor:
    """A ``[1 or 3, H, W]`` frame as ``[3, H, W]`` (gray repeated)."""
    return frame.expand(3, -1, -1) if frame.shape[0] == 1 else frame


def translate(config: TranslateConfig) -> TranslateResult:
    """Translate ``config.input`` into ``config.output`` (see the module docstring).

    Raises:
        FileNotFoundError: missing input or checkpoint.
        FileExistsError: the output exists and ``overwrite`` is False.
        ValueError: unreadable or corrupt input or checkpoint, bad options.
        CommandFailed: the video could not be encoded or written (nothing was left under its name).
    """
    source, destination = _check_paths(config)
    use_threads(config.threads)
    device = resolve_device(config.device)
    loaded = read_generator(config.checkpoint, map_location=device)
    task_name = loaded.config.task
    if get_task(task_name).processed_input:
        raise ValueError(f"--checkpoint {config.checkpoint} is a {task_name} checkpoint: it takes a per-frame method's output "
                         "beside the original video; run it with python -m v2v.stabilize --input ORIGINAL --processed "
                         "PROCESSED --checkpoint RUN")
    reader = open_video_reader(source, fps=None if source.is_file() else config.fps)
    to_file = output_format(destination, config.frames) is not None
    audio_from = source if source.is_file() and to_file and reader.audio_stream_info else None
    total = reader.num_frames if config.max_frames is None else min(reader.num_frames or config.max_frames, config.max_frames)
    scorer, flow_cache = None, None
    if config.score:
        flow_config = FlowConfig(provider=DEFAULT_FLOW_PROVIDER, cache_dir=config.flow_cache)
        flow_cache = flow_config.build_cache()
        scorer = StreamScorer(DEFAULT_PROTOCOL, flow_config.build_provider(has_exact_flow=False), flow_cache)

    started = time.perf_counter()
    written, cuts = 0, []
    frames = islice(reader, config.max_frames)
    translated = stream_translate(
        loaded.generator, get_task(task_name), frames, device,
        scene_cut_threshold=config.scene_cut_threshold if config.scene_cuts else None,
        autocast=resolve_precision(config.precision, device),
    )
    # The writer refuses what it cannot store (a frame rate MPEG-2 lacks) before the progress bar starts.
    writer = VideoWriter(destination, fps=reader.fps, audio_from=audio_from, overwrite=config.overwrite,
                         frames=config.frames, threads=config.threads)
    bar = tqdm(total=total, unit="frame", desc=f"translate ({task_name})", disable=not config.progress, file=sys.stderr)
    try:
        with writer:
            for frame in translated:
                if frame.new_shot:
                    cuts.append(written)
                if scorer is not None:  # the output as the writer stores it (8-bit, before side-by-side)
                    scorer.update([frame_to_uint8(frame.output)], frame.image)
                shown = frame.output
                if config.side_by_side:
                    shown = torch.cat([_as_rgb(to_unit_range(frame.model_input).clamp(0, 1)), _as_rgb(shown)], dim=2)
                writer.write(shown)
                written += 1
                bar.update(1)
            if written == 0:
                raise ValueError(f"--input {source} has no frames to translate")
    except (OSError, RuntimeError) as error:  # a disk or encoder failure: the writer discarded its output
        raise CommandFailed(f"translation failed, nothing was written to {destination}: {error}") from error
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    scores = scorer.report([str(destination)], str(source)) if scorer is not None else None
    kept_audio = audio_from is not None and writer.audio_note is None
    return TranslateResult(destination, written, reader.fps, cuts, elapsed, kept_audio, scores, writer.audio_note, flow_cache)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command_name("v2v.translate"),
        description="Translate a video file or a folder of frames with a trained v2v generator, frame by frame "
        "(constant memory). The task's input transform is applied automatically; the output keeps the input's "
        "frame rate and audio; scene cuts reset the recurrent state.",
    )
    add_arguments(parser, TranslateConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 success, 2 bad input or options, 1 a
    failed write, 130 Ctrl-C)."""
    args = _parser().parse_args(argv)

    def work() -> int:
        config = from_arguments(TranslateConfig, args)
        require_kernels(resolve_device(config.device))  # before any heavy work
        result = translate(config)
        speed = result.frames / result.seconds if result.seconds > 0 else float("inf")
        cuts = f", scene cuts before frames {result.cuts}" if result.cuts else ""
        audio = ", audio kept" if result.audio else (f"; {result.audio_note}" if result.audio_note else "")
        print(f"wrote {result.output}: {result.frames} frames at {result.fps:g} fps ({speed:.1f} frames/s{cuts}{audio})")
        if result.scores is not None:
            print(format_report(result.scores))
        if result.flow_cache is not None:
            print(result.flow_cache.usage().describe(), file=sys.stderr)
        return 0

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
