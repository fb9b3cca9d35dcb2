// Argument checks shared by every backend (implemented in checks.cpp); each failure names the argument
// and what was expected.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "pixel_math.h"

namespace v2vcore {

void check_residual_error_args(const at::Tensor& video, const at::Tensor& flow_fwd, const at::Tensor& flow_bwd);
void check_residual_error_backward_args(const at::Tensor& grad_residual, const at::Tensor& flow_bwd,
                                        const at::Tensor& mask);
void check_warp_args(const at::Tensor& x, const at::Tensor& flow, const std::string& padding);
void check_warp_backward_args(const at::Tensor& grad_output, const at::Tensor& flow, const std::string& padding);
void check_consistency_mask_args(const at::Tensor& flow_fwd, const at::Tensor& flow_bwd);
Padding parse_padding(const std::string& padding);

// Raises the error for a flow holding NaN or Inf (the kernels detect it while reading the flows).
[[noreturn]] void fail_non_finite_flow(const char* op, const char* arguments);

}  // namespace v2vcore
