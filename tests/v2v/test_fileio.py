"""Atomic writes (v2v.fileio): the destination is either the old or the new complete content."""

from __future__ import annotations

import json
import os
import stat

import pytest

from v2v.fileio import (
    AtomicTarget,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    current_umask,
)


def _entries(folder):
    return sorted(path.name for path in folder.iterdir())


def test_write_text_and_bytes_replace_the_file(tmp_path):
    path = tmp_path / "report.json"
    atomic_write_text(path, "first\n")
    assert path.read_text() == "first\n"
    atomic_write_bytes(path, b"\x00second")
    assert path.read_bytes() == b"\x00second"
    assert _entries(tmp_path) == ["report.json"]


def test_failed_write_leaves_the_old_file_intact_and_no_temporary(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("old complete content\n")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(path) as temporary:
            temporary.write_text("half of the new")
            raise RuntimeError("disk full")
    assert path.read_text() == "old complete content\n"
    assert _entries(tmp_path) == ["config.yaml"]


def test_unencodable_text_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "eval.md"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "caf\u00e9", encoding="ascii")
    assert path.read_text() == "old"
    assert _entries(tmp_path) == ["eval.md"]


def test_temporary_is_hidden_beside_the_destination_and_keeps_the_extension_on_request(tmp_path):
    with atomic_path(tmp_path / "clip.mp4", keep_extension=True) as temporary:
        assert temporary.parent == tmp_path
        assert temporary.name.startswith(".clip.mp4.") and temporary.name.endswith(".tmp.mp4")
        temporary.write_bytes(b"video")
    with atomic_path(tmp_path / "step_0000004.pt") as temporary:
        assert temporary.name.startswith(".step_0000004.pt.") and temporary.name.endswith(".tmp")
    assert _entries(tmp_path) == ["clip.mp4", "step_0000004.pt"]


def test_folder_target_replaces_an_existing_folder_whole(tmp_path):
    destination = tmp_path / "frames"
    destination.mkdir()
    (destination / "000000.png").write_bytes(b"old")
    (destination / "000001.png").write_bytes(b"old")
    with atomic_path(destination, directory=True) as temporary:
        assert temporary.is_dir() and not any(temporary.iterdir())
        (temporary / "000000.png").write_bytes(b"new")
    assert _entries(destination) == ["000000.png"]
    assert (destination / "000000.png").read_bytes() == b"new"
    assert _entries(tmp_path) == ["frames"]


def test_failed_folder_write_keeps_the_old_folder(tmp_path):
    destination = tmp_path / "frames"
    destination.mkdir()
    (destination / "000000.png").write_bytes(b"old")
    with pytest.raises(OSError):
        with atomic_path(destination, directory=True) as temporary:
            (temporary / "000000.png").write_bytes(b"new")
            raise OSError("encoder failed")
    assert (destination / "000000.png").read_bytes() == b"old"
    assert _entries(tmp_path) == ["frames"]


def test_target_commits_once_and_discard_is_idempotent(tmp_path):
    target = AtomicTarget(tmp_path / "a.txt")
    target.temporary.write_text("x")
    assert target.commit() == tmp_path / "a.txt"
    with pytest.raises(RuntimeError, match="already committed"):
        target.commit()
    other = AtomicTarget(tmp_path / "b.txt")
    other.discard()
    other.discard()
    assert _entries(tmp_path) == ["a.txt"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_text(tmp_path / "missing" / "a.txt", "x")


def test_json_is_written_strict_with_non_finite_floats_as_null(tmp_path):
    from v2v.fileio import atomic_write_json, json_safe

    value = {"J": float("nan"), "psnr": float("inf"), "rows": [(1.5, -float("inf"))], "name": "a", "n": 3}
    assert json_safe(value) == {"J": None, "psnr": None, "rows": [[1.5, None]], "name": "a", "n": 3}
    path = tmp_path / "eval.json"
    path.write_text("old")
    atomic_write_json(path, value)

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    assert json.loads(path.read_text(), parse_constant=refuse) == json_safe(value)
    assert value["J"] != value["J"]  # the caller's value is left as it was


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_written_files_and_folders_get_the_modes_a_plain_open_would(tmp_path, umask, mask):
    umask(mask)
    assert current_umask() == mask
    plain_file, plain_folder = tmp_path / "plain.txt", tmp_path / "plain"
    plain_file.write_text("x")
    plain_folder.mkdir()
    atomic_write_text(tmp_path / "config.yaml", "a: 1\n")
    atomic_write_json(tmp_path / "metrics.json", {"psnr": 20.0})
    with atomic_path(tmp_path / "step_0000001.pt") as temporary:
        temporary.write_bytes(b"checkpoint")
    with atomic_path(tmp_path / "frames", directory=True) as temporary:
        (temporary / "000000.png").write_bytes(b"png")
    file_mode = stat.S_IMODE(plain_file.stat().st_mode)
    assert file_mode == 0o666 & ~mask
    for name in ("config.yaml", "metrics.json", "step_0000001.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == file_mode, name
    assert stat.S_IMODE((tmp_path / "frames").stat().st_mode) == stat.S_IMODE(plain_folder.stat().st_mode) == 0o777 & ~mask


def test_a_writer_that_replaces_the_temporary_with_an_owner_only_file_still_gives_the_umask_mode(tmp_path, umask):
    """safetensors writes a new file over the temporary, with mode 0600: the commit sets the mode."""
    umask(0o022)
    with atomic_path(tmp_path / "generator.safetensors") as temporary:
        temporary.unlink()
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(descriptor)
    assert stat.S_IMODE((tmp_path / "generator.safetensors").stat().st_mode) == 0o644
