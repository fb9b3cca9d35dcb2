"""Builds ``v2vcore._C``: the fused residual-error op's C++/OpenMP CPU kernels, and CUDA kernels when
the installed torch has CUDA and ``nvcc`` is found.

Environment:
    V2V_CUDA=1      build the CUDA kernels or fail (no silent CPU-only build)
    V2V_CUDA=0      CPU kernels only
    (unset)         CUDA kernels when torch has CUDA and nvcc is found
    TORCH_CUDA_ARCH_LIST   GPU architectures, e.g. "8.6" or "8.0;9.0+PTX". When unset: the
                    architectures of the GPUs this machine has, else DEFAULT_CUDA_ARCHS for the
                    nvcc found (every architecture it supports from Turing on, the newest also as
                    PTX, which the driver JIT-compiles for GPUs newer than the list)
    V2V_DEBUG=1     -O0 -g, for gdb and sanitizers
    V2V_CXXFLAGS    extra C++ flags, e.g. "-march=native" for a build that only runs on this machine
    V2V_SANITIZE    sanitizers for every extension built, e.g. "address,undefined": compiled and linked
                    with -fsanitize=..., -fno-sanitize-recover=all (a report stops the process), -O1 -g
                    unless V2V_DEBUG=1. Python must then load the ASan runtime first:
                    LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0
    V2V_CUDA_EMULATION=1   also build v2vcore._C_cuda_emulated: csrc/cuda/ops_cuda.cu compiled as C++
                    for the CPU (csrc/cuda_emulation), registered as torch.ops.v2vcore_cuda_emulated for
                    CPU tensors. A test and CI instrument (docs/op.md, "CUDA emulation"), no nvcc needed;
                    never built by a plain install.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import setup


def _installed_torch_version() -> str | None:
    """The version of the torch installed in this interpreter's own site-packages, read from its
    ``torch/version.py`` without importing it (an isolated build environment hides it)."""
    for folder in dict.fromkeys((sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])):
        match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", _read(Path(folder, "torch", "version.py")), re.M)
        if match:
            return match.group(1)
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _build_command() -> str:
    """The command that builds this source against the installed torch, for the way it was started."""
    hooks = set()
    frame = sys._getframe()
    while frame is not None:  # the PEP 517 hook that runs this file (pip's in-process script names it)
        hooks.add(frame.f_code.co_name)
        frame = frame.f_back
    editable = any("editable" in name for name in hooks)
    here = Path(__file__).resolve().parent
    unpacked = any(part.startswith(("pip-req-build-", "pip-install-", "build-via-sdist-")) for part in here.parts)
    source = "<the sdist, folder or URL you gave>" if unpacked else ("." if Path.cwd() == here else str(here))
    return f"pip install --no-build-isolation {'-e ' if editable else ''}{source}"


def require_installed_torch() -> None:
    """Stop a build that would compile against a torch other than the installed one.

    The extension links against the torch it is compiled with, and loads only with that torch.
    Build isolation (``pip install .``, ``python -m build``) hides the installed torch, so the build
    is stopped here, before anything is compiled or downloaded, with the command that builds
    against the installed torch. ``build-system.requires`` lists no torch for the same reason.
    """
    installed = _installed_torch_version()
    try:
        import torch
    except ImportError:
        torch = None
    isolated = not {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]} & set(sys.path)
    if torch is not None and not (isolated and installed is not None and torch.__version__ != installed):
        return
    if torch is not None:
        problem = (f"this build environment has torch {torch.__version__} ({Path(torch.__file__).parent}), but torch "
                   f"{installed} is installed here: an extension built against the first does not load with the second.")
    elif installed is not None:
        problem = (f"torch {installed} is installed here, but the build cannot see it: build isolation (pip's default) "
                   "builds in a separate environment without it.")
    else:
        problem = ("the build environment has no torch: none is installed, or build isolation (the default of "
                   "pip install and python -m build) hides it, and the extension compiles against the installed torch.")
    first = ("Build against it without build isolation:\n" if installed is not None else
             "Install torch first (the CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu),\n"
             "then build against it without build isolation:\n")
    sys.exit(
        "\nv2v-consistency cannot be built here: " + problem + "\n" + first +
        "    pip install setuptools wheel ninja\n"
        f"    {_build_command()}\n"
        "(python -m build: add --no-isolation). See README.md, Install.\n"
    )


require_installed_torch()

# torch locates the CUDA toolkit from `nvcc` on PATH; a wrapper script there (as /usr/local/bin/nvcc
# on some images) hides the toolkit's lib/ and the link fails. The standard location is a better guess.
if not os.environ.get("CUDA_HOME") and not os.environ.get("CUDA_PATH") and Path("/usr/local/cuda/bin/nvcc").exists():
    os.environ["CUDA_HOME"] = "/usr/local/cuda"

import torch  # noqa: E402
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension  # noqa: E402

ROOT = Path(__file__).resolve().parent
CSRC = Path("csrc")  # setuptools wants source paths relative to the project root
os.chdir(ROOT)

# Architectures built when TORCH_CUDA_ARCH_LIST is unset and no GPU is visible, by nvcc's major
# version: Turing (7.5: T4, RTX 20xx), Ampere (8.0: A100; 8.6: A10, RTX 30xx), Ada (8.9: L4, L40,
# RTX 40xx), Hopper (9.0: H100, H200) and, from CUDA 12.8, Blackwell (10.0: B200; 12.0: RTX 50xx);
# CUDA 12 still builds Volta (7.0: V100), CUDA 13 no longer does. The last entry also ships as PTX.
DEFAULT_CUDA_ARCHS = {
    11: "7.0;7.5;8.0;8.6;8.9;9.0+PTX",
    12: "7.0;7.5;8.0;8.6;8.9;9.0+PTX",
    (12, 8): "7.0;7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX",
    13: "7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX",
}


def _nvcc_version() -> tuple[int, int]:
    output = subprocess.run([str(Path(CUDA_HOME, "bin", "nvcc")), "--version"], capture_output=True, text=True).stdout
    match = re.search(r"release (\d+)\.(\d+)", output)
    if not match:
        sys.exit(f"could not read nvcc's version from `nvcc --version`:\n{output}")
    return int(match.group(1)), int(match.group(2))


def _cuda_arch_list() -> str:
    """TORCH_CUDA_ARCH_LIST if set, else this machine's GPUs, else DEFAULT_CUDA_ARCHS for nvcc."""
    chosen = os.environ.get("TORCH_CUDA_ARCH_LIST", "").strip()
    if chosen:
        return chosen
    if torch.cuda.is_available():
        capabilities = sorted({torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})
        return ";".join(f"{major}.{minor}" for major, minor in capabilities)
    major, minor = _nvcc_version()
    if major == 12 and minor >= 8:
        return DEFAULT_CUDA_ARCHS[(12, 8)]
    if major not in DEFAULT_CUDA_ARCHS:
        sys.exit(f"nvcc {major}.{minor} has no default architecture list here; set TORCH_CUDA_ARCH_LIST")
    return DEFAULT_CUDA_ARCHS[major]


