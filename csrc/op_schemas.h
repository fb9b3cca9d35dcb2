// The operator schemas of v2vcore, written once. csrc/ops.cpp defines them in torch.ops.v2vcore; the
// CUDA emulation (csrc/cuda_emulation/module.cpp, built with V2V_CUDA_EMULATION=1) defines the same
// names and signatures in torch.ops.v2vcore_cuda_emulated.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <cstdint>
#include <string>
#include <vector>

namespace v2vcore {

// The kernels' operators (each library registers its own kernels for them) and the three that report
// how the library was built, with the library's own implementations.
inline void define_op_schemas(torch::Library& m, bool (*built_with_cuda)(), std::string (*built_cuda_archs)(),
                              std::string (*cuda_kernel_image_error)(int64_t)) {
  const std::vector<at::Tag> tags{at::Tag::pt2_compliant_tag};
  m.def("residual_error(Tensor video, Tensor flow_fwd, Tensor flow_bwd, bool check_flows=True) -> (Tensor, Tensor)",
        tags);
  m.def("residual_error_backward(Tensor grad_residual, Tensor flow_bwd, Tensor mask) -> Tensor", tags);
  m.def("warp(Tensor x, Tensor flow, str padding=\"zeros\", bool check_flow=True) -> Tensor", tags);
  m.def("warp_backward(Tensor grad_output, Tensor flow, str padding) -> Tensor", tags);
  m.def("consistency_mask(Tensor flow_fwd, Tensor flow_bwd, bool check_flows=True) -> Tensor", tags);
  m.def("built_with_cuda() -> bool", built_with_cuda);
  m.def("built_cuda_archs() -> str", built_cuda_archs);
  // "" when the kernels have an image (or PTX) for the GPU `device`, else the CUDA error.
  m.def("cuda_kernel_image_error(int device) -> str", cuda_kernel_image_error);
}

}  // namespace v2vcore
