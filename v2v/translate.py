"""Translate a video file or a folder of frames with a trained generator: ``python -m v2v.translate``.

The video is streamed: each frame is read, converted to the input of the task the checkpoint's
config names (RGB for segmentation, luma for colorization, bicubic /2 then x2 for
super-resolution; :meth:`v2v.data.Task.input`), translated by ``generator.step`` with the
recurrent state of the previous frame (:class:`v2v.inference.StreamingTranslator`), shown as the
task shows outputs (:meth:`v2v.data.Task.display`) and written before the next one is read, so any
length and any resolution run in constant memory. A detected scene cut (:mod:`v2v.scene_cuts`)
resets the state, so one shot does not smear into the next.

The output keeps the input's frame rate and, for video files, its audio (carried across by
``v2v.data.video_io.VideoWriter``). It is written under a temporary name and renamed into place
only when every frame has been written: a failed or interrupted run leaves nothing under the
requested name (an existing output is replaced only on success).

Example::

    python -m v2v.translate --checkpoint runs/colorization --input clip.mp4 --output clip_color.mp4 --side-by-side
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from v2v.scene_cuts import DEFAULT_THRESHOLD

__all__ = ["TranslateConfig", "TranslateResult", "translate", "main"]


@dataclass
class TranslateConfig:
    """Options of one translation run.

    Attributes:
        checkpoint: run directory (its newest checkpoint) or checkpoint file.
        input: video file or folder of PNG/JPEG frames.
        output: ``.mp4`` (or another video extension) for a video file, any other path for a PNG folder.
        side_by_side: write ``model input | output`` side by side.
        scene_cut_threshold: threshold of :class:`v2v.scene_cuts.SceneCutDetector`; None disables
            cut detection (the state then runs through the whole video).
        fps: frame rate of a frame-folder input (default 25; a video file keeps its own).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        max_frames: translate only the first frames (None: all).
        overwrite: replace an existing output (on success only).
        progress: show a progress bar.
        precision: ``"fp32"``, or ``"bf16"`` to run the generator under bfloat16 autocast (CUDA).
        score: also score the written video's temporal consistency against the input while
            streaming (``v2v.score``'s default protocol: DIS flows of the input, through the default
            flow cache, ``FlowConfig.cache_dir = "auto"``); the numbers land in :attr:`TranslateResult.scores`.
    """

    checkpoint: str
    input: str
    output: str
    side_by_side: bool = False
    scene_cut_threshold: float | None = DEFAULT_THRESHOLD
    fps: float | None = None
    device: str = "auto"
    max_frames: int | None = None
    overwrite: bool = False
    progress: bool = True
    precision: str = "fp32"
    score: bool = False


@dataclass
class TranslateResult:
    """What a run wrote: the output path, frame count, frame rate, cut positions and speed.

    ``scores`` is the report of :meth:`v2v.score.StreamScorer.report` when the run was asked to
    score (``TranslateConfig.score``), else None.
    """

    output: Path
    frames: int
    fps: float
    cuts: list[int] = field(default_factory=list)
    seconds: float = 0.0
    audio: bool = False
    scores: dict | None = None


def _check_paths(config: TranslateConfig) -> tuple[Path, Path]:
    source = Path(config.input)
    destination = Path(config.output)
    if not source.exists():
        raise FileNotFoundError(f"--input {source} does not exist (expected a video file or a folder of frames)")
    if source.resolve() == destination.resolve():
        raise ValueError(f"--output {destination} is the input itself; choose another path")
    if destination.exists() and not config.overwrite:
        raise FileExistsError(f"--output {destination} exists; pass --overwrite to replace it")
    if config.max_frames is not None and config.max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1, got {config.max_frames}")
    if config.precision not in ("fp32", "bf16"):
        raise ValueError(f"--precision must be fp32 or bf16, got {config.precision!r}")
    return source, destination


def _frames(reader, max_frames: int | None) -> Iterator[np.ndarray]:
    """The reader's uint8 ``[H, W, 3]`` frames, the first ``max_frames`` of them (None: all)."""
    for index, image in enumerate(reader):
        if max_frames is not None and index >= max_frames:
            return
        yield image


def _as_rgb(frame: torch.Tensor) -> torch.Tensor:
    """A ``[1 or 3, H, W]`` frame as ``[3, H, W]`` (gray repeated)."""
    return frame.expand(3, -1, -1) if frame.shape[0] == 1 else frame


