// CPU (OpenMP through at::parallel_for) kernels of the v2vcore operators.
//
// The per-pixel work is the very function a CUDA thread runs (pixel_math.h); these kernels only loop
// over pixels, in rows, and split the work between threads. float32 frames with float32 flows take
// the SIMD arrangement of the same math in residual_f32.cpp.
//
// Determinism: every scatter target is written by exactly one task (tasks split frame pairs and
// channels, never the pixels of one plane), so results do not depend on the thread count. Under
// torch.use_deterministic_algorithms(True) the scatter uses the fixed-point accumulation of the CUDA
// kernels, which makes CPU and CUDA backward passes comparable bit for bit.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>

#include "checks.h"
#include "cpu/buffer_cache.h"
#include "cpu/parallel.h"
#include "cpu/residual_f32.h"
#include "determinism.h"
#include "dispatch.h"
#include "pixel_math.h"

namespace v2vcore {
namespace {

// Split channels so that scatter tasks outnumber threads (each task owns whole target planes).
int64_t channel_chunks(int64_t plane_groups, int64_t channels) {
  const int64_t wanted = 4 * static_cast<int64_t>(at::get_num_threads());
  const int64_t chunks = (wanted + plane_groups - 1) / std::max<int64_t>(1, plane_groups);
  return std::max<int64_t>(1, std::min(channels, chunks));
}

template <typename acc_t>
struct AddFloat {
  acc_t* base;
  void operator()(int64_t i, acc_t v) const { base[i] += v; }
};

struct AddFixed {
  unsigned long long* base;
  double scale;
  template <typename acc_t>
  void operator()(int64_t i, acc_t v) const {
    base[i] += to_fixed(v, scale);
  }
};

// Runs `body(add, offset)` with the accumulator of a scatter workspace: float (`+=`) or, in
// deterministic mode, 64-bit fixed point. `offset` is the first element of the task's planes.
template <typename acc_t, typename Body>
void with_accumulator(at::Tensor& workspace, bool fixed_point, double scale, int64_t offset, Body&& body) {
  if (fixed_point) {
    AddFixed add{reinterpret_cast<unsigned long long*>(workspace.mutable_data_ptr<int64_t>()) + offset, scale};
    body(add);
  } else {
    AddFloat<acc_t> add{workspace.mutable_data_ptr<acc_t>() + offset};
    body(add);
  }
}

std::tuple<at::Tensor, at::Tensor> residual_error_cpu(const at::Tensor& video_in, const at::Tensor& flow_fwd_in,
                                                      const at::Tensor& flow_bwd_in, bool check_flows) {
  check_residual_error_args(video_in, flow_fwd_in, flow_bwd_in);
  const at::Tensor video = video_in.contiguous();
  const at::Tensor flow_fwd = flow_fwd_in.contiguous();
  const at::Tensor flow_bwd = flow_bwd_in.contiguous();
  const int64_t batch = video.size(0), frames = video.size(1), channels = video.size(2);
  const index_t height = video.size(3), width = video.size(4);
  const int64_t plane = int64_t{height} * width, pairs = frames - 1;
  at::Tensor residual = empty_cpu_output({batch, pairs, channels, height, width}, video.options());
  at::Tensor mask = empty_cpu_output({batch, pairs, 1, height, width}, video.options().dtype(at::kBool));
  if (batch == 0) return {residual, mask};

  if (video.scalar_type() == at::kFloat && flow_fwd.scalar_type() == at::kFloat && cpu_f32::handles(plane)) {
    const bool finite = cpu_f32::residual_forward(video, flow_fwd, flow_bwd, residual, mask);
    if (check_flows && !finite) fail_non_finite_flow("residual_error", "flow_fwd or flow_bwd");
    return {residual, mask};
  }
  std::atomic<bool> all_finite{true};
  dispatch_frame_and_flow(video.scalar_type(), flow_fwd.scalar_type(), [&](auto frame_tag, auto flow_tag) {
    using scalar_t = decltype(frame_tag);
    using flow_t = decltype(flow_tag);
    using acc_t = acc_type_t<scalar_t, flow_t>;
    const scalar_t* video_ptr = video.const_data_ptr<scalar_t>();
    const flow_t* fwd_ptr = flow_fwd.const_data_ptr<flow_t>();
    const flow_t* bwd_ptr = flow_bwd.const_data_ptr<flow_t>();
    scalar_t* out_ptr = residual.mutable_data_ptr<scalar_t>();
    bool* mask_ptr = mask.mutable_data_ptr<bool>();
    at::parallel_for(0, batch * pairs * height, rows_per_chunk(width), [&](int64_t begin, int64_t end) {
      int non_finite = 0;
      for (int64_t row_index = begin; row_index < end; ++row_index) {
        const int64_t pair = row_index / height;
        const index_t y = row_index % height;
        const int64_t b = pair / pairs, k = pair % pairs;
        const scalar_t* prev = video_ptr + (b * frames + k) * channels * plane;
        const scalar_t* cur = prev + channels * plane;
        scalar_t* out = out_ptr + pair * channels * plane;
        bool* pair_mask = mask_ptr + pair * plane;
        const flow_t* fwd = fwd_ptr + pair * 2 * plane;
        const flow_t* bwd = bwd_ptr + pair * 2 * plane;
        for (index_t x = 0; x < width; ++x)
          non_finite += !residual_forward_pixel<acc_t>(prev, cur, out, pair_mask, fwd, bwd, channels, height, width, y, x);
      }
      if (non_finite) all_finite = false;
    });
  });
  if (check_flows && !all_finite) fail_non_finite_flow("residual_error", "flow_fwd or flow_bwd");
  return {residual, mask};
}

at::Tensor residual_error_backward_cpu(const at::Tensor& grad_in, const at::Tensor& flow_bwd_in,
                                       const at::Tensor& mask_in) {
  check_residual_error_backward_args(grad_in, flow_bwd_in, mask_in);
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor flow_bwd = flow_bwd_in.contiguous();
  const at::Tensor mask = mask_in.contiguous();
  const int64_t batch = grad.size(0), pairs = grad.size(1), channels = grad.size(2);
  const index_t height = grad.size(3), width = grad.size(4);
  const int64_t plane = int64_t{height} * width, frames = pairs + 1;
  at::Tensor grad_video = empty_cpu_output({batch, frames, channels, height, width}, grad.options());
  if (batch == 0) return grad_video;
  if (grad.scalar_type() == at::kFloat && flow_bwd.scalar_type() == at::kFloat && !deterministic_scatter() &&
      cpu_f32::handles(plane)) {
    cpu_f32::residual_backward(grad, flow_bwd, mask, grad_video);
    return grad_video;
  }

  dispatch_frame_and_flow(grad.scalar_type(), flow_bwd.scalar_type(), [&](auto frame_tag, auto flow_tag) {
    using scalar_t = decltype(frame_tag);
    using flow_t = decltype(flow_tag);
    using acc_t = acc_type_t<scalar_t, flow_t>;
    // The scatter lands in workspace planes for frames 0..T-2, indexed [b, t, c, p] with batch stride
    // `ws_batch_stride`. When the output dtype is the accumulation dtype, the output is the workspace.
    const bool fixed_point = deterministic_scatter();
    const bool alias_output = !fixed_point && std::is_same<scalar_t, acc_t>::value;
    at::Tensor workspace;
    int64_t ws_batch_stride = pairs * channels * plane;
    if (alias_output) {
      grad_video.narrow(1, 0, pairs).zero_();
      workspace = grad_video;
      ws_batch_stride = frames * channels * plane;
    } else {
      const auto ws_dtype = fixed_point ? at::kLong : c10::CppTypeToScalarType<acc_t>::value;
      workspace = empty_cpu_output({batch, pairs, channels, height, width}, grad.options().dtype(ws_dtype)).zero_();
    }
    const double scale =
        fixed_point ? fixed_point_scale(residual_scatter_bound(grad, mask).item<double>(), plane) : 1.0;

    const scalar_t* grad_ptr = grad.const_data_ptr<scalar_t>();
    const bool* mask_ptr = mask.const_data_ptr<bool>();
    const flow_t* bwd_ptr = flow_bwd.const_data_ptr<flow_t>();
    const int64_t chunks = channel_chunks(batch * pairs, channels);
    const int64_t chunk_size = (channels + chunks - 1) / chunks;

    // Scatter: one task per (pair, channel chunk); each owns its target planes.
    at::parallel_for(0, batch * pairs * chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t pair = task / chunks, chunk = task % chunks;
        const int64_t b = pair / pairs, k = pair % pairs;
        const index_t c_begin = chunk * chunk_size, c_end = std::min(channels, c_begin + chunk_size);
        if (c_begin >= c_end) continue;
        const scalar_t* grad_pair = grad_ptr + pair * channels * plane;
        const bool* mask_pair = mask_ptr + pair * plane;
        const flow_t* bwd = bwd_ptr + pair * 2 * plane;
        with_accumulator<acc_t>(workspace, fixed_point, scale, b * ws_batch_stride + k * channels * plane,
                                [&](auto& add) {
          for (index_t y = 0; y < height; ++y)
            for (index_t x = 0; x < width; ++x)
              residual_backward_scatter_pixel<acc_t>(grad_pair, mask_pair, bwd, c_begin, c_end, height, width, y, x, add);
        });
      }
    });

    // Gather: dL/dO_t = c * dL/dE_t (direct) + the scattered term, one row of a plane at a time.
    scalar_t* out_ptr = grad_video.mutable_data_ptr<scalar_t>();
    const int64_t* ws_fixed = fixed_point ? workspace.const_data_ptr<int64_t>() : nullptr;
    const acc_t* ws_float = fixed_point ? nullptr : workspace.const_data_ptr<acc_t>();
    const scalar_t zero_grad = static_cast<scalar_t>(0);
    at::parallel_for(0, batch * frames * channels * height, rows_per_chunk(width), [&](int64_t begin, int64_t end) {
      for (int64_t row_index = begin; row_index < end; ++row_index) {
        const int64_t plane_index = row_index / height, y = row_index % height;
        const int64_t c = plane_index % channels, t = (plane_index / channels) % frames;
        const int64_t b = plane_index / (channels * frames);
        const int64_t row_offset = y * width;
        scalar_t* out_row = out_ptr + plane_index * plane + row_offset;
        // Frame 0 has no direct term, frame T-1 no scattered term.
        const bool has_direct = t >= 1, has_scatter = t < pairs;
        const int64_t pair_before = b * pairs + (has_direct ? t - 1 : 0);
        const scalar_t* grad_row = grad_ptr + (pair_before * channels + c) * plane + row_offset;
        const bool* mask_row = mask_ptr + pair_before * plane + row_offset;
        const int64_t ws_row = b * ws_batch_stride + (t * channels + c) * plane + row_offset;
        const bool* direct_mask = has_direct ? mask_row : nullptr;
        if (!has_scatter) {
          for (index_t x = 0; x < width; ++x)
            out_row[x] = residual_backward_gather(direct_mask[x] != 0, grad_row[x], acc_t(0));
        } else if (fixed_point) {
          for (index_t x = 0; x < width; ++x) {
            const acc_t scattered = static_cast<acc_t>(from_fixed(static_cast<unsigned long long>(ws_fixed[ws_row + x]), scale));
            out_row[x] = residual_backward_gather(has_direct && direct_mask[x], has_direct ? grad_row[x] : zero_grad, scattered);
          }
        } else if (has_direct) {
          for (index_t x = 0; x < width; ++x)
            out_row[x] = residual_backward_gather(direct_mask[x] != 0, grad_row[x], ws_float[ws_row + x]);
        } else {
          for (index_t x = 0; x < width; ++x) out_row[x] = static_cast<scalar_t>(ws_float[ws_row + x]);
        }
      }
    });
  });
  return grad_video;
}

