// Fused scaled dot-product self-attention for t2 (Allam & McEwen eqs. 5-6), forward and backward.
//
// t2 at Table 2's size has h = 16 heads of width d_head = d / h = 2 over L = 102 positions. Stock
// TensorFlow computes softmax(Q K^T) V as three ops over a (B, h, L, L) tensor -- a matmul with inner
// size 2, a softmax and a matmul with output width 2 -- each streaming 0.67 MB per object through
// memory. Here one (object, head) pair at a time keeps its keys and values in L1, and each query row
// goes through scores, max, exp, sum and the weighted sum of the values without leaving L1.
//
// Layout: q, k, v and out are (B, L, H, D) -- the Dense outputs reshaped, no transpose; q is already
// scaled by 1/sqrt(D). lse (B, H, L) is the log-sum-exp of each score row, kept for the backward pass,
// which recomputes the attention weights instead of storing them (as FlashAttention does).
//
// Determinism: each (object, head) pair is computed by one thread in a fixed order, so the results do
// not depend on the number of threads or on scheduling. No TensorFlow headers here: this file is
// compiled once per instruction set (see attention_math.h). It needs -fno-trapping-math, without
// which GCC keeps the clamp in exp_nonpos as a branch and vectorises none of the loops that call it.
#include "attention_math.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#ifndef T2_ISA_NS
#define T2_ISA_NS base
#endif

