"""Builds ``v2vcore._C``: the fused residual-error op's C++/OpenMP CPU kernels, and CUDA kernels when
the installed torch has CUDA and ``nvcc`` is found.

Environment:
    V2V_CUDA=1      build the CUDA kernels or fail (no silent CPU-only build)
    V2V_CUDA=0      CPU kernels only
    (unset)         CUDA kernels when torch has CUDA and nvcc is found
    TORCH_CUDA_ARCH_LIST   GPU architectures; defaults to "8.0;9.0" (A100, H100/H200) when unset
    V2V_DEBUG=1     -O0 -g, for gdb and sanitizers
    V2V_CXXFLAGS    extra C++ flags, e.g. "-march=native" for a build that only runs on this machine
"""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

from setuptools import setup

# torch locates the CUDA toolkit from `nvcc` on PATH; a wrapper script there (as /usr/local/bin/nvcc
# on some images) hides the toolkit's lib/ and the link fails. The standard location is a better guess.
if not os.environ.get("CUDA_HOME") and not os.environ.get("CUDA_PATH") and Path("/usr/local/cuda/bin/nvcc").exists():
    os.environ["CUDA_HOME"] = "/usr/local/cuda"

import torch  # noqa: E402
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension  # noqa: E402

ROOT = Path(__file__).resolve().parent
CSRC = Path("csrc")  # setuptools wants source paths relative to the project root
os.chdir(ROOT)


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


def _extension():
    debug = os.environ.get("V2V_DEBUG", "") == "1"
    opt = ["-O0", "-g"] if debug else ["-O3"]
    cxx_flags = [*opt, "-fopenmp", "-ffp-contract=off", "-Wall", "-Wno-unknown-pragmas", "-Wno-psabi", *os.environ.get("V2V_CXXFLAGS", "").split()]
    sources = [str(CSRC / "ops.cpp"), *sorted(glob.glob(str(CSRC / "cpu" / "*.cpp")))]
    common = dict(
        name="v2vcore._C",
        include_dirs=[str(ROOT / CSRC)],
        extra_link_args=["-fopenmp"],
        py_limited_api=True,
    )
    if _want_cuda():
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
        sources += sorted(glob.glob(str(CSRC / "cuda" / "*.cu")))
        nvcc_flags = [*opt, "--fmad=false", "--expt-relaxed-constexpr", "-lineinfo", "-DV2V_WITH_CUDA"]
        print(f"v2vcore: building CPU + CUDA kernels (arch {os.environ['TORCH_CUDA_ARCH_LIST']})")
        return CUDAExtension(
            sources=sources,
            extra_compile_args={"cxx": [*cxx_flags, "-DV2V_WITH_CUDA"], "nvcc": nvcc_flags},
            **common,
        )
    print("v2vcore: building CPU kernels only (no CUDA kernels)")
    return CppExtension(sources=sources, extra_compile_args={"cxx": cxx_flags}, **common)


setup(
    ext_modules=[_extension()],
    cmdclass={"build_ext": BuildExtension},
    options={"bdist_wheel": {"py_limited_api": "cp39"}},
)
