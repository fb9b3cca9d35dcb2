// CUDA kernels of the v2vcore operators. Each thread runs the per-pixel functions of pixel_math.h,
// the same code the CPU kernels run; only the launch and the accumulation differ.
//
// Scatters (the transposed bilinear gather of the backward passes) accumulate with atomics into a
// workspace. By default these are float atomics, whose order of arrival makes the last bits vary from
// run to run. Under torch.use_deterministic_algorithms(True) they are 64-bit fixed-point integer
// atomics instead (pixel_math.h: to_fixed): integer addition is associative, so the result is
// bitwise reproducible, and equal to the CPU kernels' deterministic result.
//
// One source, two builds. nvcc compiles this file for the GPU. The CUDA emulation
// (csrc/cuda_emulation, built with V2V_CUDA_EMULATION=1) compiles it unchanged as C++ for the CPU,
// under a shim that runs every block of a launch on OpenMP threads with real atomics, and registers
// the kernels as torch.ops.v2vcore_cuda_emulated for CPU tensors (docs/op.md, "CUDA emulation").
// Kernels are therefore launched with V2V_LAUNCH(grid, block, shared_bytes, stream, kernel)(args),
// which is `kernel<<<grid, block, shared_bytes, stream>>>(args)` under nvcc.
#include <ATen/ATen.h>
#include <torch/library.h>

#if defined(V2V_CUDA_EMULATION)
#include "cuda_emulation/cuda_shim.h"  // __global__, threadIdx, atomics, V2V_LAUNCH, c10::cuda, ...
#else
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#define V2V_LAUNCH(grid, block, shared_bytes, stream, ...) __VA_ARGS__<<<grid, block, shared_bytes, stream>>>
#define V2V_KERNELS_LIBRARY v2vcore
#define V2V_KERNELS_DISPATCH_KEY CUDA
#endif

#include "checks.h"
#include "determinism.h"
#include "dispatch.h"
#include "pixel_math.h"

namespace v2vcore {
namespace {

constexpr int kThreads = 256;

int64_t blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t{1} << 30));  // grid-stride beyond
}

// The flows are checked while they are read: a kernel raises this flag (rarely) and the host reads
// it after the launch. Reading costs a device-to-host sync, so it is skipped when not asked for and
// while a CUDA graph is being captured (where a sync is illegal); the latter is said once per process,
// since a caller who asked for the check would otherwise not know it did not happen.
struct NonFiniteFlag {
  at::Tensor flag;
  int* ptr = nullptr;
  explicit NonFiniteFlag(const at::Tensor& like, bool wanted) {
    if (!wanted) return;
    if (c10::cuda::currentStreamCaptureStatusMayInitCtx() != c10::cuda::CaptureStatus::None) {
      TORCH_WARN_ONCE("v2vcore: flows are not checked for NaN/Inf while a CUDA graph is being captured (the ",
                      "check needs a device-to-host sync); validate them before capture and pass check_flows=False ",
                      "to silence this warning");
      return;
    }
    flag = at::zeros({1}, like.options().dtype(at::kInt));
    ptr = flag.mutable_data_ptr<int>();
  }
  bool raised() const { return ptr != nullptr && flag.item<int>() != 0; }
};

template <typename acc_t>
struct AtomicAddFloat {
  acc_t* base;
  __device__ void operator()(int64_t i, acc_t v) const { atomicAdd(base + i, v); }
};

struct AtomicAddFixed {
  unsigned long long* base;
  double scale;
  template <typename acc_t>
  __device__ void operator()(int64_t i, acc_t v) const {
    atomicAdd(base + i, to_fixed(v, scale));
  }
};

// --- residual_error ---------------------------------------------------------------------------------

