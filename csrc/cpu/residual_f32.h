// The CPU fast path of the fused op for float32 frames and float32 flows (the training hot loop).
//
// Same math as every other path (pixel_math.h), arranged for SIMD: the geometry of eight pixels of a
// row at once (f32x8 lanes over pixels), and the bilinear taps of one pixel for eight channels at
// once (f32x8 lanes over channels, read from a pixel-interleaved copy of the rows of frame t-1 that a
// band of rows reaches; the backward scatters through a ring of rows likewise). Sums are formed
// in the same order as the scalar path, and the build disables floating-point contraction, so the
// results are the scalar path's bit for bit.
//
// The kernels (residual_f32_kernels.h) are compiled once per CPU capability: for AVX2 on x86
// (residual_f32_avx2.cpp) and for the architecture's baseline (residual_f32_baseline.cpp: SSE2 on
// x86-64, NEON on aarch64, GCC's generic vector lowering elsewhere). residual_forward and
// residual_backward below run the AVX2 copy when the CPU has AVX2, else the baseline copy.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace v2vcore {
namespace cpu_f32 {

// Whether the fast path takes frames of `plane` pixels: its tap offsets are 32-bit element offsets
// into an 8-lane interleaved copy, so planes up to 2^28 pixels (16384 x 16384). Larger planes run on
// the generic kernels, which give the same bits.
bool handles(int64_t plane);

// The entry points, declared once for the dispatching functions and for each compiled copy.
#define V2V_CPU_F32_ENTRY_POINTS                                                                                \
  /* Fills `residual` [B, T-1, C, H, W] and `mask` [B, T-1, 1, H, W]; returns false when a flow holds */         \
  /* NaN or Inf. All tensors contiguous float32 (mask bool). */                                                 \
  bool residual_forward(const at::Tensor& video, const at::Tensor& flow_fwd, const at::Tensor& flow_bwd,        \
                        at::Tensor& residual, at::Tensor& mask);                                                \
  /* Fills `grad_video` [B, T, C, H, W] from dL/dE `grad` [B, T-1, C, H, W] (float accumulation; the */         \
  /* deterministic fixed-point scatter stays on the generic path). */                                           \
  void residual_backward(const at::Tensor& grad, const at::Tensor& flow_bwd, const at::Tensor& mask,            \
                         at::Tensor& grad_video);

V2V_CPU_F32_ENTRY_POINTS

namespace baseline {
V2V_CPU_F32_ENTRY_POINTS
}  // namespace baseline

#if defined(__x86_64__) || defined(__i386__)
namespace avx2 {
V2V_CPU_F32_ENTRY_POINTS
}  // namespace avx2
#endif

}  // namespace cpu_f32
}  // namespace v2vcore
