#!/usr/bin/env bash
# The project's GPU checks in one script, for a session that is lent a GPU (see the device tool).
#
#   benchmarks/gpu_suite.sh                     # every part
#   benchmarks/gpu_suite.sh build tests emulation sanitizer profile translate   # call 1 (about 6 minutes + emulation's)
#   benchmarks/gpu_suite.sh build bench                                         # call 2 (about 6 minutes)
#
# Parts (each writes its file; a failing part does not stop the others; the exit status is non-zero if
# any failed):
#   build      the extension against this machine's own torch, CUDA kernels for this GPU's arch; with
#              V2V_CUDA_EMULATION=1 in the environment also the CUDA emulation (docs/op.md)
#   tests      the CUDA op tests (pytest -m cuda tests/v2vcore, less the emulation part's file)
#                                                                           -> gpu_tests.xml
#   emulation  the CUDA emulation's test cases (tests/v2vcore/test_cuda_emulation.py) on this GPU, each
#              against the CPU kernels, bit for bit where the emulation demands it: the first run of
#              the kernels on a device, to check the emulation's verdicts (CI runs the same cases
#              emulated). With the emulation built here too, both backends run, side by side in one
#              file                                                     -> gpu_emulation_cases.xml
#   sanitizer  compute-sanitizer memcheck, racecheck and initcheck (reads of uninitialised device
#              memory) over every kernel                                    -> sanitizer.log
#   bench      op benchmarks (fused / eager / compiled, fp32 and bf16, three shapes) and the roofline
#                                                                           -> gpu_bench.json, gpu_bench.md
#   profile    training-step profile, paper preset, 256x256, 5 frames, batch 4, bf16
#                                                                           -> train_step_profile.json
#   translate  translation frames/s at 854x480, paper generator, bf16 (needs PyAV: carry its wheel in
#              .whl/, see the device tool's README)                         -> translate_fps.json
# A summary of what ran goes to gpu_suite.json. Files land in $OUT when the device tool runs it, else
# in benchmarks/results/gpu-<date>/. Commit them under benchmarks/results/ with the note's figures.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results/gpu-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(build tests emulation sanitizer bench profile translate)
python=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then  # carried wheels (PyAV), see the device tool's README
  $python -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1
declare -A status

run_part() {  # name, command...
  local name=$1; shift
  local start=$SECONDS
  echo "== $name: $*"
  "$@"
  status[$name]="exit $? in $((SECONDS - start)) s"
  echo "== $name: ${status[$name]}"
}

has_cuda_kernels() { $python -c "import v2vcore, sys; sys.exit(0 if v2vcore.has_cuda_kernels() else 1)" 2>/dev/null; }
has_emulation() { $python -c "import v2vcore._C_cuda_emulated" 2>/dev/null; }
wants_emulation() { [ "${V2V_CUDA_EMULATION:-0}" = 1 ]; }

build() {
  if has_cuda_kernels && { ! wants_emulation || has_emulation; }; then echo "already built with CUDA kernels"; return 0; fi
  local arch
  arch=$($python -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())") || return 1
  TORCH_CUDA_ARCH_LIST=$arch V2V_CUDA=1 MAX_JOBS=$(nproc) \
    $python -m pip install -q --no-build-isolation --no-deps -e . && has_cuda_kernels && { ! wants_emulation || has_emulation; }
}

emulation_cases() {  # the real device's cases, and the emulated ones when the emulation is built here
  local select=(-m cuda)
  if has_emulation; then select=(); echo "the CUDA emulation is built here too: both backends run"; fi
  $python -m pytest tests/v2vcore/test_cuda_emulation.py "${select[@]}" -q -p no:cacheprovider \
    --junitxml="$out/gpu_emulation_cases.xml"
}

for part in "${parts[@]}"; do
  case $part in
    build) run_part build build ;;
    tests) run_part tests $python -m pytest tests/v2vcore -m cuda -q -p no:cacheprovider --junitxml="$out/gpu_tests.xml" \
             --ignore=tests/v2vcore/test_cuda_emulation.py ;;
    emulation) run_part emulation emulation_cases ;;
    sanitizer)
      run_part sanitizer bash -c "
        set -o pipefail
        compute-sanitizer --tool memcheck --error-exitcode 1 $python benchmarks/sanitizer_workload.py 2>&1 | tail -n 40 > '$out/sanitizer.log' &&
        compute-sanitizer --tool racecheck --error-exitcode 1 $python benchmarks/sanitizer_workload.py 2>&1 | tail -n 40 >> '$out/sanitizer.log' &&
        compute-sanitizer --tool initcheck --error-exitcode 1 $python benchmarks/sanitizer_workload.py 2>&1 | tail -n 40 >> '$out/sanitizer.log'" ;;
    bench)
      run_part bench bash -c "$python -m pytest benchmarks -k cuda --benchmark-only -q -p no:cacheprovider \
        --benchmark-json='$out/gpu_bench.json' && $python benchmarks/report.py '$out/gpu_bench.json' --output '$out/gpu_bench.md'" ;;
    profile) run_part profile $python benchmarks/train_step_profile.py --output "$out/train_step_profile.json" ;;
    translate) run_part translate $python benchmarks/translate_fps.py --device cuda --precision bf16 --output "$out/translate_fps.json" ;;
    *) echo "unknown part '$part' (build tests emulation sanitizer bench profile translate)"; status[$part]="unknown part" ;;
  esac
done

failed=0
{
  echo "{"
  echo "  \"device\": \"$($python -c 'import torch; print(torch.cuda.get_device_name())' 2>/dev/null)\","
  echo "  \"torch\": \"$($python -c 'import torch; print(torch.__version__)' 2>/dev/null)\","
  echo "  \"command\": \"benchmarks/gpu_suite.sh ${parts[*]}\","
  echo "  \"parts\": {"
  sep=""
  for part in "${parts[@]}"; do
    printf '%s    "%s": "%s"' "$sep" "$part" "${status[$part]:-not run}"; sep=$',\n'
    [[ "${status[$part]:-}" == "exit 0 "* ]] || failed=1
  done
  printf '\n  }\n}\n'
} > "$out/gpu_suite.json"
cat "$out/gpu_suite.json"
exit $failed
