"""Benchmark t2 at Table 2's size: training samples/s and inference objects/s of today's path and of
the path before issue 12 ("previous"), measured in the same run, in alternating rounds, from the same
starting weights, so that their ratio is not blurred by other load on the machine.

    python -m transientrepro.bench.t2                       # Table 2 model, 2,000 synthetic objects
    python -m transientrepro.bench.t2 -n 4000 --batch-size 256 --threads 2
    python -m transientrepro.bench.t2 --gp results/plasticc/gp/gp.h5   # real GP arrays

new      -- the fused attention op (``t2.attention_kernel: auto``: C++ in ``t2/kernels``, or
            TensorFlow's ops with a warning where the op cannot be built),
            ``model.fit`` on the in-memory arrays; inference through
            :func:`transientrepro.t2.stream.predict` (a serving function traced once, 1,024 objects
            per call).
previous -- TensorFlow's all-heads attention (``attention_kernel: tf``), no XLA, and
            ``model.predict(batch_size=1024)``: the path before issue 12.

Each round runs each path in a fresh process (no state shared between the paths): one warm-up epoch (tracing, compilation), then the timed epochs, then timed inference over
every object. Training uses the embedded recipe's loss and optimiser (``batch_flat``, Adam with
clipnorm 1.0, batch 64, deterministic ops). The GP stage is not part of the inference figure
(``== gp`` times it). The two paths' predictions are compared on the same weights (initial and
trained) at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Issue 12's goals on 2 cores.
GOAL_INFERENCE = 5000.0
GOAL_TRAINING = 1500.0
#: path -> t2.attention_kernel ("auto": the fused op where it builds; the output says which ran)
PATHS = {"previous": "tf", "new": "auto"}


def _data(args):
    """(T2Data, inputs, one-hot y, L, M, n_aux) of the benchmark, synthetic or from ``--gp``."""
    import numpy as np

    from ..t2.data import T2Data, make_synthetic_gp
    from ..t2.params import class_codes_and_names
    from ..t2.scaling import apply_scaling, fit_scaling

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
    y = np.eye(len(codes), dtype=np.float32)[y_idx]
    return data, y, X.shape[1], X.shape[2], len(codes)


def _model(args, L, M, C, n_aux, impl=None):
    import keras

    from ..t2.model import build_t2, compile_t2
    from ..t2.params import table2_hyperparameters

    hp = table2_hyperparameters()
    keras.utils.set_random_seed(args.seed)  # the same initial weights for both paths
    model = build_t2(L, M, C, hp, n_aux=n_aux, positional_encoding="vaswani", aux_layout="interleaved")
    if impl:
        from ..t2.layers import TransformerBlock

        for layer in model.layers:
            if isinstance(layer, TransformerBlock):
                layer.attention.impl = impl
    return compile_t2(model, hp["learning_rate"], loss=args.loss, clipnorm=args.clipnorm), hp


def worker(args) -> int:
    """One path in this process: print one JSON line of timings; save predictions and weights."""
    import numpy as np

    from ..t2.training import configure_tensorflow

    used = configure_tensorflow(args.seed, args.threads, deterministic=True, attention_kernel=PATHS[args.worker])
    from ..t2.stream import predict

    data, y, L, M, C = _data(args)
    model, hp = _model(args, L, M, C, data.aux.shape[1])
    inputs, n = data.inputs(), len(data)
    infer = ((lambda: predict(model, data, args.predict_batch, legacy=True)) if args.worker == "previous"
             else (lambda: predict(model, data, args.predict_batch)))
    t0 = time.perf_counter()
    p0 = infer()  # also traces/compiles the inference function
    model.fit(inputs, y, epochs=1, batch_size=args.batch_size, shuffle=True, verbose=0)  # warm-up: tracing
    warm = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(inputs, y, epochs=args.epochs, batch_size=args.batch_size, shuffle=True, verbose=0)
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    infer()
    inf_wall, inf_cpu = time.perf_counter() - t0, time.process_time() - c0
    out = Path(args.out)
    np.save(out / f"p0_{args.worker}.npy", p0)
    model.save_weights(out / f"trained_{args.worker}.weights.h5")
    print(json.dumps({"path": args.worker, "kernel": used, "n": n, "epochs": args.epochs, "warmup_s": warm,
                      "train_wall": train_wall, "train_cpu": train_cpu, "inf_wall": inf_wall, "inf_cpu": inf_cpu,
                      "L": L, "M": M, "C": C, "hp": hp}), flush=True)
    return 0


def compare_trained(args, out: Path) -> float:
    """Both inference paths on the new path's trained weights, in this process (no XLA)."""
    import warnings

    import numpy as np

    from ..t2.stream import predict

    data, _, L, M, C = _data(args)
    models = {}
    for path, impl in (("previous", "tf"), ("new", None)):  # None: t2.attention_kernel auto
        models[path], _ = _model(args, L, M, C, data.aux.shape[1], impl=impl)
        with warnings.catch_warnings():  # the saved optimiser state is not needed for inference
            warnings.simplefilter("ignore")
            models[path].load_weights(out / "trained_new.weights.h5")
    p_prev = predict(models["previous"], data, args.predict_batch, legacy=True)
    p_new = predict(models["new"], data, args.predict_batch, jit_compile=False)
    return float(np.abs(p_new - p_prev).max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m transientrepro.bench.t2", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="objects (synthetic unless --gp)")
    ap.add_argument("--gp", help="gp.h5 (or .npz) to take the first N objects from")
    ap.add_argument("--batch-size", type=int, default=64, help="training batch (config t2.batch_size)")
    ap.add_argument("--predict-batch", type=int, default=1024, help="objects per inference call")
    ap.add_argument("--epochs", type=int, default=1, help="timed training epochs per path and round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (previous, new, new, previous, ...)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--loss", default="batch_flat", choices=["batch_flat", "class_weighted", "unweighted"])
    ap.add_argument("--clipnorm", type=float, default=1.0)
    ap.add_argument("--variant", choices=["t2", "t2_noz"], default="t2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", choices=list(PATHS), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if min(args.n, args.batch_size, args.predict_batch, args.epochs, args.rounds, args.threads) < 1:
        ap.error("-n, --batch-size, --predict-batch, --epochs, --rounds and --threads must be >= 1")
    if args.worker:
        return worker(args)

    import numpy as np

    own = list(argv if argv is not None else sys.argv[1:])
    runs: dict[str, list[dict]] = {p: [] for p in PATHS}
    with tempfile.TemporaryDirectory(prefix="bench_t2_") as tmp:
        for r in range(args.rounds):
            for path in (["previous", "new"] if r % 2 == 0 else ["new", "previous"]):
                res = subprocess.run([sys.executable, "-m", "transientrepro.bench.t2", *own, "--worker", path,
                                      "--out", tmp], capture_output=True, text=True)
                lines = [l for l in res.stdout.splitlines() if l.startswith("{")]
                if res.returncode != 0 or not lines:
                    print(f"ERROR: the {path} path failed (exit {res.returncode}):\n{res.stderr[-3000:]}", file=sys.stderr)
                    return 1
                rec = json.loads(lines[-1])
                runs[path].append(rec)
                print(f"round {r + 1} {path}: kernel {rec['kernel']}, training {rec['n'] * rec['epochs'] / rec['train_wall']:,.0f} "
                      f"samples/s, inference {rec['n'] / rec['inf_wall']:,.0f} objects/s "
                      f"(warm-up incl. tracing {rec['warmup_s']:.1f} s)", flush=True)
        if runs["new"][0]["kernel"] != "fused":
            print("WARNING: the fused attention op is unavailable here; 'new' ran TensorFlow's ops", flush=True)
        diff_init = float(np.abs(np.load(Path(tmp) / "p0_new.npy") - np.load(Path(tmp) / "p0_previous.npy")).max())
        diff_trained = compare_trained(args, Path(tmp))
    rec = runs["new"][0]
    n = rec["n"]
    train = {p: [n * x["epochs"] / x["train_wall"] for x in v] for p, v in runs.items()}
    inf = {p: [n / x["inf_wall"] for x in v] for p, v in runs.items()}
    tc = {p: sum(n * x["epochs"] for x in v) / sum(x["train_cpu"] for x in v) for p, v in runs.items()}
    ic = {p: len(v) * n / sum(x["inf_cpu"] for x in v) for p, v in runs.items()}

    def fmt(v):
        return f"{np.median(v):,.0f} (rounds: {', '.join(f'{x:,.0f}' for x in v)})"

    tr = {k: float(np.median(v)) for k, v in train.items()}
    pr = {k: float(np.median(v)) for k, v in inf.items()}
    print(f"t2 ({args.variant}) L={rec['L']} M={rec['M']} C={rec['C']} Table 2 {rec['hp']}; {n} objects, loss {args.loss}, "
          f"clipnorm {args.clipnorm}, deterministic ops, {args.threads} threads, {args.rounds} rounds")
    print(f"t2 training (previous): {fmt(train['previous'])} samples/s -- TensorFlow attention, batch {args.batch_size}")
    print(f"t2 training (new): {fmt(train['new'])} samples/s -- fused attention op, batch {args.batch_size}")
    print(f"t2 training ratio new/previous: {tr['new'] / tr['previous']:.2f}x "
          f"(goal >= {GOAL_TRAINING:,.0f} samples/s: {'met' if tr['new'] >= GOAL_TRAINING else 'not met'})")
    print(f"t2 inference (previous): {fmt(inf['previous'])} objects/s -- model.predict, batch {args.predict_batch}")
    print(f"t2 inference (new): {fmt(inf['new'])} objects/s -- stream.predict, fused attention op, batch {args.predict_batch}")
    print(f"t2 inference ratio new/previous: {pr['new'] / pr['previous']:.2f}x "
          f"(goal >= {GOAL_INFERENCE:,.0f} objects/s: {'met' if pr['new'] >= GOAL_INFERENCE else 'not met'}; "
          f"GP stage excluded, see == gp)")
    print(f"per CPU-second (all rounds; less sensitive to other jobs): training previous {tc['previous']:,.0f}, "
          f"new {tc['new']:,.0f} samples (ratio {tc['new'] / tc['previous']:.2f}x); inference previous {ic['previous']:,.0f}, "
          f"new {ic['new']:,.0f} objects (ratio {ic['new'] / ic['previous']:.2f}x)")
    print(f"max |p_new - p_previous| on the same weights: {diff_init:.1e} (initial), {diff_trained:.1e} (trained)")
    if max(diff_init, diff_trained) > 1e-5:
        print("ERROR: the two inference paths disagree by more than 1e-5", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
