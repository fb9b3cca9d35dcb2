"""DAVIS 2017 folders: scanning, reading frames and annotations, and writing the layout.

The layout (Pont-Tuset et al. 2017)::

    <root>/JPEGImages/<resolution>/<sequence>/00000.jpg ...
    <root>/Annotations/<resolution>/<sequence>/00000.png ...   (palette PNGs, one object id per pixel)
    <root>/ImageSets/2017/train.txt, val.txt                  (one sequence name per line)

Every non-zero object id is foreground (the paper segments all annotated objects as one). Annotation
files are matched to frames by file stem. Folders are validated when scanned: a missing folder or
list, an empty sequence, frames of different sizes, an annotation that does not match its frame or
is absent (when annotations are needed) each raise an error naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from v2v.frames import to_uint8

from .video_io import list_frame_files

__all__ = [
    "DAVIS_DOWNLOAD",
    "DatasetNotFoundError",
    "DavisSequence",
    "davis_split_file",
    "read_davis_split",
    "scan_davis",
    "read_annotation",
    "davis_palette",
    "write_davis_layout",
]

SPLIT_FOLDER = Path("ImageSets") / "2017"

DAVIS_DOWNLOAD = (
    "DAVIS 2017 is obtained from https://davischallenge.org/davis2017/code.html (the 'TrainVal 480p' "
    "download); the folder must hold JPEGImages/480p/<seq>/*.jpg, Annotations/480p/<seq>/*.png and "
    "ImageSets/2017/{train,val}.txt; pass it as data.root=<folder>"
)
"""Where DAVIS 2017 comes from and the layout expected, appended to missing-data errors."""


class DatasetNotFoundError(FileNotFoundError):
    """A data set's folder, split list or sequence is missing; the message says where the data is
    obtained and which layout is expected. The command lines print it as one line (exit status 2)."""


@dataclass(frozen=True)
class DavisSequence:
    """One DAVIS sequence: its frame files, its annotation files (or None) and frame size ``(H, W)``."""

    name: str
    frame_files: tuple[Path, ...]
    annotation_files: tuple[Path, ...] | None
    frame_size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.frame_files)


def davis_split_file(root: str | os.PathLike, split: str) -> Path:
    """Path of a split's sequence list, ``<root>/ImageSets/2017/<split>.txt``."""
    return Path(root) / SPLIT_FOLDER / f"{split}.txt"


