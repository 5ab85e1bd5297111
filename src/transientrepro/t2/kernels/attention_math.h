// Fused attention math of t2 (no TensorFlow headers; attention_op.cc holds the op).
//
// attention_math.cc is compiled once per instruction set, each copy in its own namespace
// (T2_ISA_NS = v4: AVX-512, v3: AVX2 + FMA, base: the compiler's default), and attention_op.cc picks
// the best copy the CPU running it supports. One library therefore runs on every node of a cluster.
#pragma once
#include <cstdint>

namespace t2attn {

struct Dims {
  int64_t B, L, H, D;
  int64_t at(int64_t b, int64_t l, int64_t h) const { return ((b * L + l) * H + h) * D; }
};

using ForwardFn = void (*)(const float* q, const float* k, const float* v, float* out, float* lse, const Dims& s,
                           int64_t begin, int64_t end);
using BackwardFn = void (*)(const float* q, const float* k, const float* v, const float* out, const float* lse,
                            const float* dout, float* dq, float* dk, float* dv, const Dims& s, int64_t begin,
                            int64_t end);

#define T2_DECLARE_ISA(ns)                                                                                      \
  namespace ns {                                                                                                \
  /* out (B, L, H, D) and lse (B, H, L) of the (object, head) pairs [begin, end), pair = b * H + h */           \
  void forward_pairs(const float* q, const float* k, const float* v, float* out, float* lse, const Dims& s,     \
                     int64_t begin, int64_t end);                                                               \
  /* dq, dk, dv (B, L, H, D) of the pairs [begin, end), the attention weights recomputed from lse */            \
  void backward_pairs(const float* q, const float* k, const float* v, const float* out, const float* lse,       \
                      const float* dout, float* dq, float* dk, float* dv, const Dims& s, int64_t begin,         \
                      int64_t end);                                                                             \
  }

T2_DECLARE_ISA(base)
#if defined(__x86_64__)
T2_DECLARE_ISA(v3)
T2_DECLARE_ISA(v4)
#endif

}  // namespace t2attn
