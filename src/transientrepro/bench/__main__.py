"""Speed benchmarks: prints figures, asserts nothing (``make bench``).

Each sub-benchmark runs in its own process so TensorFlow and PyTorch never share one:
  transientrepro.bench.gp          GP interpolation: george vs the batched engine, objects per CPU-second
  transientrepro.bench.t2          t2 training samples/s and inference objects/s (TensorFlow/Keras):
                                   today's path and the one before issue 12, same run, and their ratio
  transientrepro.bench.convention  ConvEntion training/inference sequences/s (PyTorch)
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time

BENCHES = ["transientrepro.bench.gp", "transientrepro.bench.t2", "transientrepro.bench.convention"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m transientrepro.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=[b.rsplit(".", 1)[1] for b in BENCHES], action="append",
                    help="run only this benchmark (repeatable)")
    args = ap.parse_args(argv)
    rc = 0
    for mod in BENCHES:
        short = mod.rsplit(".", 1)[1]
        if args.only and short not in args.only:
            continue
        if importlib.util.find_spec(mod) is None:
            print(f"== {short}: module missing", flush=True)
            rc = 1
            continue
        print(f"== {short}", flush=True)
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", mod])
        print(f"== {short}: exit {res.returncode}, {time.perf_counter() - t0:.1f} s wall", flush=True)
        rc = rc or res.returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
