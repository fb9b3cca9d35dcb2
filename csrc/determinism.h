// What the backward passes of both backends need for their deterministic (fixed-point) scatter;
// implemented in determinism.cpp. The fixed-point arithmetic itself is in pixel_math.h.
#pragma once

#include <ATen/core/Tensor.h>

#include "pixel_math.h"

namespace v2vcore {

// Whether the scatter of a backward must be bitwise reproducible (torch.use_deterministic_algorithms).
bool deterministic_scatter();

// The largest |grad| over the elements whose scatter writes something, a 0-dim float64 tensor on
// grad's device (NaN if one of them is NaN), for fixed_point_scale. Elements that scatter nothing
// must not count: one NaN or Inf there would set the scale to 0 and make every gradient NaN, where
// the float scatter skips it and stays finite.
//   residual_error_backward: the pixels that `mask` [B, T-1, 1, H, W] marks (grad [B, T-1, C, H, W]);
//   warp_backward: the pixels whose sample p + flow(p) has a tap in the frame (grad [B, C, H, W]).
at::Tensor residual_scatter_bound(const at::Tensor& grad, const at::Tensor& mask);
at::Tensor warp_scatter_bound(const at::Tensor& grad, const at::Tensor& flow, Padding padding);

}  // namespace v2vcore
