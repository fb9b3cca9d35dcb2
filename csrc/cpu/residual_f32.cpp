// The float32 CPU fast path of the fused op; see residual_f32.h. Every row kernel below is compiled
// twice (AVX2 and the x86-64 baseline) from one always-inline body and picked at run time.
#include "cpu/residual_f32.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>

#include "ops.h"

namespace v2vcore {
namespace cpu_f32 {
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

// Writes `value` to `out` and makes the compiler forget what it wrote: it then reads lanes back with
// scalar loads and broadcasts from memory (one load-port instruction each) instead of lane shuffles.
template <typename T>
V2V_HD void spill(T* out, const T& value) {
  std::memcpy(out, &value, sizeof(T));
  asm volatile("" : : "r"(out) : "memory");
}

// The taps of eight pixels, spilled (see spill) for per-pixel reads: offset[i][k] is the element
// offset of tap i of pixel k in an interleaved plane [H*W][8], index * 8 (32-bit: see handles()).
struct SpilledTaps {
  alignas(32) i32x8 offset[4];
  alignas(32) f32x8 weight[4];
};

V2V_HD SpilledTaps spill_taps(const Taps<f32x8>& taps) {
  SpilledTaps spilled;
  for (int i = 0; i < 4; ++i) {
    spill(&spilled.offset[i], taps.index[i] * kLanes);
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
// of its eight channels from the pixel-interleaved group [H*W, 8]; the four taps are weighted and
// summed per pixel, in gather's order (the same bits), and one transpose turns the eight pixels'
// channel vectors into warped[c], channel c of the eight pixels.
V2V_HD void gather_block(const Taps<f32x8>& taps, const float* interleaved, f32x8 warped[8]) {
  const SpilledTaps t = spill_taps(taps);
  for (int k = 0; k < kLanes; ++k) {
    f32x8 sum = t.weight[0][k] * load8(interleaved + t.offset[0][k]);
    for (int i = 1; i < 4; ++i) sum = sum + t.weight[i][k] * load8(interleaved + t.offset[i][k]);
    warped[k] = sum;
  }
  transpose8(warped);
}

// Streams a row block first touches, kPrefetchAhead pixels ahead: the frames' planes and the flows'
// rows. There are more of them than the hardware prefetchers track.
constexpr int kPrefetchAhead = 128;
V2V_HD void prefetch_block(const float* cur, const float* fwd, const float* bwd, const float* next_fwd,
                           int64_t channels, index_t height, index_t width, index_t y, index_t x) {
  const int64_t plane = int64_t{height} * width;
  const int64_t ahead = int64_t{y} * width + x + kPrefetchAhead;
  const int64_t below = int64_t{std::min(y + 1, height - 1)} * width + x + kPrefetchAhead;
  for (int64_t c = 0; c < channels; ++c) __builtin_prefetch(cur + c * plane + ahead);
  for (int k = 0; k < 2; ++k) {
    __builtin_prefetch(fwd + k * plane + ahead);
    __builtin_prefetch(bwd + k * plane + below);
    if (next_fwd != nullptr) __builtin_prefetch(next_fwd + k * plane + ahead);
  }
}

int64_t groups_of(int64_t channels) { return (channels + kLanes - 1) / kLanes; }

// Groups of the forward's interleaved copy: the channels and the two forward-flow components.
int64_t interleaved_groups(int64_t channels) { return groups_of(channels + 2); }

// --- row kernels ------------------------------------------------------------------------------------

// Pixels [p, p + count) of a frame [C, H, W] and of a forward flow [2, H, W] into their interleaved
// copy [groups][H*W][8], whose lanes are the C channels, then f_x and f_y, then zeros: the forward's
// taps read frame t-1 and w = f(s) of the occlusion test with the same loads.
V2V_HD void interleave_pixels(const float* frame, const float* fwd, float* interleaved, int64_t channels,
                              int64_t plane, int64_t p, int count) {
  auto source = [&](int64_t lane) -> const float* {  // plane of interleaved lane `lane`, or null
    return lane < channels ? frame + lane * plane : (lane < channels + 2 ? fwd + (lane - channels) * plane : nullptr);
  };
  for (int64_t group = 0; group < interleaved_groups(channels); ++group) {
    float* out = interleaved + group * plane * kLanes;
    if (count == kLanes) {
      f32x8 r[8];
      for (int c = 0; c < kLanes; ++c) {
        const float* from = source(group * kLanes + c);
        r[c] = from != nullptr ? load8(from + p) : f32x8{};
      }
      transpose8(r);
      for (int k = 0; k < kLanes; ++k) store8(out + (p + k) * kLanes, r[k]);
    } else {
      for (int k = 0; k < count; ++k)
        for (int c = 0; c < kLanes; ++c) {
          const float* from = source(group * kLanes + c);
          out[(p + k) * kLanes + c] = from != nullptr ? from[p + k] : 0.0f;
        }
    }
  }
}

// Row y of a frame and a forward flow into their interleaved copy (see interleave_pixels).
V2V_HD void interleave_row_impl(const float* frame, const float* fwd, float* interleaved, int64_t channels,
                                index_t height, index_t width, index_t y) {
  const int64_t plane = int64_t{height} * width, row = int64_t{y} * width;
  for (index_t x = 0; x < width; x += kLanes)
    interleave_pixels(frame, fwd, interleaved, channels, plane, row + x, std::min<int>(kLanes, width - x));
}

// Forward of row y of one frame pair; returns the number of pixels whose flows are not finite. With
// `next_interleaved`, also writes the interleaved copy of this row of frame t (the next pair's
// frame t-1) with the next pair's forward flow `next_fwd`, while frame t's row is in cache.
V2V_HD int forward_row_impl(const float* prev, const float* prev_interleaved, const float* cur, float* out, bool* mask,
                            const float* fwd, const float* bwd, float* next_interleaved, const float* next_fwd,
                            int64_t channels, index_t height, index_t width, index_t y) {
  const int64_t plane = int64_t{height} * width;
  // w = f(s) comes with the frame's taps, in interleaved lanes C and C+1, of one or two groups.
  const int64_t wx_group = channels / kLanes, wy_group = (channels + 1) / kLanes;
  i32x8 not_finite{};  // lanes that met a non-finite flow, folded once per row
  index_t x = 0;
  for (; x + kLanes <= width; x += kLanes) {
    prefetch_block(cur, fwd, bwd, next_fwd, channels, height, width, y, x);
    PixelGeometry<f32x8> g = sample_geometry<f32x8>(fwd, bwd, y, x, height, width);
    f32x8 wx_block[kLanes], wy_block[kLanes], other[kLanes];
    gather_block(g.taps, prev_interleaved + wx_group * plane * kLanes, wx_block);
    if (wy_group != wx_group) gather_block(g.taps, prev_interleaved + wy_group * plane * kLanes, wy_block);
    const f32x8 wx = wx_block[channels % kLanes];
    const f32x8 wy = wy_group != wx_group ? wy_block[0] : wx_block[(channels + 1) % kLanes];
    g.valid = g.valid & lane_not(occluded(wx, wy, g.bx, g.by));  // as pixel_geometry
    const int64_t p = int64_t{y} * width + x;
    store_mask8(mask + p, g.valid);
    not_finite |= lane_not(g.finite);
    for (int64_t group = 0; group * kLanes < channels; ++group) {
      const f32x8* warped = group == wx_group ? wx_block : other;
      if (group != wx_group) gather_block(g.taps, prev_interleaved + group * plane * kLanes, other);
      const int count = static_cast<int>(std::min<int64_t>(kLanes, channels - group * kLanes));
      const float* cur_group = cur + group * kLanes * plane + p;
      float* out_group = out + group * kLanes * plane + p;
      for (int c = 0; c < count; ++c)  // residual_value
        store8(out_group + c * plane, g.valid ? load8(cur_group + c * plane) - warped[c] : 0.0f);
    }
    if (next_interleaved != nullptr) interleave_pixels(cur, next_fwd, next_interleaved, channels, plane, p, kLanes);
  }
  int non_finite = Lane<f32x8>::any(not_finite);
  for (; x < width; ++x)
    non_finite += !residual_forward_pixel<float>(prev, cur, out, mask, fwd, bwd, channels, height, width, y, x);
  const index_t tail = (width / kLanes) * kLanes;
  if (next_interleaved != nullptr && tail < width)
    interleave_pixels(cur, next_fwd, next_interleaved, channels, plane, int64_t{y} * width + tail, width - tail);
  return non_finite;
}

// Scatter of one whole frame pair into its interleaved workspace [groups][H*W][8] (zeroed): for each
// valid pixel, its eight channels' -c * dL/dE times each tap weight, added to the tap's eight lanes.
V2V_HD void scatter_pair_impl(const float* grad, const bool* mask, const float* bwd, float* workspace,
                              int64_t channels, index_t height, index_t width) {
  const int64_t plane = int64_t{height} * width;
  const int64_t groups = groups_of(channels);
  for (index_t y = 0; y < height; ++y) {
    index_t x = 0;
    for (; x + kLanes <= width; x += kLanes) {
      const int64_t p = int64_t{y} * width + x;
      uint64_t any_valid;
      std::memcpy(&any_valid, mask + p, sizeof(any_valid));
      if (any_valid == 0) continue;
      const SpilledTaps t = spill_taps(flow_taps<f32x8>(bwd, y, x, height, width, Padding::Zeros));
      for (int64_t group = 0; group < groups; ++group) {
        const int count = static_cast<int>(std::min<int64_t>(kLanes, channels - group * kLanes));
        const float* grad_group = grad + group * kLanes * plane + p;
        f32x8 value[kLanes];  // value[k]: -dL/dE of pixel k's channels
        for (int c = 0; c < kLanes; ++c) value[c] = c < count ? -load8(grad_group + c * plane) : f32x8{};
        transpose8(value);
        float* group_ws = workspace + group * plane * kLanes;
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
        float* group_ws = workspace + group * plane * kLanes;
        for (int i = 0; i < 4; ++i) scatter_tap(group_ws + int64_t{taps.index[i]} * kLanes, value, taps.weight[i]);
      }
    }
  }
}

// Row y of dL/dO_t: the direct term c * dL/dE_t (from pair t-1; null for t = 0) plus the scattered
// term (from pair t's workspace; null for t = T-1), as residual_backward_gather. The row of the
// workspace is zeroed as it is read (it is in cache then), ready for the next pair's scatter.
V2V_HD void gather_row_impl(float* workspace, const float* grad_before, const bool* mask_before, float* out,
                            int64_t channels, index_t height, index_t width, index_t y) {
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
      if (workspace == nullptr) {
        for (int k = 0; k < kLanes; ++k) scattered[k] = f32x8{};
      } else {
        for (int k = 0; k < kLanes; ++k) {
          float* slot = workspace + (group * plane + p + k) * kLanes;
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
      if (workspace != nullptr) {
        float& slot = workspace[((c / kLanes) * plane + p) * kLanes + c % kLanes];
        scattered = slot;
        slot = 0.0f;
      }
      const bool direct_valid = grad_before != nullptr && mask_before[p];
      out[c * plane + p] =
          residual_backward_gather<float>(direct_valid, direct_valid ? grad_before[c * plane + p] : 0.0f, scattered);
    }
  }
}

// --- one body, two instruction sets -----------------------------------------------------------------

struct RowKernels {
  void (*interleave_row)(const float*, const float*, float*, int64_t, index_t, index_t, index_t);
  int (*forward_row)(const float*, const float*, const float*, float*, bool*, const float*, const float*, float*,
                     const float*, int64_t, index_t, index_t, index_t);
  void (*scatter_pair)(const float*, const bool*, const float*, float*, int64_t, index_t, index_t);
  void (*gather_row)(float*, const float*, const bool*, float*, int64_t, index_t, index_t, index_t);
};

#define V2V_ROW_KERNELS(suffix, attributes)                                                                         \
  attributes void interleave_row_##suffix(const float* a, const float* f, float* b, int64_t c, index_t h, index_t w, \
                                          index_t y) {                                                               \
    interleave_row_impl(a, f, b, c, h, w, y);                                                                        \
  }                                                                                                                  \
  attributes int forward_row_##suffix(const float* a, const float* b, const float* c, float* d, bool* e,           \
                                      const float* f, const float* g, float* n, const float* nf, int64_t ch,        \
                                      index_t h, index_t w, index_t y) {                                             \
    return forward_row_impl(a, b, c, d, e, f, g, n, nf, ch, h, w, y);                                                \
  }                                                                                                                  \
  attributes void scatter_pair_##suffix(const float* a, const bool* b, const float* c, float* d, int64_t ch,        \
                                        index_t h, index_t w) {                                                      \
    scatter_pair_impl(a, b, c, d, ch, h, w);                                                                         \
  }                                                                                                                  \
  attributes void gather_row_##suffix(float* a, const float* b, const bool* c, float* d, int64_t ch,                \
                                      index_t h, index_t w, index_t y) {                                             \
    gather_row_impl(a, b, c, d, ch, h, w, y);                                                                        \
  }                                                                                                                  \
  constexpr RowKernels kRowKernels_##suffix{interleave_row_##suffix, forward_row_##suffix, scatter_pair_##suffix,   \
                                            gather_row_##suffix};

