// TensorFlow ops T2Attention and T2AttentionGrad: the fused attention of attention_math.cc, sharded
// over (object, head) pairs on TensorFlow's intra-op thread pool. Built and loaded by
// transientrepro.t2.fused, which registers T2AttentionGrad as T2Attention's gradient.
#include <cstdlib>
#include <functional>
#include <string>

#include "attention_math.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

using namespace tensorflow;  // NOLINT

namespace {

struct Impl {
  t2attn::ForwardFn forward;
  t2attn::BackwardFn backward;
  const char* name;
};

// The best compiled copy this CPU supports; $T2_ATTENTION_ISA (base, x86-64-v3) caps it, so the tests
// run every copy on one machine.
Impl best_impl() {
  const char* cap = std::getenv("T2_ATTENTION_ISA");
  const std::string limit = cap ? cap : "";
  if (limit == "base") return {t2attn::base::forward_pairs, t2attn::base::backward_pairs, "base"};
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool v4_allowed = limit != "x86-64-v3";
  if (v4_allowed && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("bmi2"))
    return {t2attn::v4::forward_pairs, t2attn::v4::backward_pairs, "x86-64-v4"};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
    return {t2attn::v3::forward_pairs, t2attn::v3::backward_pairs, "x86-64-v3"};
#endif
  return {t2attn::base::forward_pairs, t2attn::base::backward_pairs, "base"};
}

const Impl& impl() {
  static const Impl chosen = best_impl();
  return chosen;
}

Status dims_of(const Tensor& q, const Tensor& k, const Tensor& v, t2attn::Dims* s) {
  if (q.dims() != 4) return errors::InvalidArgument("T2Attention: q must be (B, L, H, D), got ", q.shape().DebugString());
  if (!(k.shape() == q.shape()) || !(v.shape() == q.shape()))
    return errors::InvalidArgument("T2Attention: q, k and v must have one shape, got ", q.shape().DebugString(), ", ",
                                   k.shape().DebugString(), ", ", v.shape().DebugString());
  *s = t2attn::Dims{q.dim_size(0), q.dim_size(1), q.dim_size(2), q.dim_size(3)};
  return OkStatus();
}

void run_sharded(OpKernelContext* ctx, int64_t units, int64_t cost, const std::function<void(int64_t, int64_t)>& fn) {
  auto* workers = ctx->device()->tensorflow_cpu_worker_threads();
  Shard(workers->num_threads, workers->workers, units, cost, fn);
}

}  // namespace

REGISTER_OP("T2Attention")
    .Input("q: float")
    .Input("k: float")
    .Input("v: float")
    .Output("out: float")
    .Output("lse: float")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle q;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &q));
      c->set_output(0, q);
      c->set_output(1, c->MakeShape({c->Dim(q, 0), c->Dim(q, 2), c->Dim(q, 1)}));
      return OkStatus();
    })
    .Doc("out = softmax(q k^T) v per (object, head); q, k, v, out (B, L, H, D), q pre-scaled; lse (B, H, L).");

REGISTER_OP("T2AttentionGrad")
    .Input("q: float")
    .Input("k: float")
    .Input("v: float")
    .Input("out: float")
    .Input("lse: float")
    .Input("dout: float")
    .Output("dq: float")
    .Output("dk: float")
    .Output("dv: float")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      for (int i = 0; i < 3; ++i) c->set_output(i, c->input(i));
      return OkStatus();
    })
    .Doc("Gradients of T2Attention's out with respect to q, k and v.");

REGISTER_OP("T2AttentionIsa")
    .Output("isa: string")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->Scalar());
      return OkStatus();
    })
    .Doc("The instruction set of the compiled copy in use: x86-64-v4, x86-64-v3 or base.");

class T2AttentionOp : public OpKernel {
 public:
  explicit T2AttentionOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    const Tensor &q = ctx->input(0), &k = ctx->input(1), &v = ctx->input(2);
    t2attn::Dims s;
    OP_REQUIRES_OK(ctx, dims_of(q, k, v, &s));
    Tensor *out = nullptr, *lse = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, q.shape(), &out));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({s.B, s.H, s.L}), &lse));
    const float *qp = q.flat<float>().data(), *kp = k.flat<float>().data(), *vp = v.flat<float>().data();
    float *op = out->flat<float>().data(), *lp = lse->flat<float>().data();
    const auto forward = impl().forward;
    run_sharded(ctx, s.B * s.H, 8 * s.L * s.L * (s.D + 4),
                [&](int64_t b, int64_t e) { forward(qp, kp, vp, op, lp, s, b, e); });
  }
};

class T2AttentionGradOp : public OpKernel {
 public:
  explicit T2AttentionGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    const Tensor &q = ctx->input(0), &k = ctx->input(1), &v = ctx->input(2), &out = ctx->input(3),
                 &lse = ctx->input(4), &dout = ctx->input(5);
    t2attn::Dims s;
    OP_REQUIRES_OK(ctx, dims_of(q, k, v, &s));
    OP_REQUIRES(ctx, out.shape() == q.shape() && dout.shape() == q.shape(),
                errors::InvalidArgument("T2AttentionGrad: out and dout must have q's shape"));
    OP_REQUIRES(ctx, lse.shape() == TensorShape({s.B, s.H, s.L}),
                errors::InvalidArgument("T2AttentionGrad: lse must be (B, H, L), got ", lse.shape().DebugString()));
    Tensor *dq = nullptr, *dk = nullptr, *dv = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, q.shape(), &dq));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, q.shape(), &dk));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, q.shape(), &dv));
    const float *qp = q.flat<float>().data(), *kp = k.flat<float>().data(), *vp = v.flat<float>().data(),
                *op = out.flat<float>().data(), *lp = lse.flat<float>().data(), *gp = dout.flat<float>().data();
    float *dqp = dq->flat<float>().data(), *dkp = dk->flat<float>().data(), *dvp = dv->flat<float>().data();
    const auto backward = impl().backward;
    run_sharded(ctx, s.B * s.H, 12 * s.L * s.L * (s.D + 4),
                [&](int64_t b, int64_t e) { backward(qp, kp, vp, op, lp, gp, dqp, dkp, dvp, s, b, e); });
  }
};

class T2AttentionIsaOp : public OpKernel {
 public:
  explicit T2AttentionIsaOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &out));
    out->scalar<tstring>()() = impl().name;
  }
};

REGISTER_KERNEL_BUILDER(Name("T2Attention").Device(DEVICE_CPU), T2AttentionOp);
REGISTER_KERNEL_BUILDER(Name("T2AttentionGrad").Device(DEVICE_CPU), T2AttentionGradOp);
REGISTER_KERNEL_BUILDER(Name("T2AttentionIsa").Device(DEVICE_CPU), T2AttentionIsaOp);