template <typename acc_t, typename scalar_t, typename flow_t>
__global__ void residual_forward_kernel(const scalar_t* __restrict__ video, const flow_t* __restrict__ flow_fwd,
                                        const flow_t* __restrict__ flow_bwd, scalar_t* __restrict__ residual,
                                        bool* __restrict__ mask, int* non_finite, int64_t pairs, int64_t channels,
                                        index_t height, index_t width, int64_t pixels) {
  const int64_t plane = int64_t{height} * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < pixels; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t pair = i / plane;
    const index_t p = static_cast<index_t>(i - pair * plane);
    const index_t y = p / width, x = p - y * width;
    const int64_t b = pair / pairs, k = pair - b * pairs;
    const scalar_t* prev = video + (b * (pairs + 1) + k) * channels * plane;
    const bool finite = residual_forward_pixel<acc_t>(prev, prev + channels * plane, residual + pair * channels * plane,
                                                      mask + pair * plane, flow_fwd + pair * 2 * plane,
                                                      flow_bwd + pair * 2 * plane, channels, height, width, y, x);
    if (!finite && non_finite != nullptr) atomicOr(non_finite, 1);
  }
}

std::tuple<at::Tensor, at::Tensor> residual_error_cuda(const at::Tensor& video_in, const at::Tensor& flow_fwd_in,
                                                       const at::Tensor& flow_bwd_in, bool check_flows) {
  check_residual_error_args(video_in, flow_fwd_in, flow_bwd_in);
  const c10::cuda::CUDAGuard guard(video_in.device());
  const at::Tensor video = video_in.contiguous();
  const at::Tensor flow_fwd = flow_fwd_in.contiguous();
  const at::Tensor flow_bwd = flow_bwd_in.contiguous();
  const int64_t batch = video.size(0), pairs = video.size(1) - 1, channels = video.size(2);
  const index_t height = video.size(3), width = video.size(4);
  at::Tensor residual = at::empty({batch, pairs, channels, height, width}, video.options());
  at::Tensor mask = at::empty({batch, pairs, 1, height, width}, video.options().dtype(at::kBool));
  const int64_t pixels = batch * pairs * int64_t{height} * width;
  if (pixels == 0) return {residual, mask};
  NonFiniteFlag non_finite(video, check_flows);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  dispatch_frame_and_flow(video.scalar_type(), flow_fwd.scalar_type(), [&](auto frame_tag, auto flow_tag) {
    using scalar_t = decltype(frame_tag);
    using flow_t = decltype(flow_tag);
    using acc_t = acc_type_t<scalar_t, flow_t>;
    V2V_LAUNCH(blocks_for(pixels), kThreads, 0, stream, residual_forward_kernel<acc_t, scalar_t, flow_t>)(
        video.const_data_ptr<scalar_t>(), flow_fwd.const_data_ptr<flow_t>(), flow_bwd.const_data_ptr<flow_t>(),
        residual.mutable_data_ptr<scalar_t>(), mask.mutable_data_ptr<bool>(), non_finite.ptr, pairs, channels, height,
        width, pixels);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  if (non_finite.raised()) fail_non_finite_flow("residual_error", "flow_fwd or flow_bwd");
  return {residual, mask};
}

template <typename acc_t, typename scalar_t, typename flow_t, typename Accumulate>
__global__ void residual_backward_scatter_kernel(const scalar_t* __restrict__ grad, const bool* __restrict__ mask,
                                                 const flow_t* __restrict__ flow_bwd, Accumulate accumulate,
                                                 const double* scale, int64_t ws_batch_stride, int64_t pairs,
                                                 int64_t channels, index_t height, index_t width, int64_t pixels) {
  const int64_t plane = int64_t{height} * width;
  if constexpr (std::is_same<Accumulate, AtomicAddFixed>::value) accumulate.scale = *scale;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < pixels; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t pair = i / plane;
    const index_t p = static_cast<index_t>(i - pair * plane);
    const index_t y = p / width, x = p - y * width;
    const int64_t b = pair / pairs, k = pair - b * pairs;
    Accumulate add = accumulate;
    add.base += b * ws_batch_stride + k * channels * plane;
    residual_backward_scatter_pixel<acc_t>(grad + pair * channels * plane, mask + pair * plane,
                                           flow_bwd + pair * 2 * plane, 0, channels, height, width, y, x, add);
  }
}

template <typename acc_t, typename scalar_t, typename ws_t>
__global__ void residual_backward_gather_kernel(const scalar_t* __restrict__ grad, const bool* __restrict__ mask,
                                                const ws_t* workspace, const double* scale, scalar_t* grad_video,
                                                int64_t ws_batch_stride, int64_t pairs, int64_t channels, int64_t plane,
                                                int64_t elements) {
  constexpr bool kFixed = std::is_same<ws_t, unsigned long long>::value;
  const double fixed_scale = kFixed ? *scale : 1.0;
  const int64_t frames = pairs + 1;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < elements; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t plane_index = i / plane, p = i - plane_index * plane;
    const int64_t c = plane_index % channels, t = (plane_index / channels) % frames;
    const int64_t b = plane_index / (channels * frames);
    const bool has_direct = t >= 1;
    const int64_t pair_before = b * pairs + (has_direct ? t - 1 : 0);
    acc_t scattered = acc_t(0);
    if (t < pairs) {
      const ws_t raw = workspace[b * ws_batch_stride + (t * channels + c) * plane + p];
      if constexpr (kFixed) {
        scattered = static_cast<acc_t>(from_fixed(raw, fixed_scale));
      } else {
        scattered = static_cast<acc_t>(raw);
      }
    }
    const bool direct_valid = has_direct && mask[pair_before * plane + p];
    const scalar_t direct = direct_valid ? grad[(pair_before * channels + c) * plane + p] : scalar_t(0);
    grad_video[i] = residual_backward_gather<acc_t>(direct_valid, direct, scattered);
  }
}

