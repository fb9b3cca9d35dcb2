// The float32 CPU fast path's dispatch: the kernels' copy for this CPU (see residual_f32.h).
#include "cpu/residual_f32.h"

#include <limits>

#include "pixel_math.h"

namespace v2vcore {
namespace cpu_f32 {
#if defined(__x86_64__) || defined(__i386__)
namespace {

// Asked once per process. Other architectures have one copy (and no __builtin_cpu_supports).
bool use_avx2() {
  static const bool supported = __builtin_cpu_supports("avx2");
  return supported;
}

}  // namespace
#endif

bool handles(int64_t plane) { return plane <= std::numeric_limits<int32_t>::max() / kSimdWidth; }

bool residual_forward(const at::Tensor& video, const at::Tensor& flow_fwd, const at::Tensor& flow_bwd,
                      at::Tensor& residual, at::Tensor& mask) {
#if defined(__x86_64__) || defined(__i386__)
  if (use_avx2()) return avx2::residual_forward(video, flow_fwd, flow_bwd, residual, mask);
#endif
  return baseline::residual_forward(video, flow_fwd, flow_bwd, residual, mask);
}

void residual_backward(const at::Tensor& grad, const at::Tensor& flow_bwd, const at::Tensor& mask,
                       at::Tensor& grad_video) {
#if defined(__x86_64__) || defined(__i386__)
  if (use_avx2()) return avx2::residual_backward(grad, flow_bwd, mask, grad_video);
#endif
  baseline::residual_backward(grad, flow_bwd, mask, grad_video);
}

}  // namespace cpu_f32
}  // namespace v2vcore
