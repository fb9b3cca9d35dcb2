// The module v2vcore._C_cuda_emulated (built with V2V_CUDA_EMULATION=1, never by a plain install): the
// library torch.ops.v2vcore_cuda_emulated, with the schemas of torch.ops.v2vcore (op_schemas.h) and,
// for CPU tensors, the CUDA kernels of csrc/cuda/ops_cuda.cu run by the emulation
// (ops_cuda_emulated.cpp), plus the emulation's own settings. A test and CI instrument: see
// docs/op.md, "CUDA emulation".
#include <Python.h>

#include <ATen/ATen.h>
#include <c10/util/Flags.h>
#include <torch/library.h>

#include <cstdint>
#include <string>

#include "cuda_emulation/cuda_shim.h"
#include "op_schemas.h"

// c10's CPU allocator fills new allocations with a NaN pattern while this is set (c10/core/impl/alloc_cpu.cpp).
C10_DECLARE_bool(caffe2_cpu_allocator_do_junk_fill);

// `import v2vcore._C_cuda_emulated` loads this library, whose static initialisers register the operators.
// The library is built with -fvisibility=hidden (its copies of checks.cpp and determinism.cpp must not
// meet v2vcore._C's); PyMODINIT_FUNC exports this one symbol.
PyMODINIT_FUNC PyInit__C_cuda_emulated(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C_cuda_emulated", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}

namespace v2vcore {

std::string cuda_kernel_image_error(int64_t device);  // cuda/ops_cuda.cu

namespace {

bool built_with_cuda() { return true; }  // the CUDA kernels, built for the emulation
std::string built_cuda_archs() { return "emulated"; }

void configure(int64_t schedule_seed, int64_t max_blocks, bool junk_fill) {
  TORCH_CHECK_VALUE(schedule_seed >= 0, "v2vcore_cuda_emulated.configure: schedule_seed must be >= 0, got ",
                    schedule_seed);
  TORCH_CHECK_VALUE(max_blocks >= 0, "v2vcore_cuda_emulated.configure: max_blocks must be >= 0 (0: no limit), got ",
                    max_blocks);
  cuda_emulation::Settings& settings = cuda_emulation::settings();
  settings.schedule_seed = schedule_seed;
  settings.max_blocks = max_blocks;
  FLAGS_caffe2_cpu_allocator_do_junk_fill = junk_fill;
}

int64_t launches() { return cuda_emulation::settings().launches.load(); }

}  // namespace

TORCH_LIBRARY(v2vcore_cuda_emulated, m) {
  define_op_schemas(m, &built_with_cuda, &built_cuda_archs, &cuda_kernel_image_error);
  // How the emulated launches run (cuda_shim.h): block and thread order, grid size, junk-filled memory.
  m.def("configure(int schedule_seed=0, int max_blocks=0, bool junk_fill=False) -> ()", &configure);
  // The number of kernels launched so far.
  m.def("launches() -> int", &launches);
}

}  // namespace v2vcore
