// The dtype dispatch of the kernels, shared by the CPU and CUDA backends.
#pragma once

#include <ATen/Dispatch.h>

namespace v2vcore {

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
