// The float32 CPU kernels compiled for the architecture's baseline instruction set (see
// residual_f32_kernels.h): every CPU of the architecture runs them.
#define V2V_CPU_CAPABILITY baseline
#define V2V_CPU_CAPABILITY_AVX2 0
#include "cpu/residual_f32_kernels.h"
