"""tools/install_torch.py, the first step of `make install`, with pip's configuration switched off,
against file:// indexes of tiny fake wheels: a "PyPI" whose torch 2.13.0 pulls an nvidia-* package
(as PyPI's Linux x86_64 wheels do) and a "CPU index" with torch 2.13.0+cpu. No network is used; the
real indexes are what the Makefile names."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "install_torch.py"
UNREACHABLE = "http://127.0.0.1:9/whl/cpu"  # the discard port: refused at once, as a blocked index is
PIP_HOME = Path(os.environ["HOME"]).parent / "pip-home"  # beside the session's home (tests/conftest.py), not in it


def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    stem = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{stem}-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name.replace('-', '_')}/__init__.py", f"__version__ = {version!r}\n")
        archive.writestr(f"{stem}.dist-info/METADATA", metadata)
        archive.writestr(f"{stem}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{stem}.dist-info/RECORD", "")
    return path


def _index(root: Path, wheels: dict[str, list[tuple[str, tuple[str, ...]]]]) -> str:
    """A PEP 503 simple index at ``root``: project -> [(version, requirements)]; returns its file:// URL."""
    for project, releases in wheels.items():
        folder = root / project
        folder.mkdir(parents=True)
        links = [_wheel(folder, project, version, requires).name for version, requires in releases]
        (folder / "index.html").write_text("".join(f'<a href="{name}">{name}</a>\n' for name in links))
    return root.as_uri()


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    root = tmp_path_factory.mktemp("indexes")
    pypi = _index(root / "pypi", {"torch": [("2.13.0", ("nvidia-cublas-cu13>=13",))], "nvidia-cublas-cu13": [("13.0.0", ())]})
    cpu = _index(root / "cpu", {"torch": [("2.13.0+cpu", ())]})
    return pypi, cpu, root / "cpu" / "torch"


@pytest.fixture(scope="module")
def module_venv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, env=pip_env())  # ensurepip, the slow part: once
    return str(folder / "bin" / "python")


@pytest.fixture
def python(module_venv):
    """A virtualenv without torch or nvidia-* packages."""
    subprocess.run([module_venv, "-m", "pip", "uninstall", "-y", "-q", "torch", "nvidia-cublas-cu13"],
                   capture_output=True, check=True, env=pip_env())
    return module_venv


def pip_env(**extra: str) -> dict[str, str]:
    """The environment of every pip run here: pip's configuration off, no cache, and a home of its own
    (pip runs `rustc --version` for its user agent, and a rustup proxy writes under ~)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1", HOME=str(PIP_HOME), **extra)
    return env


def run(python: str, pypi: str, *args: str, find_links: Path | None = None) -> subprocess.CompletedProcess:
    env = pip_env(PIP_INDEX_URL=pypi)
    if find_links is not None:  # pip's own configuration offers a CPU wheel, as this machine's does
        env["PIP_FIND_LINKS"] = str(find_links)
    return subprocess.run([sys.executable, str(SCRIPT), python, "torch==2.13.0", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def installed(python: str) -> set[str]:
    listing = subprocess.run([python, "-m", "pip", "list", "--format", "freeze"], capture_output=True, text=True, check=True,
                             env=pip_env()).stdout
    return {line.lower() for line in listing.split() if line.startswith(("torch", "nvidia"))}


def test_the_cpu_index_gives_the_cpu_build_and_no_nvidia_packages(indexes, python):
    pypi, cpu, _ = indexes
    result = run(python, pypi, "--index", cpu, "--cpu")
    assert result.returncode == 0, result.stderr
    assert installed(python) == {"torch==2.13.0+cpu"}
    assert result.stdout.splitlines()[-1] == "torch 2.13.0+cpu installed: no nvidia-* packages (a CPU build)"
    assert "warning" not in result.stderr


def test_an_unreachable_cpu_index_falls_back_to_a_cpu_wheel_that_pips_configuration_offers(indexes, python):
    pypi, _, cpu_wheels = indexes
    result = run(python, pypi, "--index", UNREACHABLE, "--cpu", find_links=cpu_wheels)
    assert result.returncode == 0, result.stderr
    assert installed(python) == {"torch==2.13.0+cpu"}
    assert "warning" not in result.stderr


def test_with_only_a_package_mirror_the_install_still_works_and_says_what_it_costs(indexes, python):
    pypi, _, _ = indexes
    result = run(python, pypi, "--index", UNREACHABLE, "--cpu")
    assert result.returncode == 0, result.stderr
    assert installed(python) == {"torch==2.13.0", "nvidia-cublas-cu13==13.0.0"}
    assert f"the CPU build of torch==2.13.0 is not available from {UNREACHABLE}" in result.stderr
    assert "torch 2.13.0, a CUDA build with 1 nvidia-* packages" in result.stderr and "TORCH_INDEX=URL" in result.stderr
    assert result.stdout.splitlines()[-1] == "torch 2.13.0 installed: a CUDA build, with 1 nvidia-* packages"


def test_a_torch_asked_for_is_installed_as_pip_resolves_it_from_the_index_given_unchecked(indexes, python):
    """make install TORCH=... [TORCH_INDEX=a CUDA index]: no CPU check, the index only added."""
    pypi, cpu, _ = indexes
    result = run(python, pypi)
    assert result.returncode == 0, result.stderr
    assert installed(python) == {"torch==2.13.0", "nvidia-cublas-cu13==13.0.0"}
    assert "warning" not in result.stderr
    cuda_index = _index(Path(cpu.removeprefix("file://")).parent / "cu130", {
        "torch": [("2.13.0+cu130", ("nvidia-cublas-cu13>=13",))], "nvidia-cublas-cu13": [("13.0.0", ())]})
    subprocess.run([python, "-m", "pip", "uninstall", "-y", "-q", "torch"], capture_output=True, check=True, env=pip_env())
    result = run(python, pypi, "--index", cuda_index)
    assert result.returncode == 0, result.stderr
    assert installed(python) == {"torch==2.13.0+cu130", "nvidia-cublas-cu13==13.0.0"} and "warning" not in result.stderr


@pytest.mark.parametrize(("arguments", "expected"), [
    ((), '--index "https://download.pytorch.org/whl/cpu" --cpu'),  # the default TORCH: its CPU build, checked
    (("TORCH_INDEX=https://mirror.example/whl/cpu",), '--index "https://mirror.example/whl/cpu" --cpu'),  # a mirror
    (("TORCH=torch==2.14.1",), '--index ""'),  # a TORCH given: as pip resolves it (PyPI's CUDA build)
    (("TORCH=torch==2.14.1", "TORCH_INDEX=https://download.pytorch.org/whl/cu130"), '--index "https://download.pytorch.org/whl/cu130"'),
])
def test_the_makefile_asks_for_the_cpu_build_exactly_for_its_default_torch(tmp_path, arguments, expected):
    env = {key: value for key, value in os.environ.items() if key not in ("TORCH", "TORCH_INDEX")}
    commands = subprocess.run(["make", "-n", "-B", "install", f"VENV={tmp_path / 'venv'}", *arguments], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=True).stdout
    line = next(line for line in commands.splitlines() if "tools/install_torch.py" in line)
    assert line.rstrip().endswith(expected), line
