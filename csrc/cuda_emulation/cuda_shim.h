// The CUDA emulation's shim: what csrc/cuda/ops_cuda.cu needs from CUDA and from c10's CUDA headers,
// for a C++ compiler and CPU tensors. Included by ops_cuda.cu only when V2V_CUDA_EMULATION is
// defined (csrc/cuda_emulation/ops_cuda_emulated.cpp); nvcc never sees it. docs/op.md, "CUDA
// emulation", says what it covers and what it cannot.
//
// The kernels are grid-stride loops over the per-pixel functions of pixel_math.h that accumulate with
// atomicAdd/atomicOr; they use no shared memory, no __syncthreads and no warp-level operations.
// Within a block, threads may therefore run one after the other: every order of a block's threads is
// one the hardware may choose. So an emulated launch runs every block of the grid, the blocks spread
// over OpenMP threads (schedule(dynamic, 1), so neighbouring blocks run at once and their atomics
// race), and each block's threads in turn. Atomics are real atomics (std::atomic_ref, relaxed, as
// CUDA's are), so the float-atomic scatter lands in an order that varies from run to run, and the
// fixed-point scatter must give the same bits whatever the order.
//
// A few settings (v2vcore::cuda_emulation::settings(), set from Python with
// torch.ops.v2vcore_cuda_emulated.configure) let the tests change what a real GPU may change:
//   schedule_seed  0: blocks and threads in index order; otherwise both visited in a permuted order
//                  derived from the seed (an affine permutation i -> a i + c mod n), so that sums land
//                  in another order even on one thread;
//   max_blocks     0: the grid as launched; otherwise at most this many blocks, so that every
//                  grid-stride loop takes several strides (a kernel must not assume one pass);
//   junk_fill      fill every new CPU allocation (at::empty included) with a NaN pattern, c10's
//                  caffe2_cpu_allocator_do_junk_fill, so that an output element a kernel never
//                  writes shows up (the GPU's uninitialised memory is not zero either).
#pragma once

#if !defined(V2V_CUDA_EMULATION)
#error "cuda_shim.h is for the CUDA emulation build (V2V_CUDA_EMULATION) only"
#endif
#if defined(__CUDACC__)
#error "cuda_shim.h emulates CUDA with a C++ compiler; nvcc compiles csrc/cuda/ops_cuda.cu without it"
#endif

#include <ATen/Parallel.h>
#include <c10/core/Device.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

// --- execution-space qualifiers and built-in variables ------------------------------------------------

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))

struct uint3 {
  unsigned int x, y, z;
};

struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
};

// Set by the emulated launch for the thread of the grid that runs.
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};

// --- atomics (device-wide, relaxed: CUDA's atomicAdd/atomicOr order nothing else) -------------------

inline float atomicAdd(float* address, float value) {
  return std::atomic_ref<float>(*address).fetch_add(value, std::memory_order_relaxed);
}
inline double atomicAdd(double* address, double value) {
  return std::atomic_ref<double>(*address).fetch_add(value, std::memory_order_relaxed);
}
inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
  return std::atomic_ref<unsigned long long>(*address).fetch_add(value, std::memory_order_relaxed);
}
inline int atomicOr(int* address, int value) {
  return std::atomic_ref<int>(*address).fetch_or(value, std::memory_order_relaxed);
}

// --- the runtime API calls ops_cuda.cu makes ----------------------------------------------------------

struct CUstream_st;
using cudaStream_t = CUstream_st*;

enum cudaError { cudaSuccess = 0 };
using cudaError_t = cudaError;

struct cudaFuncAttributes {
  int maxThreadsPerBlock = 1024;
  int numRegs = 0;
};

// The emulated "module" is host code, so a kernel always has an image.
template <typename Kernel>
inline cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes, Kernel*) {
  *attributes = cudaFuncAttributes{};
  return cudaSuccess;
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t) { return "no error"; }

// A launch's configuration errors are raised by the launch itself (run_grid); nothing is left to check.
#define C10_CUDA_KERNEL_LAUNCH_CHECK() \
  do {                                \
  } while (false)

// --- c10's CUDA helpers -------------------------------------------------------------------------------
// In an unnamed namespace, so that nothing here can collide with a real libc10_cuda at link time.

namespace c10::cuda {
namespace {

enum class CaptureStatus : int { None = 0, Active = 1, Invalidated = 2 };

// Nothing is ever captured: the emulation has no CUDA graphs.
inline CaptureStatus currentStreamCaptureStatusMayInitCtx() { return CaptureStatus::None; }

// Launches run synchronously on the calling thread's OpenMP team; the stream is a placeholder.
class CUDAStream {
 public:
  operator cudaStream_t() const { return nullptr; }
};
inline CUDAStream getCurrentCUDAStream(c10::DeviceIndex = -1) { return {}; }

// The emulated device is the CPU: a guard for a tensor's device checks that it is a CPU tensor.
class CUDAGuard {
 public:
  explicit CUDAGuard(c10::Device device) {
    TORCH_CHECK(device.is_cpu(), "v2vcore_cuda_emulated: the emulated CUDA kernels run on CPU tensors, got a tensor on ",
                device);
  }
  explicit CUDAGuard(c10::DeviceIndex) {}
  CUDAGuard(const CUDAGuard&) = delete;
  CUDAGuard& operator=(const CUDAGuard&) = delete;
};

}  // namespace
}  // namespace c10::cuda

// --- the emulated launch ------------------------------------------------------------------------------

