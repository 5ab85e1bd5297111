"""The fused attention kernel of t2: build, load and call the TensorFlow custom op in ``kernels/``.

t2 at Table 2's size has 16 heads of width 2, so stock TensorFlow's ``softmax(Q K^T) V`` is three
memory-bound ops over a (B, 16, 102, 102) tensor. ``kernels/attention_math.cc`` computes it one
(object, head) pair at a time in L1, forward and backward (the attention weights recomputed from each
row's log-sum-exp, never stored); ``kernels/attention_op.cc`` wraps it as the ops ``T2Attention`` and
``T2AttentionGrad``. Same function, same float32 arithmetic up to rounding: outputs agree with the
TensorFlow ops to ~1e-6 (``tests/test_t2_fused.py``).

The library is compiled on first use with the C++ compiler of the environment (``$CXX``, else ``g++``
or ``c++``) against the installed TensorFlow's headers, into a cache directory
(``$TRANSIENTREPRO_CACHE``, else ``~/.cache/transientrepro``) under a name keyed by the sources, the
flags, the TensorFlow version and the machine architecture; concurrent jobs wait on a file lock and
the finished library is renamed into place, so nobody loads a half-written file. The math is compiled
once per x86-64 level (v4: AVX-512, v3: AVX2, and baseline) and the op picks the best the CPU has, so
a library built on a login node also runs on older compute nodes. ``make setup`` builds it
(``python -m transientrepro.t2.fused --build``).

Config ``t2.attention_kernel``: ``auto`` (the fused op when it builds and no GPU is visible, else
TensorFlow's ops, with a warning in the log when the build failed), ``fused`` (an error if it cannot be
built) or ``tf`` (TensorFlow's ops). The op has CPU kernels only: on a GPU node ``auto`` keeps
TensorFlow's ops, which run on the device.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from .params import KERNEL_CHOICES

log = logging.getLogger(__name__)

KERNELS = ("attention_math.h", "attention_math.cc", "attention_op.cc")
#: (namespace, flags) per compiled copy of the math; the op chooses among them at run time.
ISA_COPIES_X86 = (("base", []), ("v3", ["-march=x86-64-v3"]), ("v4", ["-march=x86-64-v4"]))
MATH_FLAGS = ["-std=c++17", "-O3", "-fPIC", "-fopenmp-simd", "-fno-trapping-math"]
OP_FLAGS = ["-std=c++17", "-O2", "-fPIC", "-w"]


class FusedKernelError(RuntimeError):
    """The fused attention op could not be built or loaded (the message says why)."""


_lock = threading.Lock()
_state: dict[str, Any] = {"lib": None, "error": None, "tried": False}


def cache_dir() -> Path:
    """Where built libraries live: ``$TRANSIENTREPRO_CACHE/ops`` or ``~/.cache/transientrepro/ops``."""
    root = os.environ.get("TRANSIENTREPRO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "transientrepro")
    return Path(root) / "ops"


def _compiler() -> list[str]:
    cxx = os.environ.get("CXX")
    if cxx:
        return shlex.split(cxx)
    for name in ("g++", "c++", "clang++"):
        path = shutil.which(name)
        if path:
            return [path]
    raise FusedKernelError("no C++ compiler found (set $CXX, or install g++: apt-get install g++, "
                           "or conda install -c conda-forge cxx-compiler)")


def _sources() -> dict[str, bytes]:
    root = resources.files("transientrepro.t2").joinpath("kernels")
    return {name: root.joinpath(name).read_bytes() for name in KERNELS}


def _copies() -> tuple[tuple[str, list[str]], ...]:
    return ISA_COPIES_X86 if platform.machine().lower() in ("x86_64", "amd64") else (("base", []),)


def library_path() -> Path:
    """The cache path of the library for these sources, flags, TensorFlow and architecture."""
    import tensorflow as tf

    h = hashlib.sha256()
    for name, data in sorted(_sources().items()):
        h.update(name.encode() + b"\0" + data)
    h.update(repr((MATH_FLAGS, OP_FLAGS, _copies(), tf.__version__, tf.sysconfig.get_compile_flags(),
                   platform.machine(), sys.version_info[:2])).encode())
    return cache_dir() / f"t2_attention-tf{tf.__version__}-{platform.machine()}-{h.hexdigest()[:16]}.so"


def _run(cmd: list[str], cwd: str) -> None:
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except OSError as e:  # $CXX names a missing or non-executable file
        raise FusedKernelError(f"cannot run the C++ compiler {cmd[0]!r} ($CXX or PATH): {e}") from None
    if res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-15:])
        raise FusedKernelError(f"compiling the fused attention op failed: {' '.join(cmd[:3])} ... "
                               f"(exit {res.returncode}):\n{tail}")


def build(dest: Path | None = None, force: bool = False) -> Path:
    """Compile the op library to ``dest`` (default :func:`library_path`) unless it exists; return its path.

    The compile runs in a temporary directory; the result is renamed into place under a file lock, so
    concurrent builders (several Snakemake jobs) neither collide nor load a partial file.
    """
    import tensorflow as tf

    dest = Path(dest) if dest is not None else library_path()
    if dest.exists() and not force:
        return dest
    cxx = _compiler()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / (dest.name + ".lock"), "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        try:
            if dest.exists() and not force:
                return dest
            with tempfile.TemporaryDirectory(prefix="t2_attention_") as tmp:
                for name, data in _sources().items():
                    Path(tmp, name).write_bytes(data)
                objects = []
                for ns, flags in _copies():
                    obj = f"math_{ns}.o"
                    _run([*cxx, *MATH_FLAGS, *flags, f"-DT2_ISA_NS={ns}", "-c", "attention_math.cc", "-o", obj], tmp)
                    objects.append(obj)
                _run([*cxx, *OP_FLAGS, *tf.sysconfig.get_compile_flags(), "-c", "attention_op.cc", "-o", "op.o"], tmp)
                _run([*cxx, "-shared", "-o", "lib.so", "op.o", *objects, *tf.sysconfig.get_link_flags()], tmp)
                fd, part = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
                os.close(fd)
                shutil.copyfile(Path(tmp, "lib.so"), part)
                os.replace(part, dest)
        finally:
            fcntl.flock(lockf, fcntl.LOCK_UN)
    log.info("built the fused attention op: %s", dest)
    return dest


def library():
    """The loaded op module (built first if needed); raises :class:`FusedKernelError` with the reason."""
    with _lock:
        if not _state["tried"]:
            _state["tried"] = True
            try:
                import tensorflow as tf

                lib = tf.load_op_library(str(build()))
                _register_gradient(lib)
                _state["lib"] = lib
            except FusedKernelError as e:
                _state["error"] = str(e)
            except Exception as e:  # noqa: BLE001 - a broken toolchain must not stop training
                _state["error"] = f"loading the fused attention op failed: {type(e).__name__}: {e}"
        if _state["lib"] is None:
            raise FusedKernelError(_state["error"])
        return _state["lib"]


def available() -> bool:
    """Whether the fused op builds and loads here (the reason otherwise: :func:`unavailable_reason`)."""
    try:
        library()
        return True
    except FusedKernelError:
        return False


def unavailable_reason() -> str | None:
    return None if available() else _state["error"]


def isa() -> str:
    """The instruction set of the compiled copy the op uses on this CPU (x86-64-v4, x86-64-v3 or base)."""
    return library().t2_attention_isa().numpy().decode()


def _register_gradient(lib) -> None:
    import tensorflow as tf

    @tf.RegisterGradient("T2Attention")
    def _grad(op, dout, dlse):  # lse is internal: attention() returns out only, so dlse is never used
        q, k, v = op.inputs
        return lib.t2_attention_grad(q, k, v, op.outputs[0], op.outputs[1], dout)


def attention(q, k, v):
    """``softmax(q k^T) v`` per object and head for q (already scaled by 1/sqrt(d_head)), k, v of shape
    (B, L, h, d_head) float32; returns (B, L, h, d_head). Differentiable (``T2AttentionGrad``)."""
    out, _ = library().t2_attention(q, k, v)
    return out


def resolve(kind: str) -> str:
    """``t2.attention_kernel`` -> the kernel to use: ``fused`` or ``tf``. ``auto`` falls back to ``tf``
    with a warning naming the reason; ``fused`` raises :class:`FusedKernelError` instead."""
    if kind not in KERNEL_CHOICES:
        raise ValueError(f"t2.attention_kernel must be one of {KERNEL_CHOICES}, got {kind!r}")
    if kind == "tf":
        return "tf"
    if kind == "auto" and _gpu_visible():
        return "tf"  # the op has CPU kernels only; on a GPU TensorFlow's ops stay on the device
    try:
        library()
        return "fused"
    except FusedKernelError as e:
        if kind == "fused":
            raise FusedKernelError(f"t2.attention_kernel is 'fused' but {e}") from None
        log.warning("fused attention op unavailable, using TensorFlow's ops (same results to ~1e-6, slower): %s", e)
        return "tf"


def _gpu_visible() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m transientrepro.t2.fused", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", action="store_true", help="compile the op now (make setup does this)")
    ap.add_argument("--force", action="store_true", help="recompile even if the cached library exists")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = build(force=args.force) if (args.build or args.force) else library_path()
        print(f"library: {path} ({'present' if path.exists() else 'not built'})")
        if path.exists():
            print(f"instruction set in use: {isa()}")
    except FusedKernelError as e:
        print(f"fused attention op unavailable: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