at::Tensor warp_cpu(const at::Tensor& x_in, const at::Tensor& flow_in, c10::string_view padding_name, bool check_flow) {
  const std::string padding_str(padding_name);
  check_warp_args(x_in, flow_in, padding_str);
  const Padding padding = parse_padding(padding_str);
  const at::Tensor x = x_in.contiguous();
  const at::Tensor flow = flow_in.contiguous();
  const int64_t batch = x.size(0), channels = x.size(1);
  const index_t height = x.size(2), width = x.size(3);
  const int64_t plane = int64_t{height} * width;
  at::Tensor out = empty_cpu_output(x.sizes(), x.options());
  if (batch == 0) return out;
  std::atomic<bool> all_finite{true};
  dispatch_frame_and_flow(x.scalar_type(), flow.scalar_type(), [&](auto frame_tag, auto flow_tag) {
    using scalar_t = decltype(frame_tag);
    using flow_t = decltype(flow_tag);
    using acc_t = acc_type_t<scalar_t, flow_t>;
    const scalar_t* src_ptr = x.const_data_ptr<scalar_t>();
    const flow_t* flow_ptr = flow.const_data_ptr<flow_t>();
    scalar_t* out_ptr = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, batch * height, rows_per_chunk(width), [&](int64_t begin, int64_t end) {
      int non_finite = 0;
      for (int64_t row_index = begin; row_index < end; ++row_index) {
        const int64_t b = row_index / height;
        const index_t y = row_index % height;
        for (index_t xx = 0; xx < width; ++xx)
          non_finite += !warp_forward_pixel<acc_t>(src_ptr + b * channels * plane, out_ptr + b * channels * plane,
                                                   flow_ptr + b * 2 * plane, channels, height, width, y, xx, padding);
      }
      if (non_finite) all_finite = false;
    });
  });
  if (check_flow && !all_finite) fail_non_finite_flow("warp", "flow");
  return out;
}

