// The one copy of the residual-error op's math (docs/op.md), shared by the CPU and CUDA kernels.
//
// Every function is written once over a *lane* type `L`:
//   - `float` or `double`: one pixel. A CUDA thread runs the per-pixel functions at the end of this
//     file; the CPU runs the same functions for frame/flow dtypes without a SIMD path and for the
//     last pixels of each row.
//   - `f32x8` (CPU only): eight consecutive pixels of a row, a GCC vector; the CPU's float32 kernels
//     run the math on it, the compiler emitting AVX2 (or SSE2 pairs) instructions.
// The kernels differ only in the launch, in the lane type, and in how a scatter lands (plain `+=`
// on the CPU, atomics on the GPU). Compiled without floating-point contraction (-ffp-contract=off,
// nvcc --fmad=false), every lane type gives the same bits.
//
// Convention: a flow plane pair is [2, H, W] (x displacement, then y) in pixels; pixel centres are at
// integer coordinates (align_corners=True); `b` = backward flow (frame t -> t-1), `f` = forward flow
// (frame t-1 -> t); the source of pixel p of frame t is s = p + b(p).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define V2V_HD __host__ __device__ __forceinline__
#else
#define V2V_HD inline __attribute__((always_inline))
#endif

namespace v2vcore {

// Paper eq. 2 (occlusion) and eq. 3 (motion boundary) thresholds; the comparisons are strict `>`.
constexpr double kOcclusionRelative = 0.01;
constexpr double kOcclusionAbsolute = 0.5;
constexpr double kBoundaryRelative = 0.01;
constexpr double kBoundaryAbsolute = 0.002;

enum class Padding : int { Zeros = 0, Border = 1 };

// Frames may be half precision; all arithmetic runs in float (or double when frames or flows are).
template <typename scalar_t, typename flow_t>
using acc_type_t = std::conditional_t<
    std::is_same<scalar_t, double>::value || std::is_same<flow_t, double>::value, double, float>;

// In-plane pixel offsets are 32-bit (the ops reject planes of 2^31 or more pixels): fewer registers
// on the GPU, twice the SIMD width on the CPU.
using index_t = int32_t;

// ---------------------------------------------------------------------------------------------------
// Lane types. `Lane<L>` names the mask and index types of a lane type and the few operations whose
// spelling differs between a scalar and a vector: conversions, finiteness and loads. The lanes of a
// vector are always consecutive pixels of one row, starting at a column x. Vectors have no gather
// `load`: the CPU's float32 path reads taps from interleaved copies instead (residual_f32.cpp).

template <typename L>
struct Lane {
  using scalar = L;       // element type
  using mask = bool;      // result of a comparison
  using index = index_t;  // pixel offsets
  V2V_HD static index to_index(L v) { return static_cast<index_t>(v); }  // truncation
  V2V_HD static L from_index(index i) { return static_cast<L>(i); }
  V2V_HD static mask finite(L v) {
#if defined(__CUDA_ARCH__)
    return isfinite(v);
#else
    return std::isfinite(v);
#endif
  }
  template <typename T>
  V2V_HD static L load(const T* base, index i) {
    return static_cast<L>(base[i]);
  }
  // The lanes' pixel columns, starting at column x.
  V2V_HD static index iota(index_t x) { return x; }
  // base[first + lane]: consecutive elements.
  template <typename T>
  V2V_HD static L load_span(const T* base, index_t first) {
    return static_cast<L>(base[first]);
  }
  // row[clamp(x + lane, 0, width - 1)]: a row read with its edge replicated.
  template <typename T>
  V2V_HD static L load_row_clamped(const T* row, index_t x, index_t width) {
    return static_cast<L>(row[x < 0 ? 0 : (x >= width ? width - 1 : x)]);
  }
};

#if !defined(__CUDACC__)
typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
constexpr int kSimdWidth = 8;

template <>
struct Lane<f32x8> {
  using scalar = float;
  using mask = i32x8;  // all bits set where true
  using index = i32x8;
  V2V_HD static index to_index(f32x8 v) { return __builtin_convertvector(v, i32x8); }
  V2V_HD static f32x8 from_index(index i) { return __builtin_convertvector(i, f32x8); }
  V2V_HD static mask finite(f32x8 v) { return (v - v) == 0.0f; }  // Inf - Inf and NaN - NaN are NaN
  V2V_HD static bool any(mask m) {
    i32x8 folded = m;
    for (int k = 1; k < kSimdWidth; ++k) folded[0] |= m[k];
    return folded[0] != 0;
  }
  V2V_HD static index iota(index_t x) { return x + i32x8{0, 1, 2, 3, 4, 5, 6, 7}; }
  template <typename T>
  V2V_HD static f32x8 load_span(const T* base, index_t first) {
    if constexpr (std::is_same<T, float>::value) {
      f32x8 out;
      __builtin_memcpy(&out, base + first, sizeof(out));
      return out;
    } else {
      f32x8 out;
      for (int k = 0; k < kSimdWidth; ++k) out[k] = static_cast<float>(base[first + k]);
      return out;
    }
  }
  template <typename T>
  V2V_HD static f32x8 load_row_clamped(const T* row, index_t x, index_t width) {
    if (x >= 0 && x + kSimdWidth <= width) return load_span(row, x);
    f32x8 out;
    for (int k = 0; k < kSimdWidth; ++k) {
      const index_t column = x + k < 0 ? 0 : (x + k >= width ? width - 1 : x + k);
      out[k] = static_cast<float>(row[column]);
    }
    return out;
  }
};
#endif

template <typename L>
using mask_t = typename Lane<L>::mask;
template <typename L>
using lane_index_t = typename Lane<L>::index;
template <typename L>
using lane_scalar_t = typename Lane<L>::scalar;

// `m == 0` is logical not for both `bool` and vector masks.
template <typename M>
V2V_HD M lane_not(M m) {
  return m == 0;
}

V2V_HD index_t clamp_index(index_t v, index_t size) { return v < 0 ? 0 : (v >= size ? size - 1 : v); }
#if !defined(__CUDACC__)
V2V_HD i32x8 clamp_index(i32x8 v, index_t size) {
  v = v < 0 ? 0 : v;
  return v >= size ? size - 1 : v;
}
#endif

// floor() by truncation, for |v| < 2^31: no libm call, and it vectorises.
template <typename L>
V2V_HD lane_index_t<L> floor_to_index(L v) {
  const lane_index_t<L> truncated = Lane<L>::to_index(v);
  return Lane<L>::from_index(truncated) > v ? truncated - 1 : truncated;
}

// ---------------------------------------------------------------------------------------------------
// The math.

// The four bilinear taps of a sample, in the order nw, ne, sw, se. A tap outside the frame has weight
// 0 and the index of the nearest pixel inside, so every read is in bounds and stays within one pixel
// of the sample (a NaN elsewhere in the plane cannot leak in, as with grid_sample).
template <typename L>
struct Taps {
  lane_index_t<L> index[4];
  L weight[4];
};

// Selects only, no branch.
template <typename L>
V2V_HD Taps<L> bilinear_taps(L sx, L sy, index_t height, index_t width, Padding padding) {
  using S = typename Lane<L>::scalar;
  const S x_max = static_cast<S>(width - 1);
  const S y_max = static_cast<S>(height - 1);
  if (padding == Padding::Border) {  // grid_sample's border mode clamps the coordinate itself
    sx = sx < S(0) ? S(0) : sx;
    sx = sx > x_max ? x_max : sx;
    sy = sy < S(0) ? S(0) : sy;
    sy = sy > y_max ? y_max : sy;
  }
  // Samples entirely outside (or NaN) get no tap; zeroing them keeps the integer conversion defined.
  const mask_t<L> near =
      (sx > S(-1)) & (sx < static_cast<S>(width)) & (sy > S(-1)) & (sy < static_cast<S>(height));
  sx = near ? sx : S(0);
  sy = near ? sy : S(0);
  const lane_index_t<L> x0 = floor_to_index(sx);
  const lane_index_t<L> y0 = floor_to_index(sy);
  const L ax = sx - Lane<L>::from_index(x0);
  const L ay = sy - Lane<L>::from_index(y0);
  const mask_t<L> x0_in = near & (x0 >= 0), x1_in = near & (x0 + 1 < width);
  const mask_t<L> y0_in = y0 >= 0, y1_in = y0 + 1 < height;
  const lane_index_t<L> row0 = clamp_index(y0, height) * width, row1 = clamp_index(y0 + 1, height) * width;
  const lane_index_t<L> col0 = clamp_index(x0, width), col1 = clamp_index(x0 + 1, width);
  Taps<L> taps;
  taps.index[0] = row0 + col0;
  taps.index[1] = row0 + col1;
  taps.index[2] = row1 + col0;
  taps.index[3] = row1 + col1;
  const L bx = S(1) - ax, by = S(1) - ay;
  taps.weight[0] = (y0_in & x0_in) ? bx * by : S(0);
  taps.weight[1] = (y0_in & x1_in) ? ax * by : S(0);
  taps.weight[2] = (y1_in & x0_in) ? bx * ay : S(0);
  taps.weight[3] = (y1_in & x1_in) ? ax * ay : S(0);
  return taps;
}

template <typename L, typename T>
V2V_HD L gather(const Taps<L>& taps, const T* plane) {
  L value = taps.weight[0] * Lane<L>::load(plane, taps.index[0]);
#pragma unroll
  for (int i = 1; i < 4; ++i) value += taps.weight[i] * Lane<L>::load(plane, taps.index[i]);
  return value;
}

// What pixels of frame t know about their frame pair: where they sample frame t-1 and whether their
// residual counts.
template <typename L>
struct PixelGeometry {
  Taps<L> taps;      // bilinear taps at s = p + b(p), zero padding
  mask_t<L> valid;   // inside, not occluded, not on a motion boundary (docs/op.md, step 5)
  mask_t<L> finite;  // b(p) and f(p) are finite
  L bx, by;          // b(p)
};

// Steps 1, 2 and 4 of docs/op.md for the lanes' pixels (row y, columns x, x+1, ...): the taps,
// the inside test and the motion-boundary test. `valid` still lacks the occlusion test, which needs
// w = f(s) (see occluded / pixel_geometry). `fwd` and `bwd` point at the pair's [2, H, W] planes.
// Branch-free; the tests are written `!(a <= b)` so that a NaN anywhere in reach marks the pixel
// invalid (for finite values this is the strict `a > b` of the paper).
template <typename L, typename flow_t>
V2V_HD PixelGeometry<L> sample_geometry(const flow_t* fwd, const flow_t* bwd, index_t y, index_t x, index_t height,
                                        index_t width) {
  using S = typename Lane<L>::scalar;
  const index_t plane = height * width;
  const index_t p = y * width + x;
  PixelGeometry<L> g;
  g.bx = Lane<L>::load_span(bwd, p);
  g.by = Lane<L>::load_span(bwd + plane, p);
  g.finite = Lane<L>::finite(g.bx) & Lane<L>::finite(g.by) & Lane<L>::finite(Lane<L>::load_span(fwd, p)) &
             Lane<L>::finite(Lane<L>::load_span(fwd + plane, p));
  const L sx = Lane<L>::from_index(Lane<L>::iota(x)) + g.bx;
  const L sy = static_cast<S>(y) + g.by;
  g.taps = bilinear_taps(sx, sy, height, width, Padding::Zeros);
  const mask_t<L> inside =
      (sx >= S(0)) & (sx <= static_cast<S>(width - 1)) & (sy >= S(0)) & (sy <= static_cast<S>(height - 1));

  // Motion boundary (eq. 3): central differences of b, the edge replicated at the border.
  const index_t row = y * width;
  const index_t row_up = (y > 0 ? y - 1 : 0) * width, row_down = (y + 1 < height ? y + 1 : y) * width;
  L grad_sq[2];
#pragma unroll
  for (int k = 0; k < 2; ++k) {
    const flow_t* comp = bwd + k * plane;
    const L dx = S(0.5) * (Lane<L>::load_row_clamped(comp + row, x + 1, width) -
                           Lane<L>::load_row_clamped(comp + row, x - 1, width));
    const L dy = S(0.5) * (Lane<L>::load_span(comp, row_down + x) - Lane<L>::load_span(comp, row_up + x));
    grad_sq[k] = dx * dx + dy * dy;
  }
  const L b_sq = g.bx * g.bx + g.by * g.by;
  const mask_t<L> boundary =
      lane_not(grad_sq[0] + grad_sq[1] <= S(kBoundaryRelative) * b_sq + S(kBoundaryAbsolute));

  g.valid = g.finite & inside & lane_not(boundary);
  return g;
}

// Forward-backward check (eq. 1-2): w = f(s) must cancel b(p).
template <typename L>
V2V_HD mask_t<L> occluded(L wx, L wy, L bx, L by) {
  using S = typename Lane<L>::scalar;
  const L sum_sq = (wx + bx) * (wx + bx) + (wy + by) * (wy + by);
  const L norms_sq = (wx * wx + wy * wy) + (bx * bx + by * by);
  return lane_not(sum_sq <= S(kOcclusionRelative) * norms_sq + S(kOcclusionAbsolute));
}

// Steps 1-5 of docs/op.md for the lanes' pixels: sample_geometry, then the occlusion test with
// w = bilinear(f, s), gathered with the pixel's own taps.
template <typename L, typename flow_t>
V2V_HD PixelGeometry<L> pixel_geometry(const flow_t* fwd, const flow_t* bwd, index_t y, index_t x, index_t height,
                                       index_t width) {
  PixelGeometry<L> g = sample_geometry<L>(fwd, bwd, y, x, height, width);
  const index_t plane = height * width;
  g.valid = g.valid & lane_not(occluded(gather(g.taps, fwd), gather(g.taps, fwd + plane), g.bx, g.by));
  return g;
}

// E_t(p) for one channel: c * (O_t(p) - bilinear(O_{t-1}, s)).
template <typename L, typename T>
V2V_HD L residual_value(mask_t<L> valid, const Taps<L>& taps, const T* prev_plane, L current) {
  using S = typename Lane<L>::scalar;
  return valid ? current - gather(taps, prev_plane) : S(0);
}

// Taps of samples at p + flow(p) for the lanes' pixels (row y, columns x, x+1, ...); the backward
// passes recompute these rather than storing them.
template <typename L, typename flow_t>
V2V_HD Taps<L> flow_taps(const flow_t* flow, index_t y, index_t x, index_t height, index_t width, Padding padding) {
  using S = typename Lane<L>::scalar;
  const index_t p = y * width + x;
  const L sx = Lane<L>::from_index(Lane<L>::iota(x)) + Lane<L>::load_span(flow, p);
  const L sy = static_cast<S>(y) + Lane<L>::load_span(flow + height * width, p);
  return bilinear_taps(sx, sy, height, width, padding);
}

// The scatter (transpose of `gather`) of one value into a plane of the workspace; zero-weight taps
// are skipped (they carry nothing, and skipping saves an atomic on the GPU).
template <typename acc_t, typename Accumulate>
V2V_HD void scatter(const Taps<acc_t>& taps, acc_t value, int64_t plane_offset, Accumulate& accumulate) {
#pragma unroll
  for (int i = 0; i < 4; ++i)
    if (taps.weight[i] != acc_t(0)) accumulate(plane_offset + taps.index[i], value * taps.weight[i]);
}

// Gather half of the residual backward for one element of dL/dO_t: the direct term c * dL/dE_t
// (`direct_valid` is false for t = 0 and where c = 0) plus the scattered term that the workspace
// collected for frame t (zero for t = T-1), already converted to acc_t.
template <typename acc_t, typename scalar_t>
V2V_HD scalar_t residual_backward_gather(bool direct_valid, scalar_t grad_direct, acc_t scattered) {
  return static_cast<scalar_t>((direct_valid ? static_cast<acc_t>(grad_direct) : acc_t(0)) + scattered);
}

// ---------------------------------------------------------------------------------------------------
// Per-pixel entry points: what one CUDA thread does, and what the CPU does for one pixel.

// Forward of the fused op for pixel (y, x) of one frame pair: mask, then every channel's residual.
// `prev`/`cur`/`out` point at the pair's [C, H, W] planes; returns false when a flow is not finite.
template <typename acc_t, typename scalar_t, typename flow_t>
V2V_HD bool residual_forward_pixel(const scalar_t* prev, const scalar_t* cur, scalar_t* out, bool* mask,
                                   const flow_t* fwd, const flow_t* bwd, int64_t channels, index_t height,
                                   index_t width, index_t y, index_t x) {
  const int64_t plane = static_cast<int64_t>(height) * width;
  const index_t p = y * width + x;
  const PixelGeometry<acc_t> g = pixel_geometry<acc_t>(fwd, bwd, y, x, height, width);
  mask[p] = g.valid;
  for (int64_t c = 0; c < channels; ++c) {
    const acc_t current = static_cast<acc_t>(cur[c * plane + p]);
    out[c * plane + p] = static_cast<scalar_t>(residual_value(g.valid, g.taps, prev + c * plane, current));
  }
  return g.finite;
}

// Scatter half of the residual backward for pixel (y, x) of one frame pair: the transpose of the
// bilinear gather, -c * dL/dE into the taps of frame t-1, channels [c_begin, c_end).
// `accumulate(index, value)` adds into the pair's workspace planes (index = c * H * W + tap).
template <typename acc_t, typename scalar_t, typename flow_t, typename Accumulate>
V2V_HD void residual_backward_scatter_pixel(const scalar_t* grad, const bool* mask, const flow_t* bwd,
                                            int64_t c_begin, int64_t c_end, index_t height, index_t width,
                                            index_t y, index_t x, Accumulate& accumulate) {
  const int64_t plane = static_cast<int64_t>(height) * width;
  const index_t p = y * width + x;
  if (!mask[p]) return;
  const Taps<acc_t> taps = flow_taps<acc_t>(bwd, y, x, height, width, Padding::Zeros);
  for (int64_t c = c_begin; c < c_end; ++c)
    scatter(taps, -static_cast<acc_t>(grad[c * plane + p]), c * plane, accumulate);
}

// Warp forward for pixel (y, x): every channel of `src` [C, H, W] sampled at p + flow(p).
template <typename acc_t, typename scalar_t, typename flow_t>
V2V_HD bool warp_forward_pixel(const scalar_t* src, scalar_t* out, const flow_t* flow, int64_t channels,
                               index_t height, index_t width, index_t y, index_t x, Padding padding) {
  const int64_t plane = static_cast<int64_t>(height) * width;
  const index_t p = y * width + x;
  const Taps<acc_t> taps = flow_taps<acc_t>(flow, y, x, height, width, padding);
  for (int64_t c = 0; c < channels; ++c) out[c * plane + p] = static_cast<scalar_t>(gather(taps, src + c * plane));
  return Lane<acc_t>::finite(static_cast<acc_t>(flow[p])) & Lane<acc_t>::finite(static_cast<acc_t>(flow[plane + p]));
}

// Warp backward for pixel (y, x): grad_output scattered into the taps, channels [c_begin, c_end).
template <typename acc_t, typename scalar_t, typename flow_t, typename Accumulate>
V2V_HD void warp_backward_scatter_pixel(const scalar_t* grad, const flow_t* flow, int64_t c_begin, int64_t c_end,
                                        index_t height, index_t width, index_t y, index_t x, Padding padding,
                                        Accumulate& accumulate) {
  const int64_t plane = static_cast<int64_t>(height) * width;
  const index_t p = y * width + x;
  const Taps<acc_t> taps = flow_taps<acc_t>(flow, y, x, height, width, padding);
  for (int64_t c = c_begin; c < c_end; ++c)
    scatter(taps, static_cast<acc_t>(grad[c * plane + p]), c * plane, accumulate);
}

// ---------------------------------------------------------------------------------------------------
// Fixed-point accumulation for bitwise-reproducible scatters (deterministic mode): every contribution
// is rounded to an integer multiple of 1/scale and summed in 64-bit two's complement, which is
// associative, so the sum does not depend on the order the atomics land in. `scale` is a power of two
// chosen per call so that no partial sum can overflow (see fixed_point_scale).
template <typename acc_t>
V2V_HD unsigned long long to_fixed(acc_t value, double scale) {
  return static_cast<unsigned long long>(llrint(static_cast<double>(value) * scale));
}

V2V_HD double from_fixed(unsigned long long bits, double scale) {
  // scale == 0 marks a call whose gradient held NaN/Inf: the scattered term is NaN, as a float sum is.
  return scale > 0.0 ? static_cast<double>(static_cast<long long>(bits)) / scale : NAN;
}

// The largest power of two such that plane_size * max_abs_grad * scale < 2^62: every partial sum of a
// target is at most the sum of |contribution| over the pixels of its plane, which this bounds.
// `max_abs_grad` is the largest |dL/dE| over the pixels that scatter (residual_scatter_bound, warp_scatter_bound: determinism.cpp).
// The exponent is read off the binary representation (frexp), not from log2: the CPU's and the
// device's log2 may round differently near a power of two, and the CPU and CUDA scales must agree to
// the bit. An overflowing bound (max_abs_grad near DBL_MAX) is bounded through the two exponents
// rather than cast from Inf to int, which is undefined.
V2V_HD double fixed_point_scale(double max_abs_grad, int64_t plane_size) {
  if (!(max_abs_grad < INFINITY)) return 0.0;  // NaN or Inf
  if (max_abs_grad == 0.0) return 1.0;
  const double plane_bound = static_cast<double>(plane_size) * 2.0;  // 2x: rounding slack
  const double bound = max_abs_grad * plane_bound;
  int exponent_of_bound;  // the least e with bound <= 2^e, i.e. ceil(log2(bound)), exactly
  if (bound < INFINITY) {
    int e;
    const double mantissa = ::frexp(bound, &e);  // bound = mantissa * 2^e, mantissa in [0.5, 1)
    exponent_of_bound = mantissa == 0.5 ? e - 1 : e;
  } else {  // max_abs_grad < 2^e1 and plane_bound <= 2^e2, so bound < 2^(e1 + e2)
    int e1, e2;
    ::frexp(max_abs_grad, &e1);
    ::frexp(plane_bound, &e2);
    exponent_of_bound = e1 + e2;
  }
  const int exponent = 62 - exponent_of_bound;
  return ::ldexp(1.0, exponent < 1000 ? (exponent > -1000 ? exponent : -1000) : 1000);
}

}  // namespace v2vcore