__global__ void fixed_point_scale_kernel(const double* max_abs, int64_t plane, double* scale) {
  *scale = fixed_point_scale(*max_abs, plane);
}

// The scale of a deterministic scatter, computed on the device (no host sync) from the bound of
// determinism.h: max |grad| over the elements that scatter, a 0-dim float64 tensor on the device.
at::Tensor fixed_point_scale_on_device(const at::Tensor& max_abs, int64_t plane, cudaStream_t stream) {
  at::Tensor scale = at::empty({}, max_abs.options());
  V2V_LAUNCH(1, 1, 0, stream, fixed_point_scale_kernel)(max_abs.const_data_ptr<double>(), plane,
                                                        scale.mutable_data_ptr<double>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return scale;
}

at::Tensor residual_error_backward_cuda(const at::Tensor& grad_in, const at::Tensor& flow_bwd_in,
                                        const at::Tensor& mask_in) {
  check_residual_error_backward_args(grad_in, flow_bwd_in, mask_in);
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor flow_bwd = flow_bwd_in.contiguous();
  const at::Tensor mask = mask_in.contiguous();
  const int64_t batch = grad.size(0), pairs = grad.size(1), channels = grad.size(2);
  const index_t height = grad.size(3), width = grad.size(4);
  const int64_t plane = int64_t{height} * width, frames = pairs + 1;
  at::Tensor grad_video = at::empty({batch, frames, channels, height, width}, grad.options());
  const int64_t pixels = batch * pairs * plane;
  if (pixels == 0) return grad_video;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool fixed_point = deterministic_scatter();
  dispatch_frame_and_flow(grad.scalar_type(), flow_bwd.scalar_type(), [&](auto frame_tag, auto flow_tag) {
    using scalar_t = decltype(frame_tag);
    using flow_t = decltype(flow_tag);
    using acc_t = acc_type_t<scalar_t, flow_t>;
    const int64_t ws_batch_stride = pairs * channels * plane;
    const int64_t elements = grad_video.numel();
    if (fixed_point) {
      at::Tensor workspace = at::zeros({batch, pairs, channels, height, width}, grad.options().dtype(at::kLong));
      const at::Tensor scale =
          fixed_point_scale_on_device(residual_scatter_bound(grad, mask), plane, stream);
      auto* ws = reinterpret_cast<unsigned long long*>(workspace.mutable_data_ptr<int64_t>());
      V2V_LAUNCH(blocks_for(pixels), kThreads, 0, stream, residual_backward_scatter_kernel<acc_t, scalar_t, flow_t>)(
          grad.const_data_ptr<scalar_t>(), mask.const_data_ptr<bool>(), flow_bwd.const_data_ptr<flow_t>(),
          AtomicAddFixed{ws, 0.0}, scale.const_data_ptr<double>(), ws_batch_stride, pairs, channels, height, width,
          pixels);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      V2V_LAUNCH(blocks_for(elements), kThreads, 0, stream,
                 residual_backward_gather_kernel<acc_t, scalar_t, unsigned long long>)(
          grad.const_data_ptr<scalar_t>(), mask.const_data_ptr<bool>(), ws, scale.const_data_ptr<double>(),
          grad_video.mutable_data_ptr<scalar_t>(), ws_batch_stride, pairs, channels, plane, elements);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    } else {
      // Float atomics into an acc_t workspace; in float32 the output itself is the workspace.
      constexpr bool alias_output = std::is_same<scalar_t, acc_t>::value;
      at::Tensor workspace;
      int64_t stride = ws_batch_stride;
      if constexpr (alias_output) {
        grad_video.narrow(1, 0, pairs).zero_();
        workspace = grad_video;
        stride = frames * channels * plane;
      } else {
        workspace = at::zeros({batch, pairs, channels, height, width},
                              grad.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
      }
      acc_t* ws = workspace.mutable_data_ptr<acc_t>();
      V2V_LAUNCH(blocks_for(pixels), kThreads, 0, stream, residual_backward_scatter_kernel<acc_t, scalar_t, flow_t>)(
          grad.const_data_ptr<scalar_t>(), mask.const_data_ptr<bool>(), flow_bwd.const_data_ptr<flow_t>(),
          AtomicAddFloat<acc_t>{ws}, nullptr, stride, pairs, channels, height, width, pixels);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      V2V_LAUNCH(blocks_for(elements), kThreads, 0, stream, residual_backward_gather_kernel<acc_t, scalar_t, acc_t>)(
          grad.const_data_ptr<scalar_t>(), mask.const_data_ptr<bool>(), ws, nullptr,
          grad_video.mutable_data_ptr<scalar_t>(), stride, pairs, channels, plane, elements);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  return grad_video;
}

// --- consistency_mask ------------------------------------------------------------------------------

template <typename acc_t, typename flow_t>
__global__ void consistency_mask_kernel(const flow_t* __restrict__ flow_fwd, const flow_t* __restrict__ flow_bwd,
                                        bool* __restrict__ mask, int* non_finite, index_t height, index_t width,
                                        int64_t pixels) {
  const int64_t plane = int64_t{height} * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < pixels; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t b = i / plane;
    const index_t p = static_cast<index_t>(i - b * plane);
    const index_t y = p / width, x = p - y * width;
    const PixelGeometry<acc_t> g =
        pixel_geometry<acc_t>(flow_fwd + b * 2 * plane, flow_bwd + b * 2 * plane, y, x, height, width);
    mask[i] = g.valid;
    if (!g.finite && non_finite != nullptr) atomicOr(non_finite, 1);
  }
}

at::Tensor consistency_mask_cuda(const at::Tensor& flow_fwd_in, const at::Tensor& flow_bwd_in, bool check_flows) {
  check_consistency_mask_args(flow_fwd_in, flow_bwd_in);
  const c10::cuda::CUDAGuard guard(flow_bwd_in.device());
  const at::Tensor flow_fwd = flow_fwd_in.contiguous();
  const at::Tensor flow_bwd = flow_bwd_in.contiguous();
  const int64_t batch = flow_bwd.size(0);
  const index_t height = flow_bwd.size(2), width = flow_bwd.size(3);
  at::Tensor mask = at::empty({batch, 1, height, width}, flow_bwd.options().dtype(at::kBool));
  const int64_t pixels = batch * int64_t{height} * width;
  if (pixels == 0) return mask;
  NonFiniteFlag non_finite(flow_bwd, check_flows);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(flow_bwd.scalar_type(), "consistency_mask_cuda", [&] {
    using acc_t = acc_type_t<float, scalar_t>;
    V2V_LAUNCH(blocks_for(pixels), kThreads, 0, stream, consistency_mask_kernel<acc_t, scalar_t>)(
        flow_fwd.const_data_ptr<scalar_t>(), flow_bwd.const_data_ptr<scalar_t>(), mask.mutable_data_ptr<bool>(),
        non_finite.ptr, height, width, pixels);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  if (non_finite.raised()) fail_non_finite_flow("consistency_mask", "flow_fwd or flow_bwd");
  return mask;
}

// --- warp --------------------------------------------------------------------------------------------

template <typename acc_t, typename scalar_t, typename flow_t>
__global__ void warp_forward_kernel(const scalar_t* __restrict__ x, const flow_t* __restrict__ flow,
                                    scalar_t* __restrict__ out, int* non_finite, int64_t channels, index_t height,
                                    index_t width, Padding padding, int64_t pixels) {
  const int64_t plane = int64_t{height} * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < pixels; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t b = i / plane;
    const index_t p = static_cast<index_t>(i - b * plane);
    const index_t y = p / width, xx = p - y * width;
    const bool finite = warp_forward_pixel<acc_t>(x + b * channels * plane, out + b * channels * plane,
                                                  flow + b * 2 * plane, channels, height, width, y, xx, padding);
    if (!finite && non_finite != nullptr) atomicOr(non_finite, 1);
  }
}

at::Tensor warp_cuda(const at::Tensor& x_in, const at::Tensor& flow_in, c10::string_view padding_name, bool check_flow) {
  const std::string padding_str(padding_name);
  check_warp_args(x_in, flow_in, padding_str);
  const Padding padding = parse_padding(padding_str);
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.contiguous();
  const at::Tensor flow = flow_in.contiguous();
  const int64_t batch = x.size(0), channels = x.size(1);
  const index_t height = x.size(2), width = x.size(3);
  at::Tensor out = at::empty(x.sizes(), x.options());
  const int64_t pixels = batch * int64_t{height} * width;
  if (pixels == 0) return out;
  NonFiniteFlag non_finite(x, check_flow);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  dispatch_frame_and_flow(x.scalar_type(), flow.scalar_type(), [&](auto frame_tag, auto flow_tag) {
    using scalar_t = decltype(frame_tag);
    using flow_t = decltype(flow_tag);
    using acc_t = acc_type_t<scalar_t, flow_t>;
    V2V_LAUNCH(blocks_for(pixels), kThreads, 0, stream, warp_forward_kernel<acc_t, scalar_t, flow_t>)(
        x.const_data_ptr<scalar_t>(), flow.const_data_ptr<flow_t>(), out.mutable_data_ptr<scalar_t>(), non_finite.ptr,
        channels, height, width, padding, pixels);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  if (non_finite.raised()) fail_non_finite_flow("warp", "flow");
  return out;
}

template <typename acc_t, typename scalar_t, typename flow_t, typename Accumulate>
__global__ void warp_backward_scatter_kernel(const scalar_t* __restrict__ grad, const flow_t* __restrict__ flow,
                                             Accumulate accumulate, const double* scale, int64_t channels,
                                             index_t height, index_t width, Padding padding, int64_t pixels) {
  const int64_t plane = int64_t{height} * width;
  if constexpr (std::is_same<Accumulate, AtomicAddFixed>::value) accumulate.scale = *scale;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < pixels; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t b = i / plane;
    const index_t p = static_cast<index_t>(i - b * plane);
    const index_t y = p / width, x = p - y * width;
    Accumulate add = accumulate;
    add.base += b * channels * plane;
    warp_backward_scatter_pixel<acc_t>(grad + b * channels * plane, flow + b * 2 * plane, 0, channels, height, width,
                                       y, x, padding, add);
  }
}

template <typename scalar_t, typename ws_t>
__global__ void convert_workspace_kernel(const ws_t* workspace, const double* scale, scalar_t* out, int64_t elements) {
  constexpr bool kFixed = std::is_same<ws_t, unsigned long long>::value;
  const double fixed_scale = kFixed ? *scale : 1.0;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < elements; i += int64_t{gridDim.x} * blockDim.x) {
    if constexpr (kFixed) {
      out[i] = static_cast<scalar_t>(from_fixed(workspace[i], fixed_scale));
    } else {
      out[i] = static_cast<scalar_t>(workspace[i]);
    }
  }
}

at::Tensor warp_backward_cuda(const at::Tensor& grad_in, const at::Tensor& flow_in, c10::string_view padding_name) {
  const std::string padding_str(padding_name);
  check_warp_backward_args(grad_in, flow_in, padding_str);
  const Padding padding = parse_padding(padding_str);
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor flow = flow_in.contiguous();
  const int64_t batch = grad.size(0), channels = grad.size(1);
  const index_t height = grad.size(2), width = grad.size(3);
  const int64_t plane = int64_t{height} * width;
  const int64_t pixels = batch * plane, elements = grad.numel();
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool fixed_point = deterministic_scatter();
  at::Tensor grad_x = at::empty(grad.sizes(), grad.options());
  if (pixels == 0) return grad_x;
  dispatch_frame_and_flow(grad.scalar_type(), flow.scalar_type(), [&](auto frame_tag, auto flow_tag) {
    using scalar_t = decltype(frame_tag);
    using flow_t = decltype(flow_tag);
    using acc_t = acc_type_t<scalar_t, flow_t>;
    if (fixed_point) {
      at::Tensor workspace = at::zeros(grad.sizes(), grad.options().dtype(at::kLong));
      const at::Tensor scale =
          fixed_point_scale_on_device(warp_scatter_bound(grad, flow, padding), plane, stream);
      auto* ws = reinterpret_cast<unsigned long long*>(workspace.mutable_data_ptr<int64_t>());
      V2V_LAUNCH(blocks_for(pixels), kThreads, 0, stream, warp_backward_scatter_kernel<acc_t, scalar_t, flow_t>)(
          grad.const_data_ptr<scalar_t>(), flow.const_data_ptr<flow_t>(), AtomicAddFixed{ws, 0.0},
          scale.const_data_ptr<double>(), channels, height, width, padding, pixels);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      V2V_LAUNCH(blocks_for(elements), kThreads, 0, stream, convert_workspace_kernel<scalar_t, unsigned long long>)(
          ws, scale.const_data_ptr<double>(), grad_x.mutable_data_ptr<scalar_t>(), elements);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    } else if constexpr (std::is_same<scalar_t, acc_t>::value) {
      grad_x.zero_();
      V2V_LAUNCH(blocks_for(pixels), kThreads, 0, stream, warp_backward_scatter_kernel<acc_t, scalar_t, flow_t>)(
          grad.const_data_ptr<scalar_t>(), flow.const_data_ptr<flow_t>(),
          AtomicAddFloat<acc_t>{grad_x.mutable_data_ptr<acc_t>()}, nullptr, channels, height, width, padding, pixels);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    } else {
      at::Tensor workspace = at::zeros(grad.sizes(), grad.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
      acc_t* ws = workspace.mutable_data_ptr<acc_t>();
      V2V_LAUNCH(blocks_for(pixels), kThreads, 0, stream, warp_backward_scatter_kernel<acc_t, scalar_t, flow_t>)(
          grad.const_data_ptr<scalar_t>(), flow.const_data_ptr<flow_t>(), AtomicAddFloat<acc_t>{ws}, nullptr, channels,
          height, width, padding, pixels);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      V2V_LAUNCH(blocks_for(elements), kThreads, 0, stream, convert_workspace_kernel<scalar_t, acc_t>)(
          ws, nullptr, grad_x.mutable_data_ptr<scalar_t>(), elements);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  return grad_x;
}

}  // namespace

// Whether the kernels can run on GPU `device`: asking for a kernel's attributes loads the module for
// that device, which fails when the build has neither a binary for its architecture nor PTX that the
// driver can compile for it. All kernels are built for the same architectures, so one stands for all.
std::string cuda_kernel_image_error(int64_t device) {
  const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
  cudaFuncAttributes attributes;
  const cudaError_t status = cudaFuncGetAttributes(&attributes, residual_forward_kernel<float, float, float>);
  if (status == cudaSuccess) return "";
  (void)cudaGetLastError();  // clear the error, so that it is not reported again by a later call
  return cudaGetErrorString(status);
}

// torch.ops.v2vcore's CUDA kernels; in the emulation build, torch.ops.v2vcore_cuda_emulated's CPU kernels.
TORCH_LIBRARY_IMPL(V2V_KERNELS_LIBRARY, V2V_KERNELS_DISPATCH_KEY, m) {
  m.impl("residual_error", &residual_error_cuda);
  m.impl("residual_error_backward", &residual_error_backward_cuda);
  m.impl("warp", &warp_cuda);
  m.impl("warp_backward", &warp_backward_cuda);
  m.impl("consistency_mask", &consistency_mask_cuda);
}

}  // namespace v2vcore