namespace t2attn {
namespace T2_ISA_NS {
namespace {

// exp(x) for x <= 0 (a score minus its row maximum): Cephes' single-precision polynomial (relative
// error ~1e-7), branch-free so that the loops calling it are vectorised.
inline float exp_nonpos(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float t = x * 1.44269504088896341f + 12582912.0f;  // round(x / ln 2) in the low mantissa bits
  int32_t n;
  std::memcpy(&n, &t, sizeof n);
  n -= 0x4B400000;
  const float fn = t - 12582912.0f;
  const float r = (x - fn * 0.693359375f) - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t bits = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

// W query rows at a time, one per vector lane: every loop over the keys j is a sequence of vertical
// vector operations on the W rows (no horizontal reduction, no remainder loop over j), and the lane
// loops below are what the compiler vectorises. Rows beyond L are padded with zero queries.
constexpr int W = 16;

// Head h of object b of x (B, L, H, D) into xt (D, Lp), rows L..Lp-1 zero: one contiguous row per component.
inline void gather(const float* x, const Dims& s, int64_t b, int64_t h, int64_t Lp, float* xt) {
  for (int64_t c = 0; c < s.D; ++c)
    for (int64_t j = s.L; j < Lp; ++j) xt[c * Lp + j] = 0.0f;
  for (int64_t j = 0; j < s.L; ++j) {
    const float* src = x + s.at(b, j, h);
    for (int64_t c = 0; c < s.D; ++c) xt[c * Lp + j] = src[c];
  }
}

// Scores s[t] = q_(i0+t) . k_j of the block's W queries (qt: D x Lp) against key j (kj: D values).
inline void block_scores(const float* qt, int64_t Lp, int64_t i0, const float* kj, int64_t D, float* s) {
  const float k0 = kj[0];
#pragma omp simd
  for (int t = 0; t < W; ++t) s[t] = qt[i0 + t] * k0;
  for (int64_t c = 1; c < D; ++c) {
    const float kc = kj[c];
    const float* qc = qt + c * Lp + i0;
#pragma omp simd
    for (int t = 0; t < W; ++t) s[t] += qc[t] * kc;
  }
}

inline int64_t padded(int64_t L) { return (L + W - 1) / W * W; }

// Keys and values of head h of object b, row-major (L, D): one key is D adjacent values.
inline void keys_values(const float* k, const float* v, const Dims& s, int64_t b, int64_t h, float* kt, float* vt) {
  for (int64_t j = 0; j < s.L; ++j) {
    const float* kj = k + s.at(b, j, h);
    const float* vj = v + s.at(b, j, h);
    for (int64_t c = 0; c < s.D; ++c) {
      kt[j * s.D + c] = kj[c];
      vt[j * s.D + c] = vj[c];
    }
  }
}

// out = acc / total and lse = max + log(total) of the block's real rows (acc: D x W).
inline void write_rows(const float* acc, const float* m, const float* total, const Dims& s, int64_t b, int64_t h,
                       int64_t i0, float* out, float* lse) {
  const int64_t rows = std::min<int64_t>(W, s.L - i0);
  for (int64_t t = 0; t < rows; ++t) {
    float* oi = out + s.at(b, i0 + t, h);
    const float inv = 1.0f / total[t];
    for (int64_t c = 0; c < s.D; ++c) oi[c] = acc[c * W + t] * inv;
    lse[(b * s.H + h) * s.L + i0 + t] = m[t] + std::log(total[t]);
  }
}

// lse_i and delta_i = dout_i . out_i of the block's rows; padded rows get 0 (their dout is 0). DC: the
// head width when known at compile time (the specialisations), else 0.
template <int DC>
inline void row_terms(const float* out, const float* lse, const float* dout, const Dims& s, int64_t b, int64_t h,
                      int64_t i0, float* l, float* delta) {
  const int64_t D = DC > 0 ? DC : s.D;
  const int64_t rows = std::min<int64_t>(W, s.L - i0);
  for (int t = 0; t < W; ++t) {
    l[t] = t < rows ? lse[(b * s.H + h) * s.L + i0 + t] : 0.0f;
    float d = 0.0f;
    if (t < rows) {
      const int64_t row = s.at(b, i0 + t, h);
      for (int64_t c = 0; c < D; ++c) d += dout[row + c] * out[row + c];
    }
    delta[t] = d;
  }
}

// Everything the backward pass of one (object, head) pair reads, in its layouts; dk, dv sums zeroed.
inline void load_backward_pair(const float* q, const float* k, const float* v, const float* dout, const Dims& s,
                               int64_t b, int64_t h, int64_t Lp, std::vector<float>& qt, std::vector<float>& gt,
                               std::vector<float>& kt, std::vector<float>& vt, std::vector<float>& dkw,
                               std::vector<float>& dvw) {
  gather(q, s, b, h, Lp, qt.data());
  gather(dout, s, b, h, Lp, gt.data());
  keys_values(k, v, s, b, h, kt.data(), vt.data());
  std::fill(dkw.begin(), dkw.end(), 0.0f);
  std::fill(dvw.begin(), dvw.end(), 0.0f);
}

// dk_j, dv_j: the W per-lane partial sums ((L, D, W) buffers) added in a fixed order.
inline void write_key_grads(const float* dkw, const float* dvw, const Dims& s, int64_t b, int64_t h, float* dk,
                            float* dv) {
  for (int64_t j = 0; j < s.L; ++j) {
    float* dkj = dk + s.at(b, j, h);
    float* dvj = dv + s.at(b, j, h);
    for (int64_t c = 0; c < s.D; ++c) {
      const float* a = dkw + (j * s.D + c) * W;
      const float* e = dvw + (j * s.D + c) * W;
      float sk = 0.0f, sv = 0.0f;
      for (int t = 0; t < W; ++t) {
        sk += a[t];
        sv += e[t];
      }
      dkj[c] = sk;
      dvj[c] = sv;
    }
  }
}

// Specialisations for a compile-time head width DC (1, 2, 4, 8: every d / h of t2's search space up
// to 8, Table 2's 2 included): the W-row block of queries, its output sums and its gradient sums
// live in vector registers across the loop over the keys, instead of in L1 as in the generic code.
template <int DC>
void forward_fixed(const float* q, const float* k, const float* v, float* out, float* lse, const Dims& s,
                   int64_t begin, int64_t end) {
  const int64_t L = s.L, Lp = padded(L);
  std::vector<float> qt(DC * Lp), kt(DC * L), vt(DC * L);
  for (int64_t pair = begin; pair < end; ++pair) {
    const int64_t b = pair / s.H, h = pair % s.H;
    gather(q, s, b, h, Lp, qt.data());
    keys_values(k, v, s, b, h, kt.data(), vt.data());
    for (int64_t i0 = 0; i0 < Lp; i0 += W) {
      alignas(64) float qb[DC][W], acc[DC][W], m[W], total[W];
      for (int c = 0; c < DC; ++c)
        for (int t = 0; t < W; ++t) qb[c][t] = qt[c * Lp + i0 + t];
      for (int t = 0; t < W; ++t) m[t] = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < L; ++j) {  // pass 1: the row maxima
        const float* kj = kt.data() + j * DC;
#pragma omp simd
        for (int t = 0; t < W; ++t) {
          float x = qb[0][t] * kj[0];
          for (int c = 1; c < DC; ++c) x += qb[c][t] * kj[c];
          m[t] = x > m[t] ? x : m[t];
        }
      }
      for (int t = 0; t < W; ++t) total[t] = 0.0f;
      for (int c = 0; c < DC; ++c)
        for (int t = 0; t < W; ++t) acc[c][t] = 0.0f;
      for (int64_t j = 0; j < L; ++j) {  // pass 2: exp, row sums, weighted values
        const float* kj = kt.data() + j * DC;
        const float* vj = vt.data() + j * DC;
#pragma omp simd
        for (int t = 0; t < W; ++t) {
          float x = qb[0][t] * kj[0];
          for (int c = 1; c < DC; ++c) x += qb[c][t] * kj[c];
          const float e = exp_nonpos(x - m[t]);
          total[t] += e;
          for (int c = 0; c < DC; ++c) acc[c][t] += e * vj[c];
        }
      }
      write_rows(&acc[0][0], m, total, s, b, h, i0, out, lse);
    }
  }
}

template <int DC>
void backward_fixed(const float* q, const float* k, const float* v, const float* out, const float* lse,
                    const float* dout, float* dq, float* dk, float* dv, const Dims& s, int64_t begin, int64_t end) {
  const int64_t L = s.L, Lp = padded(L);
  std::vector<float> qt(DC * Lp), gt(DC * Lp), kt(DC * L), vt(DC * L), dkw(L * DC * W), dvw(L * DC * W);
  for (int64_t pair = begin; pair < end; ++pair) {
    const int64_t b = pair / s.H, h = pair % s.H;
    load_backward_pair(q, k, v, dout, s, b, h, Lp, qt, gt, kt, vt, dkw, dvw);
    for (int64_t i0 = 0; i0 < Lp; i0 += W) {
      const int64_t rows = std::min<int64_t>(W, L - i0);
      alignas(64) float qb[DC][W], gb[DC][W], dqa[DC][W], l[W], delta[W];
      for (int c = 0; c < DC; ++c)
        for (int t = 0; t < W; ++t) {
          qb[c][t] = qt[c * Lp + i0 + t];
          gb[c][t] = gt[c * Lp + i0 + t];
          dqa[c][t] = 0.0f;
        }
      row_terms<DC>(out, lse, dout, s, b, h, i0, l, delta);
      for (int64_t j = 0; j < L; ++j) {
        const float* kj = kt.data() + j * DC;
        const float* vj = vt.data() + j * DC;
        float* dkj = dkw.data() + j * DC * W;
        float* dvj = dvw.data() + j * DC * W;
#pragma omp simd
        for (int t = 0; t < W; ++t) {
          float x = qb[0][t] * kj[0];
          float y = gb[0][t] * vj[0];
          for (int c = 1; c < DC; ++c) {
            x += qb[c][t] * kj[c];
            y += gb[c][t] * vj[c];
          }
          const float p = exp_nonpos(x - l[t]);  // p_ij
          const float ds = p * (y - delta[t]);     // ds_ij
          for (int c = 0; c < DC; ++c) {
            dqa[c][t] += ds * kj[c];
            dkj[c * W + t] += ds * qb[c][t];
            dvj[c * W + t] += p * gb[c][t];
          }
        }
      }
      for (int64_t t = 0; t < rows; ++t) {
        float* dqi = dq + s.at(b, i0 + t, h);
        for (int c = 0; c < DC; ++c) dqi[c] = dqa[c][t];
      }
    }
    write_key_grads(dkw.data(), dvw.data(), s, b, h, dk, dv);
  }
}

}  // namespace

void forward_pairs(const float* q, const float* k, const float* v, float* out, float* lse, const Dims& s,
                             int64_t begin, int64_t end) {
  switch (s.D) {
    case 1: return forward_fixed<1>(q, k, v, out, lse, s, begin, end);
    case 2: return forward_fixed<2>(q, k, v, out, lse, s, begin, end);
    case 4: return forward_fixed<4>(q, k, v, out, lse, s, begin, end);
    case 8: return forward_fixed<8>(q, k, v, out, lse, s, begin, end);
    default: break;  // any other width: the generic code below
  }
  const int64_t L = s.L, D = s.D, Lp = padded(L);
  std::vector<float> qt(D * Lp), kt(D * L), vt(D * L), acc(D * W);
  alignas(64) float sc[W], m[W], total[W];
  for (int64_t pair = begin; pair < end; ++pair) {
    const int64_t b = pair / s.H, h = pair % s.H;
    gather(q, s, b, h, Lp, qt.data());
    keys_values(k, v, s, b, h, kt.data(), vt.data());
    for (int64_t i0 = 0; i0 < Lp; i0 += W) {
      // pass 1: the row maxima
      for (int t = 0; t < W; ++t) m[t] = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < L; ++j) {
        block_scores(qt.data(), Lp, i0, kt.data() + j * D, D, sc);
#pragma omp simd
        for (int t = 0; t < W; ++t) m[t] = sc[t] > m[t] ? sc[t] : m[t];
      }
      // pass 2: e = exp(s - max), its row sums and the e-weighted sums of the values
      for (int t = 0; t < W; ++t) total[t] = 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = 0; j < L; ++j) {
        block_scores(qt.data(), Lp, i0, kt.data() + j * D, D, sc);
#pragma omp simd
        for (int t = 0; t < W; ++t) {
          sc[t] = exp_nonpos(sc[t] - m[t]);
          total[t] += sc[t];
        }
        const float* vj = vt.data() + j * D;
        for (int64_t c = 0; c < D; ++c) {
          const float vc = vj[c];
          float* ac = acc.data() + c * W;
#pragma omp simd
          for (int t = 0; t < W; ++t) ac[t] += sc[t] * vc;
        }
      }
      write_rows(acc.data(), m, total, s, b, h, i0, out, lse);
    }
  }
}