def read_davis_split(root: str | os.PathLike, split: str) -> list[str]:
    """Sequence names of a split, in file order (blank lines and duplicates ignored).

    Raises:
        DatasetNotFoundError: the root or the list file is missing (the message lists the splits
            found, where DAVIS 2017 is obtained and the layout expected).
        ValueError: the list names no sequence.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(f"DAVIS root folder not found: {root}. {DAVIS_DOWNLOAD}")
    path = davis_split_file(root, split)
    if not path.is_file():
        found = sorted(p.stem for p in (root / SPLIT_FOLDER).glob("*.txt")) if (root / SPLIT_FOLDER).is_dir() else []
        if split == "test":
            raise DatasetNotFoundError(f"DAVIS split list not found: {path}; splits present: {found} (DAVIS 2017 evaluates on 'val')")
        raise DatasetNotFoundError(f"DAVIS split list not found: {path}; splits present: {found}. {DAVIS_DOWNLOAD}")
    names = []
    for line in path.read_text().splitlines():
        name = line.strip()
        if name and name not in names:
            names.append(name)
    if not names:
        raise ValueError(f"DAVIS split list {path} names no sequence")
    return names


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception as error:
        raise ValueError(f"cannot read image {path}: {error}") from error
    return height, width


def scan_davis(
    root: str | os.PathLike,
    split: str,
    resolution: str = "480p",
    need_annotations: bool = False,
) -> list[DavisSequence]:
    """Find and validate the sequences of a split.

    Args:
        root: DAVIS root folder.
        split: name of a list in ``ImageSets/2017`` (``"train"``, ``"val"``, ...).
        resolution: the resolution folder (``"480p"`` or ``"Full-Resolution"``).
        need_annotations: require an annotation for every frame (the segmentation task).

    Returns:
        The sequences in list order. Annotations are attached whenever the folder exists (and then
        must be complete), even when not needed.
    """
    root = Path(root)
    sequences = []
    for name in read_davis_split(root, split):
        frame_folder = root / "JPEGImages" / resolution / name
        if not frame_folder.is_dir():
            raise DatasetNotFoundError(f"DAVIS sequence {name!r} of {split}.txt has no frame folder {frame_folder}. {DAVIS_DOWNLOAD}")
        frames = list_frame_files(frame_folder)
        size = _image_size(frames[0])
        for path in frames[1:]:
            other = _image_size(path)
            if other != size:
                raise ValueError(
                    f"frame {path} is {other[0]}x{other[1]}, but {frames[0]} is {size[0]}x{size[1]}: "
                    "frames of one sequence must share a size"
                )
        annotation_folder = root / "Annotations" / resolution / name
        annotations = None
        if annotation_folder.is_dir():
            by_stem = {p.stem: p for p in annotation_folder.iterdir() if p.suffix.lower() == ".png"}
            annotations = []
            for frame in frames:
                match = by_stem.get(frame.stem)
                if match is None:
                    raise FileNotFoundError(
                        f"annotation {annotation_folder / (frame.stem + '.png')} for frame {frame} is missing"
                    )
                other = _image_size(match)
                if other != size:
                    raise ValueError(
                        f"annotation {match} is {other[0]}x{other[1]} but its frame {frame} is {size[0]}x{size[1]}"
                    )
                annotations.append(match)
            annotations = tuple(annotations)
        elif need_annotations:
            raise FileNotFoundError(
                f"the segmentation task needs annotations, but {annotation_folder} does not exist "
                f"(sequence {name!r})"
            )
        sequences.append(DavisSequence(name, tuple(frames), annotations, size))
    return sequences


def read_annotation(path: str | os.PathLike) -> np.ndarray:
    """Foreground of an annotation PNG: bool ``[H, W]``, True where the object id is non-zero.

    Palette and gray PNGs are read as ids; an RGB(A) PNG counts a pixel as foreground when any
    colour channel is non-zero.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGB", "RGBA"):
                ids = np.asarray(image.convert("RGB")).any(axis=2)
            elif image.mode in ("P", "L", "I", "I;16", "1", "LA", "PA"):
                array = np.asarray(image)
                ids = array[..., 0] != 0 if array.ndim == 3 else array != 0
            else:
                raise ValueError(f"unsupported PNG mode {image.mode}")
    except FileNotFoundError:
        raise FileNotFoundError(f"annotation not found: {path}") from None
    except Exception as error:
        raise ValueError(f"cannot read annotation {path}: {error}") from error
    return np.ascontiguousarray(ids, dtype=bool)


def davis_palette() -> list[int]:
    """The 256-colour palette of DAVIS annotations (the PASCAL VOC colour map), flat RGB list."""
    palette = []
    for index in range(256):
        red = green = blue = 0
        value = index
        for bit in range(8):
            red |= ((value >> 0) & 1) << (7 - bit)
            green |= ((value >> 1) & 1) << (7 - bit)
            blue |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette.extend((red, green, blue))
    return palette


def write_davis_layout(
    root: str | os.PathLike,
    sequences: dict[str, tuple[torch.Tensor, torch.Tensor | None]],
    splits: dict[str, list[str]],
    resolution: str = "480p",
    jpeg_quality: int = 95,
) -> Path:
    """Write clips as a DAVIS 2017 folder (used by the tests; handy to export synthetic data).

    Args:
        root: destination root (created).
        sequences: name -> ``(frames, labels)`` with frames ``[T, 3, H, W]`` float [0, 1] or uint8,
            labels ``[T, 1, H, W]`` integer object ids (0 background) or None (no annotations).
        splits: split name -> sequence names (written to ``ImageSets/2017/<split>.txt``).
        resolution: resolution folder name.
        jpeg_quality: JPEG quality of the frames.

    Returns:
        The root path.
    """
    root = Path(root)
    for name, (frames, labels) in sequences.items():
        frame_folder = root / "JPEGImages" / resolution / name
        frame_folder.mkdir(parents=True, exist_ok=True)
        data = to_uint8(frames)
        for index, frame in enumerate(data.permute(0, 2, 3, 1).numpy()):
            path = frame_folder / f"{index:05d}.jpg"
            if not cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]):
                raise OSError(f"cannot write {path}")
        if labels is not None:
            annotation_folder = root / "Annotations" / resolution / name
            annotation_folder.mkdir(parents=True, exist_ok=True)
            for index, label in enumerate(labels[:, 0].numpy()):
                image = Image.fromarray(label.astype(np.uint8), mode="P")
                image.putpalette(davis_palette())
                image.save(annotation_folder / f"{index:05d}.png")
    split_folder = root / SPLIT_FOLDER
    split_folder.mkdir(parents=True, exist_ok=True)
    for split, names in splits.items():
        (split_folder / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    return root
