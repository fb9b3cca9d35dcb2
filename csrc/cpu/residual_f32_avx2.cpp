// The float32 CPU kernels compiled with AVX2 enabled (see residual_f32_kernels.h); x86 only; run when
// the CPU has AVX2.
#if defined(__x86_64__) || defined(__i386__)
#define V2V_CPU_CAPABILITY avx2
#define V2V_CPU_CAPABILITY_AVX2 1
#include "cpu/residual_f32_kernels.h"
#endif
