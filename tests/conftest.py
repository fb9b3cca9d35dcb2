"""The test suite never writes under the user's home: before any test module is imported, ``$HOME``
becomes an empty folder of this session, the flow cache (``$V2V_FLOW_CACHE``) and
``$XDG_CACHE_HOME`` point into a temporary folder, and matplotlib keeps its font cache in the
repository's ``.cache/`` (ignored by git). At the end of the session the temporary home must still
be empty: anything written there (by the code, or by a library it calls) fails the run, naming the
files (:func:`pytest_sessionfinish`; ``tests/test_home.py`` checks the check)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = Path(tempfile.mkdtemp(prefix="v2v-tests-"))
HOME = SANDBOX / "home"
"""The ``$HOME`` of this test session: empty, and it must stay so."""

HOME.mkdir()
os.environ["HOME"] = str(HOME)
os.environ["V2V_FLOW_CACHE"] = str(SANDBOX / "flow-cache")
os.environ["XDG_CACHE_HOME"] = str(SANDBOX / "xdg-cache")
os.environ.pop("V2V_FLOW_CACHE_MAX_GB", None)  # the tests see the default limit
# matplotlib's font cache would go to $HOME/.cache; rebuilding it in every session costs seconds.
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / ".cache" / "matplotlib"))


def files_under(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, relative, sorted."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when anything was written under the session's ``$HOME``."""
    written = files_under(HOME)
    if written:
        shown = ", ".join(written[:20]) + (f" and {len(written) - 20} more" if len(written) > 20 else "")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"the tests wrote under $HOME ({HOME}): {shown}"
        if reporter is not None:
            reporter.write_line(f"FAILED (home): {message}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    shutil.rmtree(SANDBOX, ignore_errors=True)


@pytest.fixture
def disk_full_after(monkeypatch):
    """``disk_full_after(n)``: from then on ``v2v.data.VideoWriter.write`` raises ``OSError("disk full
    (simulated)")`` once ``n`` frames are written (a write failure in the middle of a video)."""
    from v2v.data.video_writer import VideoWriter

    def arm(frames: int) -> None:
        original = VideoWriter.write

        def failing_write(self, frame):
            if self.frames_written == frames:
                raise OSError("disk full (simulated)")
            original(self, frame)

        monkeypatch.setattr(VideoWriter, "write", failing_write)

    return arm
