// The deterministic scatter's switch and the bound of its fixed-point scale (see determinism.h).
// The bounds are ATen expressions, so the CPU and the CUDA backend compute the same value, and with
// it the same scale and the same bits.
#include "determinism.h"

#include <ATen/Context.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>

namespace v2vcore {
namespace {

at::Tensor max_abs_where(const at::Tensor& grad, const at::Tensor& scatters) {
  const auto double_options = grad.options().dtype(at::kDouble);
  if (grad.numel() == 0) return at::zeros({}, double_options);
  // where, not a product: NaN * 0 is NaN. amax propagates NaN.
  return at::where(scatters, grad.abs(), at::zeros({}, grad.options())).amax().to(at::kDouble);
}

}  // namespace

bool deterministic_scatter() { return at::globalContext().deterministicAlgorithms(); }

at::Tensor residual_scatter_bound(const at::Tensor& grad, const at::Tensor& mask) {
  return max_abs_where(grad, mask);  // mask [B, T-1, 1, H, W] broadcasts over the channels
}

at::Tensor warp_scatter_bound(const at::Tensor& grad, const at::Tensor& flow, Padding padding) {
  // The sample of pixel (y, x) as flow_taps computes it, in the kernels' accumulation type.
  const bool wide = grad.scalar_type() == at::kDouble || flow.scalar_type() == at::kDouble;
  const auto options = flow.options().dtype(wide ? at::kDouble : at::kFloat);
  const int64_t height = flow.size(2), width = flow.size(3);
  const at::Tensor sx = flow.select(1, 0).to(options) + at::arange(width, options).view({1, 1, width});
  const at::Tensor sy = flow.select(1, 1).to(options) + at::arange(height, options).view({1, height, 1});
  at::Tensor scatters;
  if (padding == Padding::Border) {
    // The coordinate is clamped into the frame: every sample but a NaN one has taps.
    scatters = sx.isnan().logical_or(sy.isnan()).logical_not();
  } else {
    // bilinear_taps gives taps to samples with -1 < s < size in both coordinates (false for NaN).
    scatters = sx.gt(-1).logical_and(sx.lt(width)).logical_and(sy.gt(-1)).logical_and(sy.lt(height));
  }
  return max_abs_where(grad, scatters.unsqueeze(1));
}

}  // namespace v2vcore
