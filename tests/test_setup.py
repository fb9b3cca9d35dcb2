"""setup.py stops a build that would compile against a torch other than the installed one (build
isolation), at once and before compiling anything, with the command that works for the way the
build was started. (CI's sdist stage runs a real isolated ``pip install`` of the sdist and checks
the same message.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# Runs setup.py the way a PEP 517 hook does (the hook's name is on the stack), in an environment
# that either hides torch (sys.modules["torch"] = None: what pip's isolated build sees once torch
# is out of build-system.requires) or shows another torch and hides the interpreter's own
# site-packages (what pip's isolation does).
_HOOK = """
import runpy, sys, sysconfig
import setuptools  # an isolated build environment has its own; here it is imported before the own site-packages go
if {hide_torch}:
    sys.modules["torch"] = None
if {other_torch!r}:
    own = {{sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}}
    sys.path[:] = [{other_torch!r}] + [entry for entry in sys.path if entry not in own]
def {hook}():
    sys.argv = ["setup.py", "{command}"]
    runpy.run_path("setup.py", run_name="__main__")
{hook}()
"""


def run_setup(folder: Path, hook: str, command: str, *, hide_torch: bool = True, other_torch: str = "") -> subprocess.CompletedProcess:
    shutil.copy(ROOT / "setup.py", folder / "setup.py")
    script = _HOOK.format(hook=hook, command=command, hide_torch=hide_torch, other_torch=other_torch)
    return subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("hook", "command", "expected"), [
    ("build_wheel", "bdist_wheel", "pip install --no-build-isolation ."),
    ("get_requires_for_build_editable", "egg_info", "pip install --no-build-isolation -e ."),
])
def test_a_build_without_the_installed_torch_stops_at_once_with_the_command(tmp_path, hook, command, expected):
    result = run_setup(tmp_path, hook, command)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"torch {torch.__version__} is installed here, but the build cannot see it" in result.stderr
    assert f"    {expected}\n" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["setup.py"]  # nothing built, no build/ folder


def test_a_build_environment_with_another_torch_names_both(tmp_path):
    fake = tmp_path / "isolated-env"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text('__version__ = "2.14.1+cu130"\n')
    source = tmp_path / "source"
    source.mkdir()
    result = run_setup(source, "build_wheel", "bdist_wheel", hide_torch=False, other_torch=str(fake))
    assert result.returncode == 1, result.stderr
    assert f"this build environment has torch 2.14.1+cu130 ({fake / 'torch'}), but torch {torch.__version__} is installed here" in result.stderr
    assert "pip install --no-build-isolation ." in result.stderr
    assert sorted(path.name for path in source.iterdir()) == ["setup.py"]