def _want_cuda() -> bool:
    choice = os.environ.get("V2V_CUDA", "").strip().lower()
    torch_has_cuda = torch.version.cuda is not None
    nvcc_found = CUDA_HOME is not None and Path(CUDA_HOME, "bin", "nvcc").exists()
    if choice in ("1", "true", "yes", "on"):
        if not torch_has_cuda:
            sys.exit(f"V2V_CUDA=1 but the installed torch {torch.__version__} has no CUDA support")
        if not nvcc_found:
            sys.exit("V2V_CUDA=1 but nvcc was not found (set CUDA_HOME)")
        return True
    if choice in ("0", "false", "no", "off"):
        return False
    if choice:
        sys.exit(f"V2V_CUDA must be 0 or 1, got {choice!r}")
    return torch_has_cuda and nvcc_found


def _switch(name: str) -> bool:
    choice = os.environ.get(name, "").strip().lower()
    if choice in ("1", "true", "yes", "on"):
        return True
    if choice in ("", "0", "false", "no", "off"):
        return False
    sys.exit(f"{name} must be 0 or 1, got {choice!r}")


def _sanitizer_flags() -> tuple[list[str], list[str]]:
    """(compile flags, link flags) for V2V_SANITIZE, e.g. "address,undefined"; empty when unset."""
    sanitizers = os.environ.get("V2V_SANITIZE", "").strip()
    if not sanitizers:
        return [], []
    if not re.fullmatch(r"[a-z-]+(,[a-z-]+)*", sanitizers):
        sys.exit(f"V2V_SANITIZE must be a comma-separated list of sanitizers, e.g. address,undefined; got {sanitizers!r}")
    flag = f"-fsanitize={sanitizers}"
    return [flag, "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"], [flag]


