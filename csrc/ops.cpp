// The library torch.ops.v2vcore (schemas: op_schemas.h, the one place they are written) and the module
// that loads it. Argument checks: checks.cpp; kernels: cpu/ops_cpu.cpp (CPU), cuda/ops_cuda.cu (CUDA).
// Autograd and fake kernels are registered from Python (v2vcore/ops.py).
#include <Python.h>

#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "op_schemas.h"

extern "C" {
// `import v2vcore._C` loads this library, whose static initialisers register the operators.
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
}

namespace v2vcore {

bool built_with_cuda() {
#ifdef V2V_WITH_CUDA
  return true;
#else
  return false;
#endif
}

#define V2V_STRINGIFY_(x) #x
#define V2V_STRINGIFY(x) V2V_STRINGIFY_(x)

// The TORCH_CUDA_ARCH_LIST the CUDA kernels were compiled for, ';'-separated ("" without CUDA
// kernels). setup.py passes it as one token with '_' for the separators (see there why).
std::string built_cuda_archs() {
#ifdef V2V_CUDA_ARCHS
  std::string archs = V2V_STRINGIFY(V2V_CUDA_ARCHS);
  std::replace(archs.begin(), archs.end(), '_', ';');
  return archs;
#else
  return "";
#endif
}

#ifdef V2V_WITH_CUDA
std::string cuda_kernel_image_error(int64_t device);  // cuda/ops_cuda.cu
#else
std::string cuda_kernel_image_error(int64_t) { return "v2vcore._C was built without CUDA kernels"; }
#endif

TORCH_LIBRARY(v2vcore, m) { define_op_schemas(m, &built_with_cuda, &built_cuda_archs, &cuda_kernel_image_error); }

}  // namespace v2vcore
