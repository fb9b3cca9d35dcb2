"""The suite's guard on ``$HOME`` (tests/conftest.py): the home is a fresh folder, the flow cache is
outside it, and a file written there fails the whole run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import conftest

from v2v.flow import default_cache_dir


def test_the_session_home_is_its_own_and_the_flow_cache_is_outside_it():
    assert Path(os.environ["HOME"]) == conftest.HOME and Path.home() == conftest.HOME
    assert conftest.SANDBOX in default_cache_dir().parents and conftest.HOME not in default_cache_dir().parents


def test_a_file_written_under_home_fails_the_run(tmp_path):
    """A throwaway suite, with this conftest, whose only test passes but writes a file under ~."""
    (tmp_path / "conftest.py").write_text(Path(conftest.__file__).read_text())
    (tmp_path / "test_writes_home.py").write_text(textwrap.dedent("""
        from pathlib import Path

        def test_passes_but_writes_home():
            (Path.home() / ".cache" / "v2v").mkdir(parents=True)
            (Path.home() / ".cache" / "v2v" / "leak.txt").write_text("x")
    """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "1 passed" in result.stdout
    assert result.returncode == 1
    assert "the tests wrote under $HOME" in result.stdout and ".cache/v2v/leak.txt" in result.stdout