def _compile_flags() -> tuple[list[str], list[str]]:
    """(C++ flags, link flags) of every extension."""
    sanitize_cxx, sanitize_link = _sanitizer_flags()
    if os.environ.get("V2V_DEBUG", "") == "1":
        opt = ["-O0", "-g"]
    else:
        opt = ["-O1"] if sanitize_cxx else ["-O3"]
    cxx_flags = [*opt, "-fopenmp", "-ffp-contract=off", "-Wall", "-Wno-unknown-pragmas", "-Wno-psabi", *sanitize_cxx,
                 *os.environ.get("V2V_CXXFLAGS", "").split()]
    return cxx_flags, ["-fopenmp", *sanitize_link]


def _emulation_extension():
    """v2vcore._C_cuda_emulated: the CUDA kernels of csrc/cuda/ops_cuda.cu compiled as C++ under the
    shim of csrc/cuda_emulation, for CPU tensors (torch.ops.v2vcore_cuda_emulated)."""
    cxx_flags, link_flags = _compile_flags()
    _Build.flavour += " and the CUDA emulation (v2vcore._C_cuda_emulated)"
    return CppExtension(
        name="v2vcore._C_cuda_emulated",
        sources=[str(CSRC / "cuda_emulation" / "module.cpp"), str(CSRC / "cuda_emulation" / "ops_cuda_emulated.cpp")],
        include_dirs=[str(ROOT / CSRC)],
        extra_compile_args={"cxx": [*cxx_flags, "-DV2V_CUDA_EMULATION", "-fvisibility=hidden"]},
        extra_link_args=link_flags,
        py_limited_api=True,
    )


class _Build(BuildExtension):
    """torch's build_ext that says what it compiles when (and only when) it compiles, and records
    the torch it compiled against in ``v2vcore/_build_info.json`` beside the extension (read by
    ``v2vcore`` when the extension does not load)."""

    flavour = ""

    def run(self) -> None:
        print(f"v2vcore: building {self.flavour} against torch {torch.__version__}", flush=True)
        super().run()
        info = {"torch": torch.__version__, "cuda": torch.version.cuda, "flavour": self.flavour}
        Path(self.get_ext_fullpath("v2vcore._C")).with_name("_build_info.json").write_text(json.dumps(info) + "\n")


def _extension():
    cxx_flags, link_flags = _compile_flags()
    sources = [*sorted(glob.glob(str(CSRC / "*.cpp"))), *sorted(glob.glob(str(CSRC / "cpu" / "*.cpp")))]
    common = dict(
        name="v2vcore._C",
        include_dirs=[str(ROOT / CSRC)],
        extra_link_args=link_flags,
        py_limited_api=True,
    )
    if _want_cuda():
        archs = _cuda_arch_list()
        os.environ["TORCH_CUDA_ARCH_LIST"] = archs  # what torch's build reads
        sources += sorted(glob.glob(str(CSRC / "cuda" / "*.cu")))
        # The list is compiled in (torch.ops.v2vcore.built_cuda_archs() reports it) as one bare
        # token: ninja runs the compile commands through a shell, which would strip quotes and end
        # the command at a ';'. ops.cpp stringifies it and turns '_' back into ';'.
        arch_token = "_".join(archs.replace(";", " ").split())
        defines = ["-DV2V_WITH_CUDA", f"-DV2V_CUDA_ARCHS={arch_token}"]
        nvcc_opt = ["-O0", "-g"] if os.environ.get("V2V_DEBUG", "") == "1" else ["-O3"]
        nvcc_flags = [*nvcc_opt, "--fmad=false", "--expt-relaxed-constexpr", "-lineinfo", *defines]
        _Build.flavour = f"CPU + CUDA kernels (arch {archs})"
        return CUDAExtension(
            sources=sources,
            extra_compile_args={"cxx": [*cxx_flags, *defines], "nvcc": nvcc_flags},
            **common,
        )
    _Build.flavour = "CPU kernels only (no CUDA kernels)"
    return CppExtension(sources=sources, extra_compile_args={"cxx": cxx_flags}, **common)


setup(
    ext_modules=[_extension(), *([_emulation_extension()] if _switch("V2V_CUDA_EMULATION") else [])],
    cmdclass={"build_ext": _Build},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
