"""The CUDA emulation's mutation check: a kernel with an off-by-one in an index must fail the suite.

    python tests/v2vcore/cuda_emulation_mutants.py                  # the control and every mutant
    python tests/v2vcore/cuda_emulation_mutants.py forward-column   # the control and one mutant

For the control and for each mutant, this copies csrc/ to a temporary folder, applies the mutant's
edit to the copy of csrc/cuda/ops_cuda.cu (its text must occur there exactly once, so that an edit of
the kernels cannot turn a mutant into a no-op unnoticed), compiles the emulated library from the copy
with g++ (the flags of setup.py's emulation build, V2V_SANITIZE included), and runs
tests/v2vcore/test_cuda_emulation.py against it (V2V_EMULATION_LIBRARY, -x). The control, built
the same way from the unmodified source, must pass; every mutant must fail it. Nothing in csrc/
changes: there is no mutation hook in the kernels, and the nvcc build never sees any of this.

Exit status 0 when the control passed and every mutant was caught. Needs the extension installed in
the running Python (the tests compare against v2vcore._C); under ASan, run it with the LD_PRELOAD and
ASAN_OPTIONS of the tests (docs/op.md, "CUDA emulation").
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import torch
from torch.utils import cpp_extension

ROOT = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parent / "test_cuda_emulation.py"
KERNELS = Path("cuda") / "ops_cuda.cu"

# name: (what the bug is, text in ops_cuda.cu, its replacement)
MUTANTS = {
    "forward-column": (
        "residual_forward_kernel computes the pixel one column to the right of its own",
        "flow_bwd + pair * 2 * plane, channels, height, width, y, x);",
        "flow_bwd + pair * 2 * plane, channels, height, width, y, x + 1);",
    ),
    "gather-frame": (
        "residual_backward_gather_kernel takes the direct term of frame t from pair t instead of pair t-1",
        "(has_direct ? t - 1 : 0)",
        "(has_direct ? t : 0)",
    ),
    "mask-store": (
        "consistency_mask_kernel stores pixel i's mask at element i + 1",
        "mask[i] = g.valid;",
        "mask[i + 1] = g.valid;",
    ),
    "warp-scatter-offset": (
        "warp_backward_scatter_kernel's accumulator starts one element past its clip's planes",
        "add.base += b * channels * plane;",
        "add.base += b * channels * plane + 1;",
    ),
}


def compile_flags() -> tuple[list[str], list[str]]:
    """(C++ flags, link flags) of setup.py's emulation build, for this torch and Python."""
    sanitizers = os.environ.get("V2V_SANITIZE", "").strip()
    sanitize = [f"-fsanitize={sanitizers}", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"] if sanitizers else []
    includes = [*cpp_extension.include_paths(), sysconfig.get_paths()["include"]]
    cxx = [
        "-std=c++20", "-fPIC", "-O1", "-fopenmp", "-ffp-contract=off", "-Wall", "-Wno-unknown-pragmas", "-Wno-psabi",
        "-DV2V_CUDA_EMULATION", "-fvisibility=hidden", "-DTORCH_API_INCLUDE_EXTENSION_H",
        f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
        *sanitize, *(f"-I{path}" for path in includes),
    ]
    torch_lib = Path(torch.__file__).parent / "lib"
    link = ["-shared", "-fopenmp", f"-L{torch_lib}", f"-Wl,-rpath,{torch_lib}", "-lc10", "-ltorch", "-ltorch_cpu",
            *([f"-fsanitize={sanitizers}"] if sanitizers else [])]
    return cxx, link


def compiler(*args: str) -> None:
    """g++ with `args`, without the sanitizer runtime that LD_PRELOAD may hold for the tests."""
    env = {name: value for name, value in os.environ.items() if name != "LD_PRELOAD"}
    subprocess.run(["g++", *args], check=True, env=env)


def build(csrc: Path, output: Path, module_object: Path, cxx: list[str], link: list[str]) -> None:
    """The emulated library from the sources under `csrc`; module.cpp's object is shared by all builds."""
    kernels_object = output.with_suffix(".o")
    compiler(*cxx, f"-I{csrc}", "-c", str(csrc / "cuda_emulation" / "ops_cuda_emulated.cpp"), "-o", str(kernels_object))
    compiler(str(module_object), str(kernels_object), "-o", str(output), *link)


def mutated_copy(scratch: Path, name: str | None) -> Path:
    """A copy of csrc/ under `scratch`, with mutant `name` applied (None: the control)."""
    csrc = scratch / (name or "control") / "csrc"
    shutil.copytree(ROOT / "csrc", csrc)
    if name is not None:
        _, original, replacement = MUTANTS[name]
        kernels = csrc / KERNELS
        text = kernels.read_text()
        count = text.count(original)
        if count != 1:
            sys.exit(f"mutant {name}: its text occurs {count} times in csrc/{KERNELS}, not once; update MUTANTS:\n  {original}")
        kernels.write_text(text.replace(original, replacement))
    return csrc


def run_suite(library: Path) -> tuple[int, str]:
    """pytest on the emulation tests against `library`: (exit status, the lines that say what failed)."""
    env = {**os.environ, "V2V_EMULATION_LIBRARY": str(library), "V2V_REQUIRE_EMULATION": "1"}
    result = subprocess.run(
        # --capture=sys: a sanitizer's report, written to file descriptor 2, must not vanish into
        # pytest's capture when the sanitizer ends the process.
        [sys.executable, "-m", "pytest", str(TESTS), "-x", "-q", "-p", "no:cacheprovider", "-m", "not cuda", "--capture=sys"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    output = result.stdout + result.stderr
    lines = output.splitlines()
    errors = [line for line in lines if line.startswith("E   ")][:2]  # the first failure's message
    said = [line for line in lines if line.startswith(("FAILED", "ERROR")) or "Sanitizer" in line
            or "runtime error" in line or re.search(r"\d+ (passed|failed)", line)]
    return result.returncode, "\n".join([*errors, *said[-6:]]) or output[-2000:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mutants", nargs="*", metavar="MUTANT", help=f"some of {', '.join(MUTANTS)} (default: all)")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep the libraries (default: a temporary one)")
    args = parser.parse_args()
    unknown = [name for name in args.mutants if name not in MUTANTS]
    if unknown:
        parser.error(f"unknown mutant {', '.join(unknown)}; the mutants are {', '.join(MUTANTS)}")
    chosen = args.mutants or list(MUTANTS)
    cxx, link = compile_flags()
    failures = []
    with tempfile.TemporaryDirectory(prefix="v2v-mutants-") as scratch_name:
        scratch = Path(scratch_name)
        if args.keep:
            scratch = args.keep.resolve()
            scratch.mkdir(parents=True, exist_ok=False)
        module_object = scratch / "module.o"
        compiler(*cxx, f"-I{ROOT / 'csrc'}", "-c", str(ROOT / "csrc" / "cuda_emulation" / "module.cpp"), "-o", str(module_object))
        for name in [None, *chosen]:
            label = name or "control (unmodified kernels)"
            started = time.monotonic()
            library = scratch / f"{name or 'control'}.so"
            build(mutated_copy(scratch, name), library, module_object, cxx, link)
            built = time.monotonic()
            status, said = run_suite(library)
            timing = f"built in {built - started:.0f} s, tested in {time.monotonic() - built:.0f} s"
            if name is None:
                verdict = "passes" if status == 0 else f"FAILED (exit {status}): the harness is broken"
            else:
                caught = status == 1 or status < 0  # tests failed, or a sanitizer or a signal stopped the run
                verdict = f"caught (exit {status})" if caught else f"NOT CAUGHT (exit {status})"
                if not caught:
                    failures.append(name)
            if name is None and status != 0:
                failures.append("control")
            print(f"== {label}: {MUTANTS[name][0] if name else 'the suite must pass'}\n   {verdict}; {timing}")
            print("   " + said.replace("\n", "\n   "), flush=True)
    if failures:
        print(f"mutation check FAILED: {', '.join(failures)}")
        return 1
    print(f"mutation check passed: the control passes, and {len(chosen)} of {len(chosen)} mutants fail the suite")
    return 0


if __name__ == "__main__":
    sys.exit(main())
