// The argument checks every backend runs before its kernels (see checks.h).
#include "checks.h"

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace v2vcore {
namespace {

std::string shape_of(const at::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

void check_defined(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK_VALUE(t.defined(), "v2vcore.", op, ": ", name, " is undefined (None)");
}

void check_frame_dtype(const char* op, const char* name, const at::Tensor& t) {
  const auto dtype = t.scalar_type();
  TORCH_CHECK_VALUE(dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16 || dtype == at::kDouble,
                    "v2vcore.", op, ": ", name, " must be float16, bfloat16, float32 or float64, got ", dtype);
}

void check_flow_dtype(const char* op, const char* name, const at::Tensor& t) {
  const auto dtype = t.scalar_type();
  TORCH_CHECK_VALUE(dtype == at::kFloat || dtype == at::kDouble, "v2vcore.", op, ": ", name,
                    " must be float32 or float64, got ", dtype);
}

void check_same_device(const char* op, const char* name, const at::Tensor& t, const char* ref_name,
                       const at::Tensor& ref) {
  TORCH_CHECK(t.device() == ref.device(), "v2vcore.", op, ": ", name, " is on ", t.device(), " but ", ref_name,
              " is on ", ref.device(), "; all arguments must be on one device");
}

// Channels, rows and columns are looped over with 32-bit counters and in-plane offsets are 32-bit
// (pixel_math.h: index_t): each dimension and the plane must stay below 2^31.
void check_dims_below_2_31(const char* op, const char* name, const at::Tensor& t, int64_t first_dim) {
  for (int64_t d = first_dim; d < t.dim(); ++d)
    TORCH_CHECK_VALUE(t.size(d) < (int64_t{1} << 31), "v2vcore.", op, ": ", name, " has ", t.size(d),
                      " elements along dimension ", d, " (shape ", shape_of(t), "); at most 2^31 - 1 are supported");
}

void check_plane_size(const char* op, const char* name, int64_t height, int64_t width) {
  TORCH_CHECK_VALUE(height * width < (int64_t{1} << 31), "v2vcore.", op, ": ", name, " frames of ", height, "x",
                    width, " pixels are too large (at most 2^31 - 1 pixels per frame)");
}

void check_flow_pair(const char* op, const at::Tensor& flow_fwd, const at::Tensor& flow_bwd) {
  check_flow_dtype(op, "flow_fwd", flow_fwd);
  check_flow_dtype(op, "flow_bwd", flow_bwd);
  TORCH_CHECK_VALUE(flow_fwd.scalar_type() == flow_bwd.scalar_type(), "v2vcore.", op,
                    ": flow_fwd and flow_bwd must share a dtype, got ", flow_fwd.scalar_type(), " and ",
                    flow_bwd.scalar_type());
  check_same_device(op, "flow_fwd", flow_fwd, "flow_bwd", flow_bwd);
}

}  // namespace

void check_residual_error_args(const at::Tensor& video, const at::Tensor& flow_fwd, const at::Tensor& flow_bwd) {
  const char* op = "residual_error";
  check_defined(op, "video", video);
  check_defined(op, "flow_fwd", flow_fwd);
  check_defined(op, "flow_bwd", flow_bwd);
  TORCH_CHECK_VALUE(video.dim() == 5, "v2vcore.residual_error: video must be [B, T, C, H, W], got shape ",
                    shape_of(video));
  const int64_t batch = video.size(0), frames = video.size(1), channels = video.size(2);
  const int64_t height = video.size(3), width = video.size(4);
  TORCH_CHECK_VALUE(frames >= 2, "v2vcore.residual_error: video needs T >= 2 frames, got shape ", shape_of(video));
  TORCH_CHECK_VALUE(channels >= 1 && height >= 1 && width >= 1,
                    "v2vcore.residual_error: video needs C, H, W >= 1, got shape ", shape_of(video));
  check_dims_below_2_31(op, "video", video, 2);
  check_plane_size(op, "video", height, width);
  check_frame_dtype(op, "video", video);
  check_flow_pair(op, flow_fwd, flow_bwd);
  check_same_device(op, "flow_bwd", flow_bwd, "video", video);
  const std::vector<int64_t> expected{batch, frames - 1, 2, height, width};
  TORCH_CHECK_VALUE(flow_fwd.sizes() == at::IntArrayRef(expected), "v2vcore.residual_error: flow_fwd must be ",
                    "[B, T-1, 2, H, W] = ", at::IntArrayRef(expected), " for video of shape ", shape_of(video),
                    ", got ", shape_of(flow_fwd));
  TORCH_CHECK_VALUE(flow_bwd.sizes() == at::IntArrayRef(expected), "v2vcore.residual_error: flow_bwd must be ",
                    "[B, T-1, 2, H, W] = ", at::IntArrayRef(expected), " for video of shape ", shape_of(video),
                    ", got ", shape_of(flow_bwd));
}

void check_residual_error_backward_args(const at::Tensor& grad_residual, const at::Tensor& flow_bwd,
                                        const at::Tensor& mask) {
  const char* op = "residual_error_backward";
  check_defined(op, "grad_residual", grad_residual);
  check_defined(op, "flow_bwd", flow_bwd);
  check_defined(op, "mask", mask);
  TORCH_CHECK_VALUE(grad_residual.dim() == 5 && grad_residual.size(1) >= 1,
                    "v2vcore.residual_error_backward: grad_residual must be [B, T-1, C, H, W], got shape ",
                    shape_of(grad_residual));
  TORCH_CHECK_VALUE(grad_residual.size(2) >= 1 && grad_residual.size(3) >= 1 && grad_residual.size(4) >= 1,
                    "v2vcore.residual_error_backward: grad_residual needs C, H, W >= 1, got shape ",
                    shape_of(grad_residual));
  check_dims_below_2_31(op, "grad_residual", grad_residual, 2);
  check_plane_size(op, "grad_residual", grad_residual.size(3), grad_residual.size(4));
  check_frame_dtype(op, "grad_residual", grad_residual);
  check_flow_dtype(op, "flow_bwd", flow_bwd);
  check_same_device(op, "flow_bwd", flow_bwd, "grad_residual", grad_residual);
  check_same_device(op, "mask", mask, "grad_residual", grad_residual);
  const auto s = grad_residual.sizes();
  const std::vector<int64_t> flow_shape{s[0], s[1], 2, s[3], s[4]};
  const std::vector<int64_t> mask_shape{s[0], s[1], 1, s[3], s[4]};
  TORCH_CHECK_VALUE(flow_bwd.sizes() == at::IntArrayRef(flow_shape), "v2vcore.residual_error_backward: flow_bwd ",
                    "must be ", at::IntArrayRef(flow_shape), ", got ", shape_of(flow_bwd));
  TORCH_CHECK_VALUE(mask.sizes() == at::IntArrayRef(mask_shape) && mask.scalar_type() == at::kBool,
                    "v2vcore.residual_error_backward: mask must be a bool tensor of shape ",
                    at::IntArrayRef(mask_shape), ", got ", mask.scalar_type(), " ", shape_of(mask));
}

Padding parse_padding(const std::string& padding) {
  if (padding == "zeros") return Padding::Zeros;
  if (padding == "border") return Padding::Border;
  TORCH_CHECK_VALUE(false, "v2vcore.warp: padding must be 'zeros' or 'border', got '", padding, "'");
}

void check_warp_args(const at::Tensor& x, const at::Tensor& flow, const std::string& padding) {
  const char* op = "warp";
  check_defined(op, "x", x);
  check_defined(op, "flow", flow);
  parse_padding(padding);
  TORCH_CHECK_VALUE(x.dim() == 4 && x.size(1) >= 1 && x.size(2) >= 1 && x.size(3) >= 1,
                    "v2vcore.warp: x must be [B, C, H, W] with C, H, W >= 1, got shape ", shape_of(x));
  check_dims_below_2_31(op, "x", x, 1);
  check_plane_size(op, "x", x.size(2), x.size(3));
  check_frame_dtype(op, "x", x);
  check_flow_dtype(op, "flow", flow);
  check_same_device(op, "flow", flow, "x", x);
  const std::vector<int64_t> expected{x.size(0), 2, x.size(2), x.size(3)};
  TORCH_CHECK_VALUE(flow.sizes() == at::IntArrayRef(expected), "v2vcore.warp: flow must be [B, 2, H, W] = ",
                    at::IntArrayRef(expected), " for x of shape ", shape_of(x), ", got ", shape_of(flow));
}

void check_warp_backward_args(const at::Tensor& grad_output, const at::Tensor& flow, const std::string& padding) {
  check_warp_args(grad_output, flow, padding);
}

void check_consistency_mask_args(const at::Tensor& flow_fwd, const at::Tensor& flow_bwd) {
  const char* op = "consistency_mask";
  check_defined(op, "flow_fwd", flow_fwd);
  check_defined(op, "flow_bwd", flow_bwd);
  check_flow_pair(op, flow_fwd, flow_bwd);
  TORCH_CHECK_VALUE(flow_bwd.dim() == 4 && flow_bwd.size(1) == 2 && flow_bwd.size(2) >= 1 && flow_bwd.size(3) >= 1,
                    "v2vcore.consistency_mask: flow_bwd must be [B, 2, H, W] or [B, N, 2, H, W], got shape ",
                    shape_of(flow_bwd));
  check_plane_size(op, "flow_bwd", flow_bwd.size(2), flow_bwd.size(3));
  TORCH_CHECK_VALUE(flow_fwd.sizes() == flow_bwd.sizes(), "v2vcore.consistency_mask: flow_fwd must have ",
                    "flow_bwd's shape ", shape_of(flow_bwd), ", got ", shape_of(flow_fwd));
}

void fail_non_finite_flow(const char* op, const char* arguments) {
  TORCH_CHECK_VALUE(false, "v2vcore.", op, ": ", arguments,
                    " holds NaN or Inf; flows must be finite (pass check_flows=False only for flows you "
                    "validated yourself: non-finite pixels then count as invalid)");
  // TORCH_CHECK_VALUE(false, ...) always throws; this keeps [[noreturn]] honest for the compiler.
  throw std::logic_error("unreachable");
}

}  // namespace v2vcore
