"""Benchmark t2 at Table 2's size: training samples/s and inference objects/s of today's path and of
the path before issue 12 ("legacy"), measured in the same process, in alternating rounds, with the
same starting weights, so that their ratio is not blurred by other load on the machine.

    python -m transientrepro.bench.t2                       # Table 2 model, 2,000 synthetic objects
    python -m transientrepro.bench.t2 -n 4000 --batch-size 256 --threads 2
    python -m transientrepro.bench.t2 --gp results/plasticc/gp/gp.h5   # real GP arrays

new    -- per-object attention (``MultiHeadSelfAttention.impl = "per_object"``), ``model.fit`` on the
          in-memory arrays; inference through :func:`transientrepro.t2.stream.predict` (a serving
          function traced once and XLA-compiled, ``t2.jit_compile``; 1,024 objects per call).
legacy -- the all-heads attention (``impl = "legacy"``) and ``model.predict(batch_size=1024)``.

Training uses the embedded recipe's loss and optimiser (``batch_flat``, Adam with clipnorm 1.0, batch
64, deterministic ops). The GP stage is not part of the inference figure (``== gp`` times it).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Issue 12's goals on 2 cores.
GOAL_INFERENCE = 5000.0
GOAL_TRAINING = 1500.0


def set_attention(model, impl: str):
    """Switch every transformer block of ``model`` to the attention implementation ``impl``."""
    from ..t2.layers import TransformerBlock

    blocks = [l for l in model.layers if isinstance(l, TransformerBlock)]
    if not blocks:
        raise ValueError(f"model {model.name!r} has no TransformerBlock")
    for b in blocks:
        b.attention.impl = impl
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m transientrepro.bench.t2", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="objects (synthetic unless --gp)")
    ap.add_argument("--gp", help="gp.h5 (or .npz) to take the first N objects from")
    ap.add_argument("--batch-size", type=int, default=64, help="training batch (config t2.batch_size)")
    ap.add_argument("--predict-batch", type=int, default=1024, help="objects per inference call")
    ap.add_argument("--epochs", type=int, default=1, help="timed training epochs per path and round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (legacy, new, new, legacy, ...)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--loss", default="batch_flat", choices=["batch_flat", "class_weighted", "unweighted"])
    ap.add_argument("--clipnorm", type=float, default=1.0)
    ap.add_argument("--variant", choices=["t2", "t2_noz"], default="t2")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if min(args.n, args.batch_size, args.predict_batch, args.epochs, args.rounds, args.threads) < 1:
        ap.error("-n, --batch-size, --predict-batch, --epochs, --rounds and --threads must be >= 1")

    import numpy as np

    from ..t2.data import T2Data, make_synthetic_gp
    from ..t2.params import class_codes_and_names, paper_n_params, table2_hyperparameters
    from ..t2.scaling import apply_scaling, fit_scaling
    from ..t2.training import configure_tensorflow

    configure_tensorflow(args.seed, args.threads, deterministic=True)
    import keras

    from ..t2.model import build_t2, compile_t2
    from ..t2.stream import predict

    if args.gp:
        from ..t2.data import load_gp

        gp = load_gp(args.gp)
        gp = {k: np.asarray(v[: args.n]) for k, v in gp.items() if k in ("X", "z", "z_err", "target", "object_id")}
    else:
        gp, _ = make_synthetic_gp(n=args.n, seed=args.seed)
    codes, _ = class_codes_and_names()
    code_to_idx = {c: i for i, c in enumerate(codes)}
    X = apply_scaling(gp["X"], fit_scaling(gp["X"], "dataset_band")).astype(np.float32)
    n = len(X)
    aux = (np.stack([gp["z"], gp["z_err"]], axis=1).astype(np.float32) if args.variant == "t2"
           else np.zeros((n, 0), np.float32))
    y_idx = np.array([code_to_idx[int(c)] for c in gp["target"]], np.int64)
    data = T2Data(X, aux, y_idx, np.asarray(gp["object_id"], np.int64), codes)
    inputs = data.inputs()
    y = keras.utils.to_categorical(y_idx, len(codes))
    hp = table2_hyperparameters()
    L, M = X.shape[1], X.shape[2]

    def make(impl: str):
        keras.utils.set_random_seed(args.seed)  # the same initial weights for both paths
        model = build_t2(L, M, len(codes), hp, n_aux=aux.shape[1], positional_encoding="vaswani",
                         aux_layout="interleaved", name=f"t2_{impl}")
        set_attention(model, impl)
        return compile_t2(model, hp["learning_rate"], loss=args.loss, clipnorm=args.clipnorm)

    paths = {"legacy": make("legacy"), "new": make("per_object")}
    infer = {"legacy": lambda m: predict(m, data, args.predict_batch, legacy=True),
             "new": lambda m: predict(m, data, args.predict_batch)}
    print(f"t2 ({args.variant}) L={L} M={M} C={len(codes)} Table 2 {hp}; {n} objects, loss {args.loss}, "
          f"clipnorm {args.clipnorm}, deterministic ops, {args.threads} threads")
    print(f"parameters: built {paths['new'].count_params():,}, §3.7 formula "
          f"{paper_n_params(M, len(codes), hp['d'], hp['h'], hp['d_ff'], hp['N']):,}")
    p0 = {k: infer[k](m) for k, m in paths.items()}  # also traces the inference functions
    diff_init = float(np.abs(p0["new"] - p0["legacy"]).max())

    def fit(m):
        m.fit(inputs, y, epochs=args.epochs, batch_size=args.batch_size, shuffle=True, verbose=0)

    for k, m in paths.items():  # warm-up epoch: graph tracing
        t0 = time.perf_counter()
        m.fit(inputs, y, epochs=1, batch_size=args.batch_size, shuffle=True, verbose=0)
        print(f"first epoch ({k}, incl. tracing): {time.perf_counter() - t0:.2f} s", flush=True)
    train = {k: [] for k in paths}
    inf = {k: [] for k in paths}
    cpu = {k: {"train": 0.0, "inf": 0.0} for k in paths}  # process CPU seconds: robust to other load
    for r in range(args.rounds):
        order = ["legacy", "new"] if r % 2 == 0 else ["new", "legacy"]
        for k in order:
            t0, c0 = time.perf_counter(), time.process_time()
            fit(paths[k])
            train[k].append(args.epochs * n / (time.perf_counter() - t0))
            cpu[k]["train"] += time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            infer[k](paths[k])
            inf[k].append(n / (time.perf_counter() - t0))
            cpu[k]["inf"] += time.process_time() - c0
    # the same (trained) weights through both inference paths
    paths["new"].set_weights(paths["legacy"].get_weights())
    diff_trained = float(np.abs(infer["new"](paths["new"]) - infer["legacy"](paths["legacy"])).max())

    def fmt(v):
        return f"{np.median(v):,.0f} (rounds: {', '.join(f'{x:,.0f}' for x in v)})"

    tr = {k: float(np.median(v)) for k, v in train.items()}
    pr = {k: float(np.median(v)) for k, v in inf.items()}
    print(f"t2 training (legacy): {fmt(train['legacy'])} samples/s -- all-heads attention, batch {args.batch_size}")
    print(f"t2 training (new): {fmt(train['new'])} samples/s -- per-object attention, batch {args.batch_size}")
    print(f"t2 training ratio new/legacy: {tr['new'] / tr['legacy']:.2f}x "
          f"(goal >= {GOAL_TRAINING:,.0f} samples/s: {'met' if tr['new'] >= GOAL_TRAINING else 'not met'})")
    print(f"t2 inference (legacy): {fmt(inf['legacy'])} objects/s -- model.predict, batch {args.predict_batch}")
    print(f"t2 inference (new): {fmt(inf['new'])} objects/s -- stream.predict, XLA serving function, batch {args.predict_batch}")
    print(f"t2 inference ratio new/legacy: {pr['new'] / pr['legacy']:.2f}x "
          f"(goal >= {GOAL_INFERENCE:,.0f} objects/s: {'met' if pr['new'] >= GOAL_INFERENCE else 'not met'}; "
          f"GP stage excluded, see == gp)")
    tc = {k: args.rounds * args.epochs * n / max(cpu[k]["train"], 1e-9) for k in paths}
    ic = {k: args.rounds * n / max(cpu[k]["inf"], 1e-9) for k in paths}
    print(f"per CPU-second (all rounds; less sensitive to other jobs): training legacy {tc['legacy']:,.0f}, "
          f"new {tc['new']:,.0f} samples (ratio {tc['new'] / tc['legacy']:.2f}x); inference legacy {ic['legacy']:,.0f}, "
          f"new {ic['new']:,.0f} objects (ratio {ic['new'] / ic['legacy']:.2f}x)")
    print(f"max |p_new - p_legacy| on the same weights: {diff_init:.1e} (initial), {diff_trained:.1e} (trained)")
    if max(diff_init, diff_trained) > 1e-5:
        print("ERROR: the two inference paths disagree by more than 1e-5", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
