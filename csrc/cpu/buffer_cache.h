// Output and scratch buffers of the CPU kernels, cached between calls (implemented in buffer_cache.cpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>

namespace v2vcore {

// An uninitialised CPU tensor for a large op output, from a small cache of page-backed buffers: a
// training loop calls the op with the same shapes every step, and a fresh buffer of this size (a new
// mmap for glibc) would be faulted in page by page each time, which on virtual machines costs more
// than the op's arithmetic. Same contract as at::empty.
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

}  // namespace v2vcore
