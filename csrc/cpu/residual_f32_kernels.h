// The float32 CPU fast path's kernels (see residual_f32.h), written once and compiled once per CPU
// capability, as ATen compiles its CPU kernels: residual_f32_avx2.cpp (x86 only, with AVX2 enabled)
// and residual_f32_baseline.cpp (the architecture's baseline) include this file with
// V2V_CPU_CAPABILITY naming the namespace of their copy; residual_f32.cpp picks one at run time.
// Everything here but the two entry points has internal linkage, so the copies cannot be mixed up
// at link time. Include it from those two files only.
#pragma once

#ifndef V2V_CPU_CAPABILITY
#error "define V2V_CPU_CAPABILITY (the namespace of this copy) before including residual_f32_kernels.h"
#endif

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "cpu/buffer_cache.h"
#include "cpu/parallel.h"
#include "cpu/residual_f32.h"
#include "pixel_math.h"

// Everything below is compiled for the capability's instruction set: the pragma covers every function
// defined after it, lambdas included; the headers above keep their own (baseline) code.
#if V2V_CPU_CAPABILITY_AVX2 && defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

namespace v2vcore {
namespace cpu_f32 {
namespace V2V_CPU_CAPABILITY {
namespace {

constexpr int kLanes = kSimdWidth;  // pixels per geometry step, channels per interleaved group

V2V_HD f32x8 load8(const float* p) {
  f32x8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

V2V_HD void store8(float* p, f32x8 v) { std::memcpy(p, &v, sizeof(v)); }

// r[j][k] <- r[k][j]: eight pixels' channel vectors <-> eight channels' pixel vectors.
V2V_HD void transpose8(f32x8 r[8]) {
  const i32x8 lo = {0, 8, 1, 9, 4, 12, 5, 13}, hi = {2, 10, 3, 11, 6, 14, 7, 15};
  const i32x8 lo2 = {0, 1, 8, 9, 4, 5, 12, 13}, hi2 = {2, 3, 10, 11, 6, 7, 14, 15};
  const i32x8 lo4 = {0, 1, 2, 3, 8, 9, 10, 11}, hi4 = {4, 5, 6, 7, 12, 13, 14, 15};
  f32x8 a[8], b[8];
  for (int i = 0; i < 8; i += 2) {
    a[i] = __builtin_shuffle(r[i], r[i + 1], lo);
    a[i + 1] = __builtin_shuffle(r[i], r[i + 1], hi);
  }
  for (int i = 0; i < 8; i += 4) {
    b[i] = __builtin_shuffle(a[i], a[i + 2], lo2);
    b[i + 1] = __builtin_shuffle(a[i], a[i + 2], hi2);
    b[i + 2] = __builtin_shuffle(a[i + 1], a[i + 3], lo2);
    b[i + 3] = __builtin_shuffle(a[i + 1], a[i + 3], hi2);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = __builtin_shuffle(b[i], b[i + 4], lo4);
    r[i + 4] = __builtin_shuffle(b[i], b[i + 4], hi4);
  }
}

// Eight all-ones/all-zeros lanes as eight bools: byte 0 of each lane, picked by one byte shuffle
// (GCC does not vectorise a conversion to eight bytes).
V2V_HD void store_mask8(bool* out, i32x8 mask) {
  typedef int8_t i8x16 __attribute__((vector_size(16)));
  const i32x8 ones = mask & 1;
  i8x16 low, high;
  std::memcpy(&low, &ones, sizeof(low));
  std::memcpy(&high, reinterpret_cast<const char*>(&ones) + sizeof(low), sizeof(high));
  const i8x16 bytes = __builtin_shuffle(low, high, i8x16{0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0});
  std::memcpy(out, &bytes, 8);
}

// Eight bools as eight all-ones/all-zeros lanes (shifts rather than a byte-to-int conversion, which
// GCC does not vectorise for eight bytes).
V2V_HD i32x8 load_mask8(const bool* in) {
  int32_t half[2];
  std::memcpy(half, in, sizeof(half));
  const i32x8 words = {half[0], half[0], half[0], half[0], half[1], half[1], half[1], half[1]};
  return ((words >> i32x8{0, 8, 16, 24, 0, 8, 16, 24}) & 0xff) != 0;
}

// Whether any of eight bools is set (one 8-byte load).
V2V_HD bool any_marked8(const bool* in) {
  uint64_t bytes;
  std::memcpy(&bytes, in, sizeof(bytes));
  return bytes != 0;
}

// Writes `value` to `out` and makes the compiler forget what it wrote: it then reads lanes back with
// scalar loads and broadcasts from memory (one load-port instruction each) instead of lane shuffles.
template <typename T>
V2V_HD void spill(T* out, const T& value) {
  std::memcpy(out, &value, sizeof(T));
  asm volatile("" : : "r"(out) : "memory");
}

// Streams a row block first touches, kPrefetchAhead pixels ahead: the frame's and the output's planes
// (the latter for writing, so that stores do not wait for their lines) and the flows' rows. There are
// more of them than the hardware prefetchers track.
constexpr int kPrefetchAhead = 128;
V2V_HD void prefetch_block(const float* cur, const float* out, const float* fwd, const float* bwd, int64_t channels,
                           index_t height, index_t width, index_t y, index_t x) {
  const int64_t plane = int64_t{height} * width;
  const int64_t ahead = int64_t{y} * width + x + kPrefetchAhead;
  const int64_t below = int64_t{std::min(y + 1, height - 1)} * width + x + kPrefetchAhead;
  for (int64_t c = 0; c < channels; ++c) __builtin_prefetch(cur + c * plane + ahead);
  for (int64_t c = 0; c < channels; ++c) __builtin_prefetch(out + c * plane + ahead, 1);
  for (int k = 0; k < 2; ++k) {
    __builtin_prefetch(fwd + k * plane + ahead);
    __builtin_prefetch(bwd + k * plane + below);
  }
}

int64_t groups_of(int64_t channels) { return (channels + kLanes - 1) / kLanes; }

// Groups of the forward's interleaved copy: the channels and the two forward-flow components.
int64_t interleaved_groups(int64_t channels) { return groups_of(channels + 2); }

// --- row spans and row copies -----------------------------------------------------------------------
//
// The kernels work on bands of rows, and keep only the rows of frame t-1 that a band's taps reach in
// an interleaved copy (forward) or workspace (backward) small enough to stay in cache, rather than a
// whole frame that goes to memory and back.

// Rows [first, last] of frame t-1 that the taps of a band can reach for a pixel that may be valid.
// A valid pixel is inside, so its source row sy = y + b_y lies in [0, H-1] and its taps are rows
// floor(sy) and floor(sy) + 1 (clamped): the span covers them. Other pixels' taps may fall anywhere
// (bilinear_taps sends far samples to row 0); they are never valid, so the forward points them at
// the span's first row and the scatter skips them.
struct RowSpan {
  index_t first = 0, last = -1;  // empty when last < first
  bool empty() const { return last < first; }
  index_t rows() const { return empty() ? 0 : last - first + 1; }
};

// The span of rows [y_begin, y_end): min and max of sy over the pixels with 0 <= sy <= H-1, computed
// as sample_geometry and flow_taps compute sy (the same float sum), so the floors agree.
RowSpan tap_rows(const float* bwd_y, index_t height, index_t width, index_t y_begin, index_t y_end) {
  const float y_max = static_cast<float>(height - 1), inf = std::numeric_limits<float>::infinity();
  f32x8 low = f32x8{} + inf, high = f32x8{} - inf;
  float low_tail = inf, high_tail = -inf;
  for (index_t y = y_begin; y < y_end; ++y) {
    const float* row = bwd_y + int64_t{y} * width;
    const float row_y = static_cast<float>(y);
    index_t x = 0;
    for (; x + kLanes <= width; x += kLanes) {
      const f32x8 sy = row_y + load8(row + x);
      const i32x8 inside = (sy >= 0.0f) & (sy <= y_max);  // false for NaN
      low = inside & (sy < low) ? sy : low;
      high = inside & (sy > high) ? sy : high;
    }
    for (; x < width; ++x) {
      const float sy = row_y + row[x];
      if (sy >= 0.0f && sy <= y_max) {
        low_tail = std::min(low_tail, sy);
        high_tail = std::max(high_tail, sy);
      }
    }
  }
  for (int k = 0; k < kLanes; ++k) {
    low_tail = std::min(low_tail, low[k]);
    high_tail = std::max(high_tail, high[k]);
  }
  if (!(low_tail <= high_tail)) return RowSpan{};
  // sy >= 0, so truncation is floor (as floor_to_index).
  return RowSpan{static_cast<index_t>(low_tail), std::min(static_cast<index_t>(high_tail) + 1, height - 1)};
}

// The rows that the scatter of rows [y_begin, y_end) writes to: the rows of the lowest and the highest
// tap index of the pixels that `mask` marks, the taps computed as the scatter computes them, so the
// span holds every write whatever the mask.
RowSpan scatter_span(const bool* mask, const float* bwd, index_t height, index_t width, index_t y_begin,
                                 index_t y_end) {
  i32x8 low = i32x8{} + std::numeric_limits<index_t>::max(), high = i32x8{} - 1;
  index_t low_tail = std::numeric_limits<index_t>::max(), high_tail = -1;
  for (index_t y = y_begin; y < y_end; ++y) {
    index_t x = 0;
    for (; x + kLanes <= width; x += kLanes) {
      const int64_t p = int64_t{y} * width + x;
      if (!any_marked8(mask + p)) continue;
      const Taps<f32x8> taps = flow_taps<f32x8>(bwd, y, x, height, width, Padding::Zeros);
      const i32x8 valid = load_mask8(mask + p);
      low = valid & (taps.index[0] < low) ? taps.index[0] : low;  // nw: the lowest of the four
      high = valid & (taps.index[3] > high) ? taps.index[3] : high;  // se: the highest
    }
    for (; x < width; ++x) {
      if (!mask[int64_t{y} * width + x]) continue;
      const Taps<float> taps = flow_taps<float>(bwd, y, x, height, width, Padding::Zeros);
      low_tail = std::min(low_tail, taps.index[0]);
      high_tail = std::max(high_tail, taps.index[3]);
    }
  }
  for (int k = 0; k < kLanes; ++k) {
    low_tail = std::min(low_tail, low[k]);
    high_tail = std::max(high_tail, high[k]);
  }
  if (high_tail < 0) return RowSpan{};
  return RowSpan{low_tail / width, high_tail / width};
}

// Where the backward's scatter finds tap index i (a pixel of the pair's earlier frame) in a ring of R rows, row r in
// slot r mod R, that holds rows [base, base + R): at element offset 8 * ring(i), ring(i) = i - q R W
// for rows below (q + 1) R and i - (q + 1) R W from there on, q = base / R.
struct RingMap {
  index_t shift, wrap, period;
  RingMap(index_t base_row, index_t ring_rows, index_t width)
      : shift(base_row / ring_rows * ring_rows * width), wrap(shift + ring_rows * width), period(ring_rows * width) {}
  template <typename I>
  V2V_HD I operator()(I index) const {
    return index >= wrap ? index - shift - period : index - shift;
  }
};

// The taps of eight pixels, spilled (see spill) for per-pixel reads: offset[i][k] is the element
// offset of tap i of pixel k in an interleaved copy [rows * W][8] (32-bit: see handles()).
struct SpilledTaps {
  alignas(32) i32x8 offset[4];
  alignas(32) f32x8 weight[4];
};

// `map` takes tap indices to pixel offsets in the copy the taps read.
template <typename Map>
V2V_HD SpilledTaps spill_taps(const Taps<f32x8>& taps, const Map& map) {
  SpilledTaps spilled;
  for (int i = 0; i < 4; ++i) {
    spill(&spilled.offset[i], map(taps.index[i]) * kLanes);
    spill(&spilled.weight[i], taps.weight[i]);
  }
  return spilled;
}

// Adds value * weight to the eight lanes at `target`, skipping zero weights as `scatter` of
// pixel_math.h does.
V2V_HD void scatter_tap(float* target, const f32x8& value, float weight) {
  if (weight != 0.0f) store8(target, load8(target) + value * weight);
}

// `gather` of pixel_math.h for eight pixels and eight channels. Tap i of pixel k is one 32-byte load
// of its eight channels from an interleaved group that starts at pixel `first_index` of the frame;
// the four taps are weighted and summed per pixel, in gather's order (the same bits), and one
// transpose turns the eight pixels' channel vectors into warped[c], channel c of the eight pixels.
// (Spilling here rather than once per block for all groups keeps the forward's registers free.)
V2V_HD void gather_block(const Taps<f32x8>& taps, index_t first_index, const float* group, f32x8 warped[8]) {
  const SpilledTaps t = spill_taps(taps, [first_index](i32x8 index) { return index - first_index; });
  for (int k = 0; k < kLanes; ++k) {
    f32x8 sum = t.weight[0][k] * load8(group + t.offset[0][k]);
    for (int i = 1; i < 4; ++i) sum = sum + t.weight[i][k] * load8(group + t.offset[i][k]);
    warped[k] = sum;
  }
  transpose8(warped);
}

// --- row kernels ------------------------------------------------------------------------------------

// Rows [y_begin, y_end) of a frame [C, H, W] and of its pair's forward flow [2, H, W] into an
// interleaved copy [groups][copy_rows * W][8] of rows [copy_first, copy_first + copy_rows) of both,
// whose lanes are the C channels, then f_x and f_y, then zeros: the forward's taps read frame t-1
// and w = f(s) of the occlusion test with the same loads.
void interleave_rows(const float* frame, const float* fwd, float* copy, index_t copy_first,
                                 index_t copy_rows, int64_t channels, index_t height, index_t width, index_t y_begin,
                                 index_t y_end) {
  const int64_t plane = int64_t{height} * width, copy_plane = int64_t{copy_rows} * width;
  for (int64_t group = 0; group < interleaved_groups(channels); ++group) {
    const float* lanes[kLanes];  // the plane of each lane of the group; null for a zero lane
    for (int c = 0; c < kLanes; ++c) {
      const int64_t lane = group * kLanes + c;
      lanes[c] = lane < channels ? frame + lane * plane
                                 : (lane < channels + 2 ? fwd + (lane - channels) * plane : nullptr);
    }
    float* out = copy + group * copy_plane * kLanes;
    for (index_t y = y_begin; y < y_end; ++y) {
      const int64_t row = int64_t{y} * width;
      float* out_row = out + int64_t{y - copy_first} * width * kLanes;
      index_t x = 0;
      for (; x + kLanes <= width; x += kLanes) {
        f32x8 r[kLanes];
        for (int c = 0; c < kLanes; ++c) r[c] = lanes[c] != nullptr ? load8(lanes[c] + row + x) : f32x8{};
        transpose8(r);
        for (int k = 0; k < kLanes; ++k) store8(out_row + (int64_t{x} + k) * kLanes, r[k]);
      }
      for (; x < width; ++x)
        for (int c = 0; c < kLanes; ++c) out_row[int64_t{x} * kLanes + c] = lanes[c] != nullptr ? lanes[c][row + x] : 0.0f;
    }
  }
}

// Forward of row y of one frame pair; returns the number of pixels whose flows are not finite.
// `copy` is the interleaved copy of rows [first_row, first_row + copy_rows) of frame t-1 and its
// forward flow, which holds the span of this row's taps (tap_rows).
int forward_row(const float* prev, const float* copy, index_t first_row, index_t copy_rows,
                            const float* cur, float* out, bool* mask, const float* fwd, const float* bwd,
                            int64_t channels, index_t height, index_t width, index_t y) {
  const int64_t plane = int64_t{height} * width, copy_plane = int64_t{copy_rows} * width;
  const index_t first_index = first_row * width;
  // w = f(s) comes with the frame's taps, in interleaved lanes C and C+1, of one or two groups.
  const int64_t wx_group = channels / kLanes, wy_group = (channels + 1) / kLanes;
  i32x8 not_finite{};  // lanes that met a non-finite flow, folded once per row
  index_t x = 0;
  for (; x + kLanes <= width; x += kLanes) {
    prefetch_block(cur, out, fwd, bwd, channels, height, width, y, x);
    PixelGeometry<f32x8> g = sample_geometry<f32x8>(fwd, bwd, y, x, height, width);
    // Pixels that cannot be valid may tap rows outside the copy; their reads go to its first row.
    for (int i = 0; i < 4; ++i) g.taps.index[i] = g.valid ? g.taps.index[i] : first_index;
    f32x8 wx_block[kLanes], wy_block[kLanes], other[kLanes];
    gather_block(g.taps, first_index, copy + wx_group * copy_plane * kLanes, wx_block);
    if (wy_group != wx_group) gather_block(g.taps, first_index, copy + wy_group * copy_plane * kLanes, wy_block);
    const f32x8 wx = wx_block[channels % kLanes];
    const f32x8 wy = wy_group != wx_group ? wy_block[0] : wx_block[(channels + 1) % kLanes];
    g.valid = g.valid & lane_not(occluded(wx, wy, g.bx, g.by));  // as pixel_geometry
    const int64_t p = int64_t{y} * width + x;
    store_mask8(mask + p, g.valid);
    not_finite |= lane_not(g.finite);
    for (int64_t group = 0; group * kLanes < channels; ++group) {
      const f32x8* warped = group == wx_group ? wx_block : other;
      if (group != wx_group) gather_block(g.taps, first_index, copy + group * copy_plane * kLanes, other);
      const int count = static_cast<int>(std::min<int64_t>(kLanes, channels - group * kLanes));
      const float* cur_group = cur + group * kLanes * plane + p;
      float* out_group = out + group * kLanes * plane + p;
      for (int c = 0; c < count; ++c)  // residual_value
        store8(out_group + c * plane, g.valid ? load8(cur_group + c * plane) - warped[c] : 0.0f);
    }
  }
  int non_finite = Lane<f32x8>::any(not_finite);
  for (; x < width; ++x)
    non_finite += !residual_forward_pixel<float>(prev, cur, out, mask, fwd, bwd, channels, height, width, y, x);
  return non_finite;
}

// Scatter of rows [y_begin, y_end) of one frame pair into an interleaved workspace
// [groups][group_floats] laid out by `map` (a ring of rows of frame t-1, zero in the slots of rows not
// scattered to yet): for each valid pixel, its eight channels' -c * dL/dE times each tap weight, added to the
// tap's eight lanes.
void scatter_rows(const float* grad, const bool* mask, const float* bwd, float* workspace,
                              int64_t group_floats, RingMap map, int64_t channels, index_t height, index_t width,
                              index_t y_begin, index_t y_end) {
  const int64_t plane = int64_t{height} * width;
  const int64_t groups = groups_of(channels);
  for (index_t y = y_begin; y < y_end; ++y) {
    index_t x = 0;
    for (; x + kLanes <= width; x += kLanes) {
      const int64_t p = int64_t{y} * width + x;
      if (!any_marked8(mask + p)) continue;
      const SpilledTaps t = spill_taps(flow_taps<f32x8>(bwd, y, x, height, width, Padding::Zeros), map);
      for (int64_t group = 0; group < groups; ++group) {
        const int count = static_cast<int>(std::min<int64_t>(kLanes, channels - group * kLanes));
        const float* grad_group = grad + group * kLanes * plane + p;
        f32x8 value[kLanes];  // value[k]: -dL/dE of pixel k's channels
        for (int c = 0; c < kLanes; ++c) value[c] = c < count ? -load8(grad_group + c * plane) : f32x8{};
        transpose8(value);
        float* group_ws = workspace + group * group_floats;
        for (int k = 0; k < kLanes; ++k) {
          if (!mask[p + k]) continue;
          for (int i = 0; i < 4; ++i) scatter_tap(group_ws + t.offset[i][k], value[k], t.weight[i][k]);
        }
      }
    }
    for (; x < width; ++x) {
      const int64_t p = int64_t{y} * width + x;
      if (!mask[p]) continue;
      const Taps<float> taps = flow_taps<float>(bwd, y, x, height, width, Padding::Zeros);
      for (int64_t group = 0; group < groups; ++group) {
        const int64_t c0 = group * kLanes, count = std::min<int64_t>(kLanes, channels - c0);
        f32x8 value{};
        for (int c = 0; c < count; ++c) value[c] = -grad[(c0 + c) * plane + p];
        float* group_ws = workspace + group * group_floats;
        for (int i = 0; i < 4; ++i) scatter_tap(group_ws + int64_t{map(taps.index[i])} * kLanes, value, taps.weight[i]);
      }
    }
  }
}

// Row y of dL/dO_t: the direct term c * dL/dE_t (from pair t-1; null for t = 0) plus the scattered
// term, read from `slots` (row y's slots of group 0 of pair t's workspace, groups `group_floats`
// apart; null for t = T-1), as residual_backward_gather. The slots are zeroed as they are read (they
// are in cache then), ready for the next row the ring puts there.
void gather_row(float* slots, int64_t group_floats, const float* grad_before, const bool* mask_before,
                            float* out, int64_t channels, index_t height, index_t width, index_t y) {
  const int64_t plane = int64_t{height} * width;
  const int64_t groups = groups_of(channels);
  index_t x = 0;
  for (; x + kLanes <= width; x += kLanes) {
    const int64_t p = int64_t{y} * width + x;
    i32x8 direct_valid{};
    if (grad_before != nullptr) direct_valid = load_mask8(mask_before + p);
    for (int64_t group = 0; group < groups; ++group) {
      const int64_t c0 = group * kLanes, count = std::min<int64_t>(kLanes, channels - c0);
      f32x8 scattered[kLanes];
      if (slots == nullptr) {
        for (int k = 0; k < kLanes; ++k) scattered[k] = f32x8{};
      } else {
        float* block = slots + group * group_floats + int64_t{x} * kLanes;
        for (int k = 0; k < kLanes; ++k) {
          float* slot = block + k * kLanes;
          scattered[k] = load8(slot);
          store8(slot, f32x8{});
        }
        transpose8(scattered);
      }
      for (int64_t c = 0; c < count; ++c) {
        const f32x8 direct = grad_before != nullptr ? load8(grad_before + (c0 + c) * plane + p) : f32x8{};
        store8(out + (c0 + c) * plane + p, (direct_valid ? direct : 0.0f) + scattered[c]);
      }
    }
  }
  for (; x < width; ++x) {
    const int64_t p = int64_t{y} * width + x;
    for (int64_t c = 0; c < channels; ++c) {
      float scattered = 0.0f;
      if (slots != nullptr) {
        float& slot = slots[(c / kLanes) * group_floats + int64_t{x} * kLanes + c % kLanes];
        scattered = slot;
        slot = 0.0f;
      }
      const bool direct_valid = grad_before != nullptr && mask_before[p];
      out[c * plane + p] =
          residual_backward_gather<float>(direct_valid, direct_valid ? grad_before[c * plane + p] : 0.0f, scattered);
    }
  }
}

// --- bands ------------------------------------------------------------------------------------------

// Rows per band: a band's copy or workspace holds its rows plus the flow's vertical spread, and stays
// in the per-core cache at this size for video frames.
constexpr index_t kBandRows = 16;

// A pair whose bands' spans add up to more than this many frames (the flow's vertical spread is large
// within bands) is copied whole instead: copying its spans band by band would cost more than it saves.
constexpr int64_t kMaxSpanCopies = 2;

// The span of every band of every pair, spans[pair * bands + band], from `span_of(pair, y_begin, y_end)`.
template <typename SpanOf>
std::vector<RowSpan> band_spans(int64_t pairs, index_t height, index_t width, index_t band_rows, SpanOf span_of) {
  const int64_t bands = (height + band_rows - 1) / band_rows;
  std::vector<RowSpan> spans(pairs * bands);
  const int64_t grain = std::max<int64_t>(1, kMinPixelsPerChunk / (int64_t{band_rows} * width));
  at::parallel_for(0, pairs * bands, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const index_t y_begin = static_cast<index_t>(i % bands) * band_rows;
      spans[i] = span_of(i / bands, y_begin, std::min(height, y_begin + band_rows));
    }
  });
  return spans;
}

}  // namespace

bool residual_forward(const at::Tensor& video, const at::Tensor& flow_fwd, const at::Tensor& flow_bwd,
                      at::Tensor& residual, at::Tensor& mask) {
  const int64_t batch = video.size(0), frames = video.size(1), channels = video.size(2);
  const int64_t clip_pairs = frames - 1, pairs = batch * clip_pairs;
  const index_t height = video.size(3), width = video.size(4);
  const int64_t plane = int64_t{height} * width, groups = interleaved_groups(channels);
  const float* video_ptr = video.const_data_ptr<float>();
  const float* fwd_ptr = flow_fwd.const_data_ptr<float>();
  const float* bwd_ptr = flow_bwd.const_data_ptr<float>();
  float* out_ptr = residual.mutable_data_ptr<float>();
  bool* mask_ptr = mask.mutable_data_ptr<bool>();
  auto prev_of = [&](int64_t pair) { return video_ptr + (pair / clip_pairs * frames + pair % clip_pairs) * channels * plane; };

  // Bands small enough that every thread gets some.
  const index_t band_rows = static_cast<index_t>(
      std::clamp<int64_t>(height / (2 * at::get_num_threads()), 1, kBandRows));
  const int64_t bands = (height + band_rows - 1) / band_rows;
  const std::vector<RowSpan> spans = band_spans(pairs, height, width, band_rows, [&](int64_t pair, index_t y0, index_t y1) {
    return tap_rows(bwd_ptr + (pair * 2 + 1) * plane, height, width, y0, y1);
  });
  // The rows copied for band `band` of `pair` (one row at least, so every redirected read lands).
  auto copy_span = [&](int64_t pair, int64_t band) {
    const RowSpan span = spans[pair * bands + band];
    const index_t y0 = static_cast<index_t>(band) * band_rows;
    return span.empty() ? RowSpan{y0, y0} : span;
  };
  std::vector<char> whole(pairs);  // pairs copied whole
  index_t max_copy_rows = 1;
  for (int64_t pair = 0; pair < pairs; ++pair) {
    int64_t copied = 0;
    index_t widest = 1;
    for (int64_t band = 0; band < bands; ++band) {
      const index_t rows = copy_span(pair, band).rows();
      copied += rows;
      widest = std::max(widest, rows);
    }
    whole[pair] = copied > kMaxSpanCopies * height;
    if (!whole[pair]) max_copy_rows = std::max(max_copy_rows, widest);
  }

  std::atomic<int64_t> non_finite{0};
  auto forward_rows = [&](int64_t pair, const float* copy, index_t first, index_t rows, index_t y0, index_t y1) {
    const float* prev = prev_of(pair);
    int count = 0;
    for (index_t y = y0; y < y1; ++y)
      count += forward_row(prev, copy, first, rows, prev + channels * plane, out_ptr + pair * channels * plane,
                           mask_ptr + pair * plane, fwd_ptr + pair * 2 * plane, bwd_ptr + pair * 2 * plane,
                           channels, height, width, y);
    return count;
  };

  // Pairs copied whole, one at a time: frame t-1 into one interleaved copy, then the pair's rows.
  at::Tensor whole_copy;
  for (int64_t pair = 0; pair < pairs; ++pair) {
    if (!whole[pair]) continue;
    if (!whole_copy.defined()) whole_copy = empty_cpu_output({groups * plane * kLanes}, video.options());
    float* copy = whole_copy.mutable_data_ptr<float>();
    at::parallel_for(0, height, rows_per_chunk(width), [&](int64_t begin, int64_t end) {
      interleave_rows(prev_of(pair), fwd_ptr + pair * 2 * plane, copy, 0, height, channels, height, width,
                      begin, end);
    });
    at::parallel_for(0, height, rows_per_chunk(width), [&](int64_t begin, int64_t end) {
      non_finite += forward_rows(pair, copy, 0, height, begin, end);
    });
  }

  // The other pairs band by band: a thread takes a band and runs it for every pair in turn, copying
  // the span of frame t-1 that the band's taps reach. Frame t-1's rows were read as frame t of the
  // pair before, so the copy reads them from cache, and the copy is read from cache too.
  at::parallel_for(0, bands, 1, [&](int64_t begin, int64_t end) {
    std::unique_ptr<float[]> copy(new float[groups * max_copy_rows * width * kLanes]);
    int64_t count = 0;
    for (int64_t band = begin; band < end; ++band) {
      const index_t y0 = static_cast<index_t>(band) * band_rows, y1 = std::min(height, y0 + band_rows);
      for (int64_t pair = 0; pair < pairs; ++pair) {
        if (whole[pair]) continue;
        const RowSpan span = copy_span(pair, band);
        if (width >= kLanes)  // else every pixel takes the scalar path, which reads frame t-1 itself
          interleave_rows(prev_of(pair), fwd_ptr + pair * 2 * plane, copy.get(), span.first, span.rows(),
                          channels, height, width, span.first, span.last + 1);
        count += forward_rows(pair, copy.get(), span.first, span.rows(), y0, y1);
      }
    }
    non_finite += count;
  });
  return non_finite == 0;
}

void residual_backward(const at::Tensor& grad, const at::Tensor& flow_bwd, const at::Tensor& mask,
                       at::Tensor& grad_video) {
  const int64_t batch = grad.size(0), clip_pairs = grad.size(1), channels = grad.size(2), frames = clip_pairs + 1;
  const int64_t pairs = batch * clip_pairs;
  const index_t height = grad.size(3), width = grad.size(4);
  const int64_t plane = int64_t{height} * width, groups = groups_of(channels);
  const float* grad_ptr = grad.const_data_ptr<float>();
  const bool* mask_ptr = mask.const_data_ptr<bool>();
  const float* bwd_ptr = flow_bwd.const_data_ptr<float>();
  float* out_ptr = grad_video.mutable_data_ptr<float>();

  // Pair t scatters into frame t band by band, into a ring of rows; a row of frame t is complete (and
  // gathered, which clears its slot) once no later band can reach it. complete[pair][band] is the
  // first row that bands >= band can reach (H when none can); ring_rows[pair] holds every row
  // between the first not yet gathered and the last scattered so far.
  const index_t band_rows = std::min(height, kBandRows);
  const int64_t bands = (height + band_rows - 1) / band_rows;
  const std::vector<RowSpan> spans = band_spans(pairs, height, width, band_rows, [&](int64_t pair, index_t y0, index_t y1) {
    return scatter_span(mask_ptr + pair * plane, bwd_ptr + pair * 2 * plane, height, width, y0, y1);
  });
  std::vector<index_t> complete(pairs * (bands + 1)), ring_rows(pairs, 1);
  for (int64_t pair = 0; pair < pairs; ++pair) {
    index_t* first_reachable = complete.data() + pair * (bands + 1);
    first_reachable[bands] = height;
    for (int64_t band = bands - 1; band >= 0; --band) {
      const RowSpan span = spans[pair * bands + band];
      first_reachable[band] = span.empty() ? first_reachable[band + 1] : std::min(first_reachable[band + 1], span.first);
    }
    index_t last_scattered = -1;
    for (int64_t band = 0; band < bands; ++band) {
      const RowSpan span = spans[pair * bands + band];
      if (!span.empty()) last_scattered = std::max(last_scattered, span.last);
      ring_rows[pair] = std::max(ring_rows[pair], last_scattered - first_reachable[band] + 1);
    }
  }
  const index_t max_ring_rows = *std::max_element(ring_rows.begin(), ring_rows.end());
  const int64_t ring_floats = groups * int64_t{max_ring_rows} * width * kLanes;

  // One task per frame t of each clip: scatter pair t (frames t, t+1) into a ring of the task's own,
  // and write dL/dO_t = its direct term (pair t-1) + the scatter. No atomics, no shared writes.
  const int64_t tasks = batch * frames;
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), tasks));
  // Each frame's gather leaves its ring zeroed again, ready for the next frame and call.
  ZeroedScratch rings(workers * ring_floats);
  const int64_t per_worker = (tasks + workers - 1) / workers;
  at::parallel_for(0, workers, 1, [&](int64_t begin, int64_t end) {
    for (int64_t worker = begin; worker < end; ++worker) {
      float* ring = rings.data() + worker * ring_floats;
      for (int64_t frame = worker * per_worker; frame < std::min(tasks, (worker + 1) * per_worker); ++frame) {
        const int64_t b = frame / frames, t = frame % frames, pair = b * clip_pairs + t, before = pair - 1;
        const index_t rows = t < clip_pairs ? ring_rows[pair] : 1;
        const int64_t group_floats = int64_t{rows} * width * kLanes;
        auto gather_rows = [&](index_t y0, index_t y1) {
          for (index_t y = y0; y < y1; ++y)
            gather_row(t < clip_pairs ? ring + int64_t{y % rows} * width * kLanes : nullptr, group_floats,
                       t >= 1 ? grad_ptr + before * channels * plane : nullptr,
                       t >= 1 ? mask_ptr + before * plane : nullptr, out_ptr + frame * channels * plane,
                       channels, height, width, y);
        };
        if (t == clip_pairs) {
          gather_rows(0, height);
          continue;
        }
        const index_t* first_reachable = complete.data() + pair * (bands + 1);
        gather_rows(0, first_reachable[0]);
        for (int64_t band = 0; band < bands; ++band) {
          const index_t y0 = static_cast<index_t>(band) * band_rows;
          scatter_rows(grad_ptr + pair * channels * plane, mask_ptr + pair * plane, bwd_ptr + pair * 2 * plane,
                       ring, group_floats, RingMap(first_reachable[band], rows, width), channels, height,
                       width, y0, std::min(height, y0 + band_rows));
          gather_rows(first_reachable[band], first_reachable[band + 1]);
        }
      }
    }
  });
  rings.mark_zero();
}

}  // namespace V2V_CPU_CAPABILITY
}  // namespace cpu_f32
}  // namespace v2vcore

#if V2V_CPU_CAPABILITY_AVX2 && defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