at::Tensor warp_backward_cpu(const at::Tensor& grad_in, const at::Tensor& flow_in, c10::string_view padding_name) {
  const std::string padding_str(padding_name);
  check_warp_backward_args(grad_in, flow_in, padding_str);
  const Padding padding = parse_padding(padding_str);
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor flow = flow_in.contiguous();
  const int64_t batch = grad.size(0), channels = grad.size(1);
  const index_t height = grad.size(2), width = grad.size(3);
  const int64_t plane = int64_t{height} * width;
  at::Tensor grad_x = empty_cpu_output(grad.sizes(), grad.options()).zero_();
  if (batch == 0) return grad_x;
  dispatch_frame_and_flow(grad.scalar_type(), flow.scalar_type(), [&](auto frame_tag, auto flow_tag) {
    using scalar_t = decltype(frame_tag);
    using flow_t = decltype(flow_tag);
    using acc_t = acc_type_t<scalar_t, flow_t>;
    const bool fixed_point = deterministic_scatter();
    const bool alias_output = !fixed_point && std::is_same<scalar_t, acc_t>::value;
    at::Tensor workspace =
        alias_output ? grad_x
                     : empty_cpu_output(grad.sizes(), grad.options().dtype(fixed_point ? at::kLong
                                                                           : c10::CppTypeToScalarType<acc_t>::value)).zero_();
    const double scale =
        fixed_point ? fixed_point_scale(warp_scatter_bound(grad, flow, padding).item<double>(), plane) : 1.0;
    const scalar_t* grad_ptr = grad.const_data_ptr<scalar_t>();
    const flow_t* flow_ptr = flow.const_data_ptr<flow_t>();
    const int64_t chunks = channel_chunks(batch, channels);
    const int64_t chunk_size = (channels + chunks - 1) / chunks;
    at::parallel_for(0, batch * chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / chunks, chunk = task % chunks;
        const index_t c_begin = chunk * chunk_size, c_end = std::min(channels, c_begin + chunk_size);
        if (c_begin >= c_end) continue;
        const scalar_t* g = grad_ptr + b * channels * plane;
        const flow_t* f = flow_ptr + b * 2 * plane;
        with_accumulator<acc_t>(workspace, fixed_point, scale, b * channels * plane, [&](auto& add) {
          for (index_t y = 0; y < height; ++y)
            for (index_t xx = 0; xx < width; ++xx)
              warp_backward_scatter_pixel<acc_t>(g, f, c_begin, c_end, height, width, y, xx, padding, add);
        });
      }
    });
    if (fixed_point) {
      const int64_t* ws = workspace.const_data_ptr<int64_t>();
      scalar_t* out = grad_x.mutable_data_ptr<scalar_t>();
      at::parallel_for(0, grad_x.numel(), kMinPixelsPerChunk, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          out[i] = static_cast<scalar_t>(from_fixed(static_cast<unsigned long long>(ws[i]), scale));
      });
    } else if (!alias_output) {
      grad_x.copy_(workspace);
    }
  });
  return grad_x;
}

