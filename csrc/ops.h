// Declarations shared by the operator registration (ops.cpp) and the backend kernels.
#pragma once

#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>

#include "pixel_math.h"

namespace v2vcore {

// Argument checks shared by every backend; each failure names the argument and what was expected.
void check_residual_error_args(const at::Tensor& video, const at::Tensor& flow_fwd, const at::Tensor& flow_bwd);
void check_residual_error_backward_args(const at::Tensor& grad_residual, const at::Tensor& flow_bwd,
                                        const at::Tensor& mask);
void check_warp_args(const at::Tensor& x, const at::Tensor& flow, const std::string& padding);
void check_warp_backward_args(const at::Tensor& grad_output, const at::Tensor& flow, const std::string& padding);
void check_consistency_mask_args(const at::Tensor& flow_fwd, const at::Tensor& flow_bwd);
Padding parse_padding(const std::string& padding);

// Raises the error for a flow holding NaN or Inf (the kernels detect it while reading the flows).
[[noreturn]] void fail_non_finite_flow(const char* op, const char* arguments);

// An uninitialised CPU tensor for a large op output, from a small cache of page-backed buffers
// (csrc/cpu/buffer_cache.cpp): a training loop calls the op with the same shapes every step, and a
// fresh buffer of this size (a new mmap for glibc) would be faulted in page by page each time, which
// on virtual machines costs more than the op's arithmetic. Same contract as at::empty.
at::Tensor empty_cpu_output(at::IntArrayRef sizes, const at::TensorOptions& options);

// Scratch memory that is all zeros when taken, for a kernel that leaves it all zeros again when it
// finishes (the CPU backward's workspaces: its gather pass clears what its scatter wrote). Such
// buffers are cached already zeroed, which saves clearing tens of megabytes per call. The buffer goes
// back to the zeroed cache only if the kernel called mark_zero() (it finished and left it zero); a
// kernel that stops early (an exception) drops it.
class ZeroedScratch {
 public:
  explicit ZeroedScratch(int64_t floats);
  ~ZeroedScratch();
  ZeroedScratch(const ZeroedScratch&) = delete;
  ZeroedScratch& operator=(const ZeroedScratch&) = delete;
  float* data() const { return static_cast<float*>(ptr_); }
  void mark_zero() { zero_ = true; }

 private:
  void* ptr_;
  size_t bytes_;
  bool cached_;         // from (and back to) the zeroed cache, else calloc/free
  bool zero_ = false;
};

// Work of one parallel chunk of the CPU kernels, in pixels (enough to amortise the scheduling), and
// the rows of `width` pixels that make one.
constexpr int64_t kMinPixelsPerChunk = 16384;
inline int64_t rows_per_chunk(int64_t width) { return std::max<int64_t>(1, kMinPixelsPerChunk / std::max<int64_t>(1, width)); }

// Whether the scatter of a backward must be bitwise reproducible (torch.use_deterministic_algorithms).
bool deterministic_scatter();

// Calls `body(frame_tag, flow_tag)` with value-initialised tags of the frame type (half, bfloat16,
// float, double) and the flow type (float, double); the body recovers the types with decltype.
template <typename Body>
void dispatch_frame_and_flow(at::ScalarType frame_type, at::ScalarType flow_type, Body&& body) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, frame_type, "v2vcore", [&] {
    if (flow_type == at::kDouble) {
      body(scalar_t{}, double{});
    } else {
      body(scalar_t{}, float{});
    }
  });
}

}  // namespace v2vcore
