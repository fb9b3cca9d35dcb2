"""Atomic writes: the one way ``v2v`` replaces a file or a folder, so nobody sees half of one.

A write goes to a hidden temporary name in the destination's own folder (the same file system,
so the final rename is atomic), is flushed to disk (``fsync``), and is renamed over the
destination; the folder is then flushed too, so the rename itself survives a power cut. On any
error the temporary is removed and the destination is left exactly as it was. A process killed
mid-write leaves at most a hidden ``.<name>.<random>.tmp`` entry beside the destination (readers
of folders skip hidden names; checkpoint pruning removes stale ones). The result has the permissions
a plain ``open()`` (or ``mkdir``) would give it under the process's umask (0644 and 0755 under the
usual umask 022), not the owner-only ones of a temporary file.

- :func:`atomic_write_text`, :func:`atomic_write_bytes`: write a whole file in one call.
- :func:`atomic_write_json`: the same for a JSON document, strict JSON: a float that is not finite
  (a NaN metric, an infinite PSNR) is written as ``null`` (:func:`json_safe`).
- :func:`atomic_path`: a context manager yielding the temporary path, for writers that want a file
  name (``torch.save``, safetensors); renamed into place when the block ends without error.
- :class:`AtomicTarget`: the same as an object with :meth:`~AtomicTarget.commit` and
  :meth:`~AtomicTarget.discard`, for writers whose output outlives one block (the video writer).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "AtomicTarget",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "current_umask",
    "json_safe",
]


def current_umask() -> int:
    """The process's file-mode creation mask, read without changing it where the system allows
    (``/proc/self/status`` on Linux; setting and restoring it elsewhere, which another thread
    creating a file at that instant would see)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class AtomicTarget:
    """A temporary file or folder beside ``path`` that replaces ``path`` on :meth:`commit`.

    Args:
        path: the destination; its folder must exist.
        directory: the destination is a folder (the temporary is created as an empty folder);
            otherwise a file (created empty).
        keep_extension: end the temporary name with the destination's extension, for writers
            that choose the format from the name (FFmpeg).

    Attributes:
        path: the destination.
        temporary: where to write until :meth:`commit`.
    """

    def __init__(self, path: str | os.PathLike, *, directory: bool = False, keep_extension: bool = False) -> None:
        self.path = Path(path)
        self.directory = directory
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"cannot write {self.path}: its folder {self.path.parent} does not exist")
        prefix = f".{self.path.name}."
        suffix = ".tmp" + (self.path.suffix if keep_extension else "")
        if directory:
            self.temporary = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=self.path.parent))
        else:
            descriptor, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=self.path.parent)
            os.close(descriptor)
            self.temporary = Path(name)
        # mkstemp and mkdtemp create owner-only entries (0600, 0700), and so do some writers that
        # replace the temporary (safetensors): on commit the destination gets what a plain open()
        # or mkdir would give it under the umask.
        self._mode = (0o777 if directory else 0o666) & ~current_umask()
        self._finished = False

    def commit(self) -> Path:
        """Flush the temporary to disk and rename it over the destination.

        Returns:
            The destination path.

        Raises:
            RuntimeError: the target was already committed or discarded.
            OSError: the flush or rename failed (the temporary is removed, the destination kept).
        """
        if self._finished:
            raise RuntimeError(f"the atomic write of {self.path} was already committed or discarded")
        try:
            if self.directory:
                for entry in self.temporary.iterdir():
                    if entry.is_file():
                        _fsync_file(entry)
                _fsync_folder(self.temporary)
            else:
                _fsync_file(self.temporary)
            os.chmod(self.temporary, self._mode)
            if self.directory and self.path.is_dir():
                # os.replace cannot replace a non-empty folder: move the old one aside first.
                trash = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".old", dir=self.path.parent))
                os.replace(self.path, trash)
                os.replace(self.temporary, self.path)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(self.temporary, self.path)
            _fsync_folder(self.path.parent)
        except BaseException:
            self.discard()
            raise
        self._finished = True
        return self.path

    def discard(self) -> None:
        """Remove the temporary; the destination is left as it was. Safe to call more than once."""
        self._finished = True
        if self.temporary.is_dir():
            shutil.rmtree(self.temporary, ignore_errors=True)
        else:
            self.temporary.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False, keep_extension: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds.

    Args:
        path: the destination; its folder must exist.
        directory: see :class:`AtomicTarget`.
        keep_extension: see :class:`AtomicTarget`.

    Yields:
        The temporary path (an existing empty file, or an empty folder with ``directory``).
        Whatever the block leaves there replaces ``path``; if the block raises, it is removed
        and ``path`` is untouched.
    """
    target = AtomicTarget(path, directory=directory, keep_extension=keep_extension)
    try:
        yield target.temporary
    except BaseException:
        target.discard()
        raise
    target.commit()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data``, atomically (see the module docstring)."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` encoded as ``encoding``, atomically (see the module docstring)."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding=encoding)


def json_safe(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by None, through dicts, lists and
    tuples (tuples become lists): what strict JSON can hold, as :func:`atomic_write_json` writes it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def atomic_write_json(path: str | os.PathLike, value: Any) -> None:
    """Replace ``path`` with ``value`` as indented, strict JSON (:func:`json_safe`), atomically."""
    atomic_write_text(path, json.dumps(json_safe(value), indent=2, allow_nan=False) + "\n")
