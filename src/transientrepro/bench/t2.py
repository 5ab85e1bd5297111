"""Benchmark t2 training speed: samples/s of Keras ``fit`` (steady state, after the first epoch).

    python -m transientrepro.bench.t2                       # Table 2 model, 2,000 synthetic objects
    python -m transientrepro.bench.t2 -n 4000 --batch-size 256 --threads 2
    python -m transientrepro.bench.t2 --gp results/plasticc/gp/gp.h5   # real GP arrays

Prints the built and §3.7-formula parameter counts, the one-off cost of the first epoch (graph
tracing), steady-state training samples/s and inference samples/s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m transientrepro.bench.t2", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="training objects (synthetic unless --gp)")
    ap.add_argument("--gp", help="gp.h5 (or .npz) to take the first N objects from")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs after the warm-up epoch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variant", choices=["t2", "t2_noz"], default="t2")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import numpy as np

    from ..t2.params import class_codes_and_names, paper_n_params, table2_hyperparameters
    from ..t2.data import make_synthetic_gp
    from ..t2.scaling import apply_scaling, fit_scaling
    from ..t2.training import configure_tensorflow

    configure_tensorflow(args.seed, args.threads, deterministic=False)
    import keras

    from ..t2.model import build_t2, compile_t2

    if args.gp:
        from ..t2.data import load_gp

        gp = load_gp(args.gp)
        gp = {k: v[: args.n] for k, v in gp.items() if k in ("X", "z", "z_err", "target", "object_id")}
    else:
        gp, _ = make_synthetic_gp(n=args.n, seed=args.seed)
    codes, _ = class_codes_and_names()
    code_to_idx = {c: i for i, c in enumerate(codes)}
    X = apply_scaling(gp["X"], fit_scaling(gp["X"], "dataset_band"))
    inputs = {"lightcurve": X}
    n_aux = 0
    if args.variant == "t2":
        inputs["aux"] = np.stack([gp["z"], gp["z_err"]], axis=1).astype("float32")
        n_aux = 2
    y = keras.utils.to_categorical([code_to_idx[int(c)] for c in gp["target"]], len(codes))
    hp = table2_hyperparameters()
    L, M = X.shape[1], X.shape[2]
    model = build_t2(L, M, len(codes), hp, n_aux=n_aux)
    compile_t2(model, hp["learning_rate"])
    print(f"t2 ({args.variant}) L={L} M={M} C={len(codes)} Table 2 {hp}")
    print(f"parameters: built {model.count_params():,}, §3.7 formula {paper_n_params(M, len(codes), hp['d'], hp['h'], hp['d_ff'], hp['N']):,}")
    t0 = time.perf_counter()
    model.fit(inputs, y, epochs=1, batch_size=args.batch_size, verbose=0)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.fit(inputs, y, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    dt = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.predict(inputs, batch_size=1024, verbose=0)
    model.predict(inputs, batch_size=1024, verbose=0)
    dp = (time.perf_counter() - t0) / 2
    n = len(y)
    print(f"first epoch (incl. tracing): {warm:.2f} s for {n} objects")
    print(f"training: {args.epochs * n / dt:,.0f} samples/s (batch {args.batch_size}, {args.threads} threads)")
    print(f"inference: {n / dp:,.0f} samples/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
