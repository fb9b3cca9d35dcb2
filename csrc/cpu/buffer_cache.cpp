// Large CPU output buffers of the v2vcore ops, cached between calls; see buffer_cache.h.
//
// A buffer of N bytes is a 2 MiB-aligned allocation advised to use transparent huge pages and faulted
// in once, from one thread (huge-page faults taken by several threads at once serialise badly: on a
// 2-core VM, 2 threads faulting 69 MB took 5x longer than 1). When the tensor dies its buffer goes
// back to the cache, and the next request of the same size reuses it. The cache holds at most
// V2V_CPU_CACHE_MB megabytes (default 1024; 0 disables it) and frees whatever would exceed that.
#include <ATen/ATen.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "cpu/buffer_cache.h"

namespace v2vcore {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kMinCachedBytes = 8 * (size_t{1} << 20);  // smaller outputs use at::empty

size_t cache_limit_bytes() {
  static const size_t limit = [] {
    const char* value = std::getenv("V2V_CPU_CACHE_MB");
    if (value == nullptr || *value == '\0') return size_t{1024} << 20;
    char* end = nullptr;
    const long long megabytes = std::strtoll(value, &end, 10);
    TORCH_CHECK_VALUE(end != value && *end == '\0' && megabytes >= 0,
                      "V2V_CPU_CACHE_MB must be a whole number of megabytes >= 0, got '", value, "'");
    return static_cast<size_t>(megabytes) << 20;
  }();
  return limit;
}

void* allocate_buffer(size_t bytes) {
  void* ptr = nullptr;
  TORCH_CHECK(posix_memalign(&ptr, kHugePage, bytes) == 0 && ptr != nullptr, "v2vcore: out of memory allocating ",
              bytes, " bytes");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(ptr, bytes, MADV_HUGEPAGE);  // best effort
  const long page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
  for (size_t offset = 0; offset < bytes; offset += static_cast<size_t>(page)) static_cast<volatile char*>(ptr)[offset] = 0;
#endif
  return ptr;
}

class BufferCache {
 public:
  void* take(size_t bytes) {
    void* ptr = take_cached(bytes);
    return ptr != nullptr ? ptr : allocate_buffer(bytes);
  }

  // A cached buffer of `bytes`, or null.
  void* take_cached(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = free_.find(bytes);
    if (found == free_.end()) return nullptr;
    void* ptr = found->second;
    free_.erase(found);
    cached_bytes_ -= bytes;
    return ptr;
  }

  void give_back(void* ptr, size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + bytes <= cache_limit_bytes()) {
        free_.emplace(bytes, ptr);
        cached_bytes_ += bytes;
        return;
      }
    }
    std::free(ptr);
  }

 private:
  std::mutex mutex_;
  std::multimap<size_t, void*> free_;  // size -> buffer
  size_t cached_bytes_ = 0;
};

BufferCache& buffer_cache() {
  static BufferCache* cache = new BufferCache();  // never destroyed: tensors may outlive static teardown
  return *cache;
}

BufferCache& zeroed_cache() {  // buffers known to be all zeros (ZeroedScratch)
  static BufferCache* cache = new BufferCache();
  return *cache;
}

}  // namespace

at::Tensor empty_cpu_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  const int64_t numel = c10::multiply_integers(sizes);
  const size_t bytes = static_cast<size_t>(numel) * c10::elementSize(c10::typeMetaToScalarType(options.dtype()));
  if (bytes < kMinCachedBytes || cache_limit_bytes() == 0) return at::empty(sizes, options);
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* ptr = buffer_cache().take(rounded);
  return at::from_blob(
      ptr, sizes, [rounded](void* data) { buffer_cache().give_back(data, rounded); }, options.device(at::kCPU));
}

ZeroedScratch::ZeroedScratch(int64_t floats) {
  bytes_ = (static_cast<size_t>(floats) * sizeof(float) + kHugePage - 1) / kHugePage * kHugePage;
  cached_ = cache_limit_bytes() > 0 && bytes_ >= kMinCachedBytes;
  if (cached_) {
    ptr_ = zeroed_cache().take_cached(bytes_);
    if (ptr_ == nullptr) {
      ptr_ = allocate_buffer(bytes_);
      std::memset(ptr_, 0, bytes_);
    }
  } else {
    ptr_ = std::calloc(1, bytes_);
    TORCH_CHECK(ptr_ != nullptr, "v2vcore: out of memory allocating ", bytes_, " bytes");
  }
}

ZeroedScratch::~ZeroedScratch() {
  if (cached_ && zero_) {
    zeroed_cache().give_back(ptr_, bytes_);
  } else {
    std::free(ptr_);
  }
}

}  // namespace v2vcore