V2V_ROW_KERNELS(avx2, __attribute__((target("avx2"))))
V2V_ROW_KERNELS(baseline, )
#undef V2V_ROW_KERNELS

const RowKernels& row_kernels() {
  static const RowKernels& chosen = __builtin_cpu_supports("avx2") ? kRowKernels_avx2 : kRowKernels_baseline;
  return chosen;
}

}  // namespace

bool handles(int64_t plane) { return plane <= std::numeric_limits<int32_t>::max() / kLanes; }

bool residual_forward(const at::Tensor& video, const at::Tensor& flow_fwd, const at::Tensor& flow_bwd,
                      at::Tensor& residual, at::Tensor& mask) {
  const RowKernels& kernels = row_kernels();
  const int64_t batch = video.size(0), frames = video.size(1), channels = video.size(2), pairs = frames - 1;
  const index_t height = video.size(3), width = video.size(4);
  const int64_t plane = int64_t{height} * width;
  // Two interleaved copies: frame t-1 of the pair being computed, and frame t, written meanwhile for
  // the next pair of the clip. A clip's first pair interleaves its frame 0 in a pass of its own.
  const int64_t copy_size = interleaved_groups(channels) * plane * kLanes;
  at::Tensor interleaved = empty_cpu_output({2 * copy_size}, video.options());
  const float* video_ptr = video.const_data_ptr<float>();
  std::atomic<int64_t> non_finite{0};
  for (int64_t pair = 0; pair < batch * pairs; ++pair) {
    const int64_t b = pair / pairs, k = pair % pairs;
    const float* prev = video_ptr + (b * frames + k) * channels * plane;
    const float* cur = prev + channels * plane;
    float* out = residual.mutable_data_ptr<float>() + pair * channels * plane;
    bool* pair_mask = mask.mutable_data_ptr<bool>() + pair * plane;
    const float* fwd = flow_fwd.const_data_ptr<float>() + pair * 2 * plane;
    const float* bwd = flow_bwd.const_data_ptr<float>() + pair * 2 * plane;
    float* prev_interleaved = interleaved.mutable_data_ptr<float>() + (k % 2) * copy_size;
    float* next_interleaved = k + 1 < pairs ? interleaved.mutable_data_ptr<float>() + ((k + 1) % 2) * copy_size : nullptr;
    const float* next_fwd = k + 1 < pairs ? fwd + 2 * plane : nullptr;
    if (k == 0)
      at::parallel_for(0, height, rows_per_chunk(width), [&](int64_t begin, int64_t end) {
        for (int64_t y = begin; y < end; ++y)
          kernels.interleave_row(prev, fwd, prev_interleaved, channels, height, width, y);
      });
    at::parallel_for(0, height, rows_per_chunk(width), [&](int64_t begin, int64_t end) {
      int count = 0;
      for (int64_t y = begin; y < end; ++y)
        count += kernels.forward_row(prev, prev_interleaved, cur, out, pair_mask, fwd, bwd, next_interleaved, next_fwd,
                                     channels, height, width, y);
      non_finite += count;
    });
  }
  return non_finite == 0;
}

