"""Install torch into a virtualenv, the CPU build by default: what `make install` runs first.

    python tools/install_torch.py .venv/bin/python "torch==2.13.0" --index https://download.pytorch.org/whl/cpu --cpu

On Linux x86_64, PyPI's torch is a CUDA build that pulls several GB of ``nvidia-*`` packages; the
CPU build lives on the PyTorch CPU wheel index. With ``--cpu``, pip first resolves the requirement
with ``--index`` added to its own configuration (a dry run: nothing is downloaded but metadata).
When the plan holds no ``nvidia-*`` package it is installed as planned; torch's CPU build is then
either the index's (a ``+cpu`` version, which pip prefers over PyPI's equal version) or one that
pip's own configuration offers (a local wheel folder, a mirror). When it does hold them (the index
cannot be reached, as on a network that reaches only a package mirror, or lacks that version), the
requirement is installed as pip resolves it without that index, with a warning that says what that
costs and how to keep the CPU build. Without ``--cpu`` the requirement is installed as it is, from
pip's configuration and ``--index`` if given (``make install TORCH=...``: a CUDA build from PyPI, or
from the CUDA index ``TORCH_INDEX`` names). Either way the last line says which torch was installed
and whether it came with CUDA packages.

Standard library only: it runs before the virtualenv has anything but pip.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PROBE_TIMEOUT_S = 20
"""How long the CPU index gets to answer before it counts as unreachable (pip's own timeout there)."""


def index_reachable(index: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``index``'s page of torch answers (for a ``file://`` index: whether its folder exists)."""
    parsed = urllib.parse.urlparse(index)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path), "torch").is_dir()
    try:
        with urllib.request.urlopen(index.rstrip("/") + "/torch/", timeout=timeout) as response:
            return getattr(response, "status", 200) < 400
    except (OSError, ValueError, urllib.error.URLError):
        return False


def plan(python: str, requirement: str, pip_args: list[str]) -> list[tuple[str, str]]:
    """``(name, version)`` of every package pip would install for ``requirement`` (a dry run that
    ignores what is installed).

    Raises:
        subprocess.CalledProcessError: pip found no way to install it.
    """
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        subprocess.run([python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                        "--report", str(report), *pip_args, requirement], check=True, stdout=subprocess.DEVNULL)
        planned = json.loads(report.read_text())["install"]
    return [(item["metadata"]["name"].lower(), item["metadata"]["version"]) for item in planned]


def cuda_packages(packages: list[tuple[str, str]]) -> list[str]:
    """The ``nvidia-*`` packages (CUDA's libraries) among ``packages``."""
    return sorted(name for name, _ in packages if name.startswith("nvidia-"))


def installed(python: str) -> list[tuple[str, str]]:
    """``(name, version)`` of every package installed for ``python``."""
    listing = subprocess.run([python, "-m", "pip", "list", "--format", "json"], check=True, capture_output=True, text=True).stdout
    return [(item["name"].lower(), item["version"]) for item in json.loads(listing)]


def install_torch(python: str, requirement: str, index: str | None, cpu: bool) -> int:
    """Install ``requirement`` for ``python`` (see the module docstring); returns an exit status."""
    extra: list[str] = []
    if index:
        extra = ["--extra-index-url", index]
        if not index_reachable(index):
            # pip would retry it for minutes; it is tried once, in case pip reaches what urllib did not.
            extra += ["--retries", "0", "--timeout", str(PROBE_TIMEOUT_S)]
    if cpu:
        try:
            planned = plan(python, requirement, extra)
        except subprocess.CalledProcessError:
            planned = None
        if planned is None or cuda_packages(planned):
            torch_version = dict(planned or []).get("torch", "?")
            print(f"\nwarning: the CPU build of {requirement} is not available from {index or 'the given index'} (it cannot be "
                  "reached from here, or lacks that version), nor through pip's own configuration. Installing what pip "
                  f"resolves without that index instead: torch {torch_version}, a CUDA build with "
                  f"{len(cuda_packages(planned or []))} nvidia-* packages (several GB), which also runs on the CPU. To keep "
                  "the CPU build, give a reachable mirror of the CPU index (make install TORCH_INDEX=URL) or a folder "
                  "holding a CPU wheel (PIP_FIND_LINKS=DIR).\n", file=sys.stderr, flush=True)
            extra = []
    subprocess.run([python, "-m", "pip", "install", *extra, requirement], check=True)
    now = installed(python)
    version = dict(now).get("torch")
    if version is None:
        print(f"error: pip reported success but no torch is installed for {python}", file=sys.stderr)
        return 1
    cuda = cuda_packages(now)
    flavour = f"a CUDA build, with {len(cuda)} nvidia-* packages" if cuda else "no nvidia-* packages (a CPU build)"
    print(f"torch {version} installed: {flavour}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``install_torch.py PYTHON REQUIREMENT [--index URL] [--cpu]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("python", help="the virtualenv's python")
    parser.add_argument("requirement", help='the pip requirement of torch, e.g. "torch==2.13.0"')
    parser.add_argument("--index", default="", help="an index to look for torch in besides pip's own (empty: none)")
    parser.add_argument("--cpu", action="store_true", help="expect a CPU build: check the plan, fall back with a warning")
    args = parser.parse_args(argv)
    try:
        return install_torch(args.python, args.requirement, args.index or None, args.cpu)
    except subprocess.CalledProcessError as error:
        print(f"error: {' '.join(map(str, error.cmd))} failed with status {error.returncode}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