def translate(config: TranslateConfig) -> TranslateResult:
    """Translate ``config.input`` into ``config.output`` (see the module docstring).

    Raises:
        FileNotFoundError: missing input or checkpoint.
        FileExistsError: the output exists and ``overwrite`` is False.
        ValueError: unreadable or corrupt input or checkpoint, bad options.
    """
    from tqdm import tqdm

    from v2v.data import get_task, to_unit_range
    from v2v.data.video_io import VIDEO_EXTENSIONS, VideoWriter, open_video_reader
    from v2v.inference import StreamingTranslator, resolve_device
    from v2v.models import load_generator
    from v2v.scene_cuts import SceneCutDetector

    source, destination = _check_paths(config)
    device = resolve_device(config.device)
    generator, run_config = load_generator(config.checkpoint, map_location=device)
    task = get_task(run_config.task)
    is_video_file = source.is_file()
    reader = open_video_reader(source, fps=None if is_video_file else config.fps)
    if is_video_file and config.fps is not None:
        raise ValueError("--fps applies to frame-folder inputs; a video file keeps its own frame rate")
    audio_from = None
    if is_video_file and destination.suffix.lower() in VIDEO_EXTENSIONS and reader.audio_stream_info:
        audio_from = source
    detector = SceneCutDetector(config.scene_cut_threshold) if config.scene_cut_threshold is not None else None
    total = reader.num_frames
    if total is not None and config.max_frames is not None:
        total = min(total, config.max_frames)
    autocast = torch.bfloat16 if config.precision == "bf16" else None
    translator = StreamingTranslator(generator, device, autocast)
    scorer = None
    if config.score:
        from v2v.data.video_io import frame_to_uint8
        from v2v.flow import DEFAULT_FLOW_PROVIDER, FlowConfig
        from v2v.score import DEFAULT_PROTOCOL, StreamScorer

        flow_config = FlowConfig(provider=DEFAULT_FLOW_PROVIDER)
        scorer = StreamScorer(DEFAULT_PROTOCOL, flow_config.build_provider(has_exact_flow=False), flow_config.build_cache())

    started = time.perf_counter()
    written = 0
    bar = tqdm(total=total, unit="frame", desc=f"translate ({task.name})", disable=not config.progress, file=sys.stderr)
    with VideoWriter(destination, fps=reader.fps, audio_from=audio_from, overwrite=config.overwrite) as writer:
        # One frame at a time, in order: read, detect a cut, translate, write.
        for image in _frames(reader, config.max_frames):
            new_shot = detector.update(image) if detector is not None else False
            model_input = task.input(torch.from_numpy(image).permute(2, 0, 1))
            frame = task.display(translator.step(model_input, new_shot))
            if scorer is not None:  # the output as the writer stores it (8-bit, before side-by-side)
                scorer.update([frame_to_uint8(frame)], image)
            if config.side_by_side:
                frame = torch.cat([_as_rgb(to_unit_range(model_input).clamp(0, 1)), _as_rgb(frame)], dim=2)
            writer.write(frame)
            written += 1
            bar.update(1)
        if written == 0:
            raise ValueError(f"--input {source} has no frames to translate")
    bar.close()
    elapsed = time.perf_counter() - started
    scores = scorer.report([str(destination)], str(source)) if scorer is not None else None
    return TranslateResult(destination, written, reader.fps, list(detector.cuts) if detector else [], elapsed,
                           audio_from is not None, scores)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m v2v.translate",
        description="Translate a video file or a folder of frames with a trained v2v generator, frame by frame "
        "(constant memory). The task's input transform is applied automatically; the output keeps the input's "
        "frame rate and audio; scene cuts reset the recurrent state.",
    )
    parser.add_argument("--checkpoint", required=True, help="run directory (newest checkpoint) or checkpoint .pt file")
    parser.add_argument("--input", required=True, help="input video file (.mp4, .mov, .mkv, ...) or folder of PNG/JPEG frames")
    parser.add_argument("--output", required=True, help="output .mp4 (or other video extension) or a folder for PNG frames")
    parser.add_argument("--side-by-side", action="store_true", help="write 'model input | output' side by side")
    parser.add_argument("--scene-cut-threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="mean absolute luma-thumbnail difference in [0, 1] above which a frame starts a new shot "
                        f"and the recurrent state is reset (default {DEFAULT_THRESHOLD}; see v2v/scene_cuts.py)")
    parser.add_argument("--no-scene-cuts", action="store_true", help="never reset the recurrent state")
    parser.add_argument("--fps", type=float, default=None, help="frame rate of a frame-folder input (default 25)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--max-frames", type=int, default=None, help="translate only the first N frames")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output (only once the run succeeds)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="fp32 (default), or bf16 autocast for the generator (fastest on recent GPUs)")
    parser.add_argument("--score", action="store_true",
                        help="also print the written video's temporal consistency against the input (python -m v2v.score's "
                        "default protocol, computed while streaming)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 success, 2 bad input or options, 1 other failure)."""
    args = _parser().parse_args(argv)
    config = TranslateConfig(
        checkpoint=args.checkpoint,
        input=args.input,
        output=args.output,
        side_by_side=args.side_by_side,
        scene_cut_threshold=None if args.no_scene_cuts else args.scene_cut_threshold,
        fps=args.fps,
        device=args.device,
        max_frames=args.max_frames,
        overwrite=args.overwrite,
        progress=not args.quiet,
        precision=args.precision,
        score=args.score,
    )
    try:  # before any heavy work: the compiled op must have kernels for the device
        import v2vcore
        from v2v.inference import resolve_device

        v2vcore.check_device(resolve_device(config.device))
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        result = translate(config)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as error:  # e.g. a disk or encoder failure: the output was discarded
        print(f"error: translation failed, nothing was written to {args.output}: {error}", file=sys.stderr)
        return 1
    speed = result.frames / result.seconds if result.seconds > 0 else float("inf")
    cuts = f", scene cuts before frames {result.cuts}" if result.cuts else ""
    audio = ", audio kept" if result.audio else ""
    print(f"wrote {result.output}: {result.frames} frames at {result.fps:g} fps ({speed:.1f} frames/s{cuts}{audio})")
    if result.scores is not None:
        from v2v.score import format_table

        print(format_table(result.scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