void residual_backward(const at::Tensor& grad, const at::Tensor& flow_bwd, const at::Tensor& mask,
                       at::Tensor& grad_video) {
  const RowKernels& kernels = row_kernels();
  const int64_t batch = grad.size(0), pairs = grad.size(1), channels = grad.size(2), frames = pairs + 1;
  const index_t height = grad.size(3), width = grad.size(4);
  const int64_t plane = int64_t{height} * width;
  const int64_t pair_ws = groups_of(channels) * plane * kLanes;
  const float* grad_ptr = grad.const_data_ptr<float>();
  const bool* mask_ptr = mask.const_data_ptr<bool>();
  const float* bwd_ptr = flow_bwd.const_data_ptr<float>();
  float* out_ptr = grad_video.mutable_data_ptr<float>();
  // One task per frame t of each clip: scatter pair t (frames t, t+1) into a workspace of the task's
  // own, then write dL/dO_t = its direct term (pair t-1) + the scatter. No atomics, no shared writes.
  const int64_t tasks = batch * frames;
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), tasks));
  // Each frame's gather pass leaves its workspace zeroed again, ready for the next frame and call.
  ZeroedScratch workspaces(workers * pair_ws);
  const int64_t per_worker = (tasks + workers - 1) / workers;
  at::parallel_for(0, workers, 1, [&](int64_t begin, int64_t end) {
    for (int64_t worker = begin; worker < end; ++worker) {
      float* ws = workspaces.data() + worker * pair_ws;
      for (int64_t frame = worker * per_worker; frame < std::min(tasks, (worker + 1) * per_worker); ++frame) {
        const int64_t b = frame / frames, t = frame % frames;
        const bool has_scatter = t < pairs;
        if (has_scatter) {
          const int64_t pair = b * pairs + t;
          kernels.scatter_pair(grad_ptr + pair * channels * plane, mask_ptr + pair * plane, bwd_ptr + pair * 2 * plane,
                               ws, channels, height, width);
        }
        const int64_t before = b * pairs + t - 1;
        for (index_t y = 0; y < height; ++y)
          kernels.gather_row(has_scatter ? ws : nullptr, t >= 1 ? grad_ptr + before * channels * plane : nullptr,
                             t >= 1 ? mask_ptr + before * plane : nullptr, out_ptr + frame * channels * plane, channels,
                             height, width, y);
      }
    }
  });
  workspaces.mark_zero();
}

}  // namespace cpu_f32
}  // namespace v2vcore