namespace v2vcore::cuda_emulation {

struct Settings {
  std::atomic<int64_t> schedule_seed{0};
  std::atomic<int64_t> max_blocks{0};
  std::atomic<int64_t> launches{0};  // kernels launched so far (the tests check the emulation ran)
};

inline Settings& settings() {
  static Settings instance;
  return instance;
}

inline uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline uint64_t gcd(uint64_t a, uint64_t b) {
  while (b != 0) {
    const uint64_t r = a % b;
    a = b;
    b = r;
  }
  return a;
}

// i -> (a i + c) mod n with a coprime to n: a permutation of [0, n) that needs no storage. The
// identity when seed is 0.
class Permutation {
 public:
  Permutation(uint64_t n, uint64_t seed) : n_(n) {
    if (seed == 0 || n < 2) return;
    const uint64_t z = splitmix64(seed ^ (n * 0x2545f4914f6cdd1dull));
    a_ = 1 + z % (n - 1);
    while (gcd(a_, n) != 1) a_ = a_ % (n - 1) + 1;
    c_ = splitmix64(z) % n;
  }
  uint64_t operator()(uint64_t i) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(a_) * i + c_) % n_);
  }

 private:
  uint64_t n_, a_ = 1, c_ = 0;
};

// Runs `thread_body` once for every thread of the grid, with threadIdx, blockIdx, blockDim and gridDim
// set. Configurations CUDA rejects (cudaErrorInvalidConfiguration) are errors here too.
inline void run_grid(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& thread_body) {
  TORCH_CHECK(grid.x >= 1 && grid.x <= 2147483647u && grid.y == 1 && grid.z == 1,
              "v2vcore_cuda_emulated: invalid launch, grid (", grid.x, ", ", grid.y, ", ", grid.z,
              "); the kernels launch 1-D grids of 1 to 2^31 - 1 blocks");
  TORCH_CHECK(block.x >= 1 && block.x <= 1024 && block.y == 1 && block.z == 1,
              "v2vcore_cuda_emulated: invalid launch, block (", block.x, ", ", block.y, ", ", block.z,
              "); the kernels launch 1-D blocks of 1 to 1024 threads");
  TORCH_CHECK(shared_bytes == 0, "v2vcore_cuda_emulated: the emulation has no shared memory, the launch asked for ",
              shared_bytes, " bytes");
  Settings& config = settings();
  config.launches.fetch_add(1, std::memory_order_relaxed);
  const int64_t max_blocks = config.max_blocks.load(std::memory_order_relaxed);
  const uint64_t seed = static_cast<uint64_t>(config.schedule_seed.load(std::memory_order_relaxed));
  dim3 launched = grid;
  if (max_blocks > 0 && launched.x > static_cast<uint64_t>(max_blocks)) launched.x = static_cast<unsigned int>(max_blocks);
  const Permutation block_order(launched.x, seed);
  const Permutation thread_order(block.x, seed == 0 ? 0 : splitmix64(seed));
  const int64_t blocks = launched.x;
  // Not at::parallel_for: that splits the range into one contiguous chunk per thread, whereas here
  // neighbouring blocks (whose scatters meet at their edges) should run at the same time.
#pragma omp parallel for schedule(dynamic, 1) num_threads(at::get_num_threads())
  for (int64_t k = 0; k < blocks; ++k) {
    gridDim = launched;
    blockDim = block;
    blockIdx = uint3{static_cast<unsigned int>(block_order(static_cast<uint64_t>(k))), 0, 0};
    for (unsigned int t = 0; t < block.x; ++t) {
      threadIdx = uint3{static_cast<unsigned int>(thread_order(t)), 0, 0};
      thread_body();
    }
  }
}

// `launch(grid, block, shared_bytes, body)(args...)` runs `body(args...)` for every thread of the grid,
// `body` calling the kernel (V2V_LAUNCH writes it): a call, so that the kernel's template arguments
// that the launch leaves out are deduced from its arguments, as nvcc deduces them. The arguments are
// stored once, as a launch copies them, and each thread's call passes them by value to the kernel's
// parameters: every thread has its own copy (a kernel may change its parameters).
template <typename Body>
class Launch {
 public:
  Launch(dim3 grid, dim3 block, size_t shared_bytes, Body body)
      : grid_(grid), block_(block), shared_bytes_(shared_bytes), body_(body) {}

  template <typename... Args>
  void operator()(Args&&... args) const {
    const std::tuple<std::decay_t<Args>...> arguments(std::forward<Args>(args)...);
    run_grid(grid_, block_, shared_bytes_, [&] { std::apply(body_, arguments); });
  }

 private:
  dim3 grid_, block_;
  size_t shared_bytes_;
  Body body_;
};

template <typename Body>
Launch<Body> launch(dim3 grid, dim3 block, size_t shared_bytes, Body body) {
  return Launch<Body>(grid, block, shared_bytes, body);
}

}  // namespace v2vcore::cuda_emulation

// `kernel<<<grid, block, shared_bytes, stream>>>(args)` under nvcc (ops_cuda.cu); the stream is unused:
// an emulated launch has finished when it returns.
#define V2V_LAUNCH(grid, block, shared_bytes, stream, ...)                  \
  ((void)(stream), ::v2vcore::cuda_emulation::launch(grid, block, shared_bytes, \
                                                     [](const auto&... arguments) { __VA_ARGS__(arguments...); }))

// ops_cuda.cu registers its kernels under these: the emulated library, for CPU tensors.
#define V2V_KERNELS_LIBRARY v2vcore_cuda_emulated
#define V2V_KERNELS_DISPATCH_KEY CPU
