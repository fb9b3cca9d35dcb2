// The CUDA emulation's kernels: csrc/cuda/ops_cuda.cu itself, compiled as C++ under the shim
// (cuda_shim.h, included by ops_cuda.cu when V2V_CUDA_EMULATION is defined), with the argument checks
// and the deterministic scatter's bound that it shares with the other backends. Those two are
// compiled into this library from the same sources as into v2vcore._C; this file includes them so that
// their objects do not share a build path with _C's.
#if !defined(V2V_CUDA_EMULATION)
#error "ops_cuda_emulated.cpp is built by setup.py with V2V_CUDA_EMULATION=1 only"
#endif

#include "checks.cpp"
#include "determinism.cpp"
#include "cuda/ops_cuda.cu"