at::Tensor consistency_mask_cpu(const at::Tensor& flow_fwd_in, const at::Tensor& flow_bwd_in, bool check_flows) {
  check_consistency_mask_args(flow_fwd_in, flow_bwd_in);
  const at::Tensor flow_fwd = flow_fwd_in.contiguous();
  const at::Tensor flow_bwd = flow_bwd_in.contiguous();
  const int64_t batch = flow_bwd.size(0);
  const index_t height = flow_bwd.size(2), width = flow_bwd.size(3);
  const int64_t plane = int64_t{height} * width;
  at::Tensor mask = empty_cpu_output({batch, 1, height, width}, flow_bwd.options().dtype(at::kBool));
  if (batch == 0) return mask;
  std::atomic<bool> all_finite{true};
  AT_DISPATCH_FLOATING_TYPES(flow_bwd.scalar_type(), "consistency_mask_cpu", [&] {
    using flow_t = scalar_t;
    using acc_t = acc_type_t<float, flow_t>;
    const flow_t* fwd_ptr = flow_fwd.const_data_ptr<flow_t>();
    const flow_t* bwd_ptr = flow_bwd.const_data_ptr<flow_t>();
    bool* mask_ptr = mask.mutable_data_ptr<bool>();
    at::parallel_for(0, batch * height, rows_per_chunk(width), [&](int64_t begin, int64_t end) {
      int non_finite = 0;
      for (int64_t row_index = begin; row_index < end; ++row_index) {
        const int64_t b = row_index / height;
        const index_t y = row_index % height;
        bool* row_mask = mask_ptr + b * plane + int64_t{y} * width;
        for (index_t x = 0; x < width; ++x) {
          const PixelGeometry<acc_t> g =
              pixel_geometry<acc_t>(fwd_ptr + b * 2 * plane, bwd_ptr + b * 2 * plane, y, x, height, width);
          row_mask[x] = g.valid;
          non_finite += !g.finite;
        }
      }
      if (non_finite) all_finite = false;
    });
  });
  if (check_flows && !all_finite) fail_non_finite_flow("consistency_mask", "flow_fwd or flow_bwd");
  return mask;
}

}  // namespace

TORCH_LIBRARY_IMPL(v2vcore, CPU, m) {
  m.impl("residual_error", &residual_error_cpu);
  m.impl("residual_error_backward", &residual_error_backward_cpu);
  m.impl("warp", &warp_cpu);
  m.impl("warp_backward", &warp_backward_cpu);
  m.impl("consistency_mask", &consistency_mask_cpu);
}

}  // namespace v2vcore
