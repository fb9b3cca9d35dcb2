// How the CPU kernels split their work between threads.
#pragma once

#include <algorithm>
#include <cstdint>

namespace v2vcore {

// Work of one parallel chunk of the CPU kernels, in pixels (enough to amortise the scheduling), and
// the rows of `width` pixels that make one.
constexpr int64_t kMinPixelsPerChunk = 16384;
inline int64_t rows_per_chunk(int64_t width) { return std::max<int64_t>(1, kMinPixelsPerChunk / std::max<int64_t>(1, width)); }

}  // namespace v2vcore