// Backward of out = softmax(q k^T) v, p recomputed from lse:
//   dv_j = sum_i p_ij dout_i;  dp_ij = dout_i . v_j;  delta_i = dout_i . out_i (= sum_j p_ij dp_ij);
//   ds_ij = p_ij (dp_ij - delta_i);  dq_i = sum_j ds_ij k_j;  dk_j = sum_i ds_ij q_i.
// dk and dv are sums over the queries i: they are accumulated per lane ((L, D, W) buffers, in a fixed
// order) and the W lanes are summed once per head at the end.
void backward_pairs(const float* q, const float* k, const float* v, const float* out, const float* lse,
                              const float* dout, float* dq, float* dk, float* dv, const Dims& s, int64_t begin,
                              int64_t end) {
  switch (s.D) {
    case 1: return backward_fixed<1>(q, k, v, out, lse, dout, dq, dk, dv, s, begin, end);
    case 2: return backward_fixed<2>(q, k, v, out, lse, dout, dq, dk, dv, s, begin, end);
    case 4: return backward_fixed<4>(q, k, v, out, lse, dout, dq, dk, dv, s, begin, end);
    case 8: return backward_fixed<8>(q, k, v, out, lse, dout, dq, dk, dv, s, begin, end);
    default: break;  // any other width: the generic code below
  }
  const int64_t L = s.L, D = s.D, Lp = padded(L);
  std::vector<float> qt(D * Lp), gt(D * Lp), kt(D * L), vt(D * L), dkw(L * D * W), dvw(L * D * W), dqa(D * W);
  alignas(64) float sc[W], dp[W], l[W], delta[W];
  for (int64_t pair = begin; pair < end; ++pair) {
    const int64_t b = pair / s.H, h = pair % s.H;
    load_backward_pair(q, k, v, dout, s, b, h, Lp, qt, gt, kt, vt, dkw, dvw);
    for (int64_t i0 = 0; i0 < Lp; i0 += W) {
      const int64_t rows = std::min<int64_t>(W, L - i0);
      row_terms<0>(out, lse, dout, s, b, h, i0, l, delta);
      std::fill(dqa.begin(), dqa.end(), 0.0f);
      for (int64_t j = 0; j < L; ++j) {
        const float* kj = kt.data() + j * D;
        const float* vj = vt.data() + j * D;
        block_scores(qt.data(), Lp, i0, kj, D, sc);                    // s_ij
        block_scores(gt.data(), Lp, i0, vj, D, dp);                    // dout_i . v_j
#pragma omp simd
        for (int t = 0; t < W; ++t) {
          sc[t] = exp_nonpos(sc[t] - l[t]);                            // p_ij
          dp[t] = sc[t] * (dp[t] - delta[t]);                          // ds_ij
        }
        for (int64_t c = 0; c < D; ++c) {
          const float kc = kj[c];
          const float* qc = qt.data() + c * Lp + i0;
          const float* gc = gt.data() + c * Lp + i0;
          float* dqc = dqa.data() + c * W;
          float* dkc = dkw.data() + (j * D + c) * W;
          float* dvc = dvw.data() + (j * D + c) * W;
#pragma omp simd
          for (int t = 0; t < W; ++t) {
            dqc[t] += dp[t] * kc;
            dkc[t] += dp[t] * qc[t];
            dvc[t] += sc[t] * gc[t];
          }
        }
      }
      for (int64_t t = 0; t < rows; ++t) {
        float* dqi = dq + s.at(b, i0 + t, h);
        for (int64_t c = 0; c < D; ++c) dqi[c] = dqa[c * W + t];
      }
    }
    write_key_grads(dkw.data(), dvw.data(), s, b, h, dk, dv);
  }
}

}  // namespace T2_ISA_NS
}  // namespace t2attn
