"""The batched engine (``gp.engine: batched``): george's fit, for many objects at once.

Same model, data, start, bounds, optimiser and stopping rule as :mod:`.george_engine` (see the
package docstring); only the arithmetic is organised differently:

    K = A F(b) + D,   F_ij = (1 + u_ij) exp(-u_ij),   u_ij**2 = 3 dt_ij**2 exp(-b) + 3 (dwl_ij / wl_scale)**2

with A the kernel's zero-lag variance, b = log t_scale**2 and D = flux_err**2 + 1.25e-12 (george's
default white noise). The negative log-likelihood ``0.5 y'K^-1 y + 0.5 log|K| + 0.5 n log 2 pi`` and
its analytic gradient, with s = 1.5 exp(-b) dt**2,

    dNLL/dlogA = 0.5 (tr(K^-1 (K - D)) - alpha'(K - D) alpha),   alpha = K^-1 y
    dNLL/db    = 0.5 (tr(K^-1 Kb) - alpha' Kb alpha),            Kb = A s exp(-u)  (finite at u = 0)

need one float64 Cholesky factorisation and its inverse per evaluation (Kb has a zero diagonal; every
trace is a sum over one triangle).

Why the optimiser is george's own L-BFGS-B.  These likelihoods are often multimodal in the time
scale (a short scale fitting the transient, a long one the baseline, or a bound): a Newton/Fisher
optimiser from george's start reached a different local optimum than george for ~7 % of simulated
objects at 120 points, better or worse, so it could give neither "never worse than george" nor
"the same means for 99 % of objects".  Here every object runs scipy's L-BFGS-B (the reverse-
communication ``setulb`` behind ``scipy.optimize.minimize``, with minimize's defaults) in george's
parameters from george's bit-identical start, and all requests for (f, g) of a round are evaluated
together; fed the same f and g to ~1e-12, each object retraces george's path, so the two engines
agree to rounding (tested).  The speed comes from the evaluation: padded batches of similar-size
objects (padded rows: K = identity, y = 0, so they add nothing to y'K^-1 y, log|K|, the traces or
the prediction); on the CPU every symmetric matrix as its lower triangle in LAPACK's rectangular full
packed format (half the exp/sqrt work) with in-place pftrf/pftrs/pftri; on a GPU batched cuSOLVER
through torch; and no per-object george overhead (george evaluates a (n, n, 3) kernel-gradient
tensor and inverts K through cho_solve(I) at every call).  What remains per evaluation is ~n**3 flops
of LAPACK, which at these sizes runs at ~10-15 GFLOP/s on one core: ~3-4x george per CPU core.

Failures follow the george engine: unusable input or a non-finite initial likelihood -> excluded
(:class:`GPFitFailure`); L-BFGS-B not converged -> ``success = False`` with the initial
hyperparameters (``fallback_initial_params`` in the failures table).

Backends (``gp.device``): ``cpu`` numpy + scipy LAPACK (no torch needed); ``cuda`` torch on a CUDA
GPU; ``auto`` = cuda when torch sees one, else cpu; ``torch-cpu`` the torch code on the CPU (tests).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .config import DEVICES, GPConfig, GPFitFailure, GPInputError

TINY = 1.25e-12  # george's default white noise (george.gp.TINY), added to every flux_err**2
PAD_DT2 = 1e200  # squared time lag between a padded row and anything: exp(-u) == 0 exactly
LOG2 = math.log(2.0)  # george stores log(A / 2) for a constant kernel with ndim=2 (package docstring)

# matrix elements (objects x n x n) per batch: CPU batches stay in cache, GPU batches fill the device
CPU_BATCH_ELEMENTS = 1 << 17
GPU_BATCH_ELEMENTS = 1 << 26


@dataclass
class BatchedFit:
    """Fitted hyperparameters of one object (``amp`` is the true zero-lag variance, as george's ``GPFit``)."""

    amp: float
    t_scale: float
    log_likelihood: float
    success: bool
    message: str
    n_obs: int
    n_evaluations: int


@dataclass
class PreparedObject:
    """One object's fit inputs after validation and the ``max_points`` cap (``george_engine.prepare_object``)."""

    mjd: np.ndarray
    wl: np.ndarray  # effective wavelength of each observation's passband
    flux: np.ndarray
    flux_err: np.ndarray
    amp0: float


# ----------------------------------------------------------------------------------------------------
# backends: the same arithmetic on numpy arrays (CPU) or torch tensors (CUDA, or CPU for tests)


class _NumpyBackend:
    """CPU: each symmetric matrix as its lower triangle in LAPACK's rectangular full packed (RFP)
    format, a plain (n (n + 1) / 2,) vector: the elementwise work is halved and pftrf/pftrs/pftri
    factor, solve and invert in place, without copies."""

    name = "cpu"
    xp = np
    predict_elements = 1 << 16  # cross-covariance slices that stay in cache

    def __init__(self):
        from scipy.linalg import lapack

        self._lapack = lapack
        self._layouts: dict[int, tuple] = {}

    def single_thread(self):
        return contextlib.nullcontext()  # the caller limits BLAS (gp.single_threaded_blas)

    def _layout(self, nt: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(n, I, J, diagonal positions, their rows) of the RFP map for n x n matrices (LAPACK's own
        map, via dtrttf), by packed length n (n + 1) / 2."""
        if nt not in self._layouts:
            n = int(round((math.sqrt(8 * nt + 1) - 1) / 2))
            code = np.arange(n * n, dtype=np.float64).reshape(n, n)
            pos = self._lapack.dtrttf(code, transr="N", uplo="L")[0].astype(np.int64)
            I, J = pos // n, pos % n
            diag = np.flatnonzero(I == J)
            self._layouts[nt] = (n, I, J, diag, I[diag])
        return self._layouts[nt]

    def pairs(self, full: np.ndarray) -> np.ndarray:
        """(B, n, n) symmetric -> (B, n (n + 1) / 2) packed."""
        n = full.shape[-1]
        _, I, J, _, _ = self._layout(n * (n + 1) // 2)
        return np.ascontiguousarray(full[:, I, J])

    def asarray(self, a):
        return np.ascontiguousarray(a, dtype=np.float64)

    def numpy(self, a) -> np.ndarray:
        return np.asarray(a)

    def per_object(self, v: np.ndarray):
        return np.asarray(v, dtype=np.float64)[:, None]

    def empty_like(self, a):
        return np.empty_like(a)

    def gather(self, a, idx, out):
        return np.take(a, idx, axis=0, out=out)

    def add_diag(self, K, d) -> None:
        _, _, _, diag, rows = self._layout(K.shape[-1])
        K[:, diag] += d[:, rows]

    def cholesky_(self, K) -> np.ndarray:
        """K := its Cholesky factor, in place; returns the per-object ok mask (a failed factor is
        replaced by the identity)."""
        n, _, _, diag, _ = self._layout(K.shape[-1])
        ok = np.ones(len(K), dtype=bool)
        for j in range(len(K)):
            _, info = self._lapack.dpftrf(n, K[j], transr="N", uplo="L", overwrite_a=1)
            if info != 0 or not np.all(np.isfinite(K[j, diag])):
                ok[j] = False
                K[j] = 0.0
                K[j, diag] = 1.0
        return ok

    def cho_solve(self, L, y):
        n = self._layout(L.shape[-1])[0]
        out = np.empty_like(y)
        for j in range(len(L)):
            out[j] = self._lapack.dpftrs(n, L[j], y[j], transr="N", uplo="L")[0]
        return out

    def logdiag_sum(self, L):
        return np.log(L[:, self._layout(L.shape[-1])[3]]).sum(axis=1)

    def cho_inverse_(self, L):
        """K^-1 from its Cholesky factor, in the factor's place."""
        n = self._layout(L.shape[-1])[0]
        for j in range(len(L)):
            self._lapack.dpftri(n, L[j], transr="N", uplo="L", overwrite_a=1)
        return L

    def diag_dot(self, S, v):
        """sum_i S_ii v_i."""
        _, _, _, diag, rows = self._layout(S.shape[-1])
        return (S[:, diag] * v[:, rows]).sum(axis=1)

    def sym_inner(self, S, T):
        """sum_ij S_ij T_ij = tr(S T) for symmetric S, T."""
        diag = self._layout(S.shape[-1])[3]
        return 2.0 * np.einsum("bp,bp->b", S, T) - np.einsum("bp,bp->b", S[:, diag], T[:, diag])

    def quad(self, S, a):
        """a' S a for symmetric S (unpacked to its lower triangle, the rest zero: one gemv)."""
        n, _, _, diag, rows = self._layout(S.shape[-1])
        out = np.empty(len(S))
        for j in range(len(S)):
            low = self._lapack.dtfttr(n, S[j], transr="N", uplo="L")[0]
            out[j] = 2.0 * (a[j] @ (low @ a[j]))
        return out - (S[:, diag] * a[:, rows] ** 2).sum(axis=1)


class _TorchBackend:
    """GPU (or CPU for tests): dense (B, n, n) matrices, batched cuSOLVER/LAPACK through torch."""

    def __init__(self, device: str):
        import torch

        self.torch = self.xp = torch
        self.device = torch.device(device)
        self.name = "cuda" if self.device.type == "cuda" else "torch-cpu"
        self.predict_elements = 1 << 28 if self.device.type == "cuda" else 1 << 16

    @contextlib.contextmanager
    def single_thread(self):
        """On the CPU, one torch thread as the stage's one-core jobs (restored afterwards)."""
        if self.device.type != "cpu":
            yield
            return
        before = self.torch.get_num_threads()
        self.torch.set_num_threads(1)
        try:
            yield
        finally:
            self.torch.set_num_threads(before)

    def pairs(self, full):
        return full

    def asarray(self, a):
        return self.torch.as_tensor(np.asarray(a, dtype=np.float64), device=self.device)

    def numpy(self, a) -> np.ndarray:
        return a.detach().cpu().numpy()

    def per_object(self, v: np.ndarray):
        return self.asarray(v)[:, None, None]

    def empty_like(self, a):
        return self.torch.empty_like(a)

    def gather(self, a, idx, out):
        return self.torch.index_select(a, 0, self.torch.as_tensor(idx, device=self.device), out=out)

    def add_diag(self, K, d) -> None:
        self.torch.diagonal(K, dim1=-2, dim2=-1).add_(d)

    def cholesky_(self, K) -> np.ndarray:
        L, info = self.torch.linalg.cholesky_ex(K)
        bad = (info != 0) | ~self.torch.isfinite(self.torch.diagonal(L, dim1=-2, dim2=-1)).all(dim=1)
        if bool(bad.any()):
            L = self.torch.where(bad[:, None, None], self.torch.eye(K.shape[-1], dtype=K.dtype, device=K.device), L)
        K.copy_(L)
        return ~self.numpy(bad)

    def cho_solve(self, L, y):
        return self.torch.cholesky_solve(y[..., None], L)[..., 0]

    def logdiag_sum(self, L):
        return self.torch.log(self.torch.diagonal(L, dim1=-2, dim2=-1)).sum(dim=1)

    def cho_inverse_(self, L):
        return self.torch.cholesky_inverse(L)

    def diag_dot(self, S, v):
        return (self.torch.diagonal(S, dim1=-2, dim2=-1) * v).sum(dim=1)

    def sym_inner(self, S, T):
        return self.torch.einsum("bij,bij->b", S, T)

    def quad(self, S, a):
        return (a * (S @ a[..., None])[..., 0]).sum(dim=1)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch is installed and sees a GPU, else ``cpu``."""
    if device not in DEVICES:
        raise GPInputError(f"config gp.device must be one of {DEVICES}, got {device!r}")
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def get_backend(device: str):
    device = resolve_device(device)
    if device == "cpu":
        return _NumpyBackend()
    try:
        import torch
    except ImportError as exc:
        raise GPInputError(f"gp.device {device!r} needs torch (pip install torch)") from exc
    if device == "cuda" and not torch.cuda.is_available():
        raise GPInputError("gp.device is 'cuda' but torch sees no CUDA device")
    return _TorchBackend("cuda" if device == "cuda" else "cpu")


# ----------------------------------------------------------------------------------------------------
# one padded batch of objects on the backend


class _Batch:
    """Padded arrays and work buffers of a batch of objects; likelihood, gradient and prediction.

    ``value`` and ``gradient`` work in place in the batch's buffers: the work returned by ``value``
    is valid until its next call, and ``gradient`` consumes it."""

    def __init__(self, objs: Sequence[PreparedObject], cfg: GPConfig, be):
        self.be = be
        xp = be.xp
        B = len(objs)
        n = max(len(o.mjd) for o in objs)
        self.n_obs = np.array([len(o.mjd) for o in objs])
        t, wl, y = np.zeros((B, n)), np.zeros((B, n)), np.zeros((B, n))
        d = np.ones((B, n))  # padded rows: unit diagonal, y = 0
        mask = np.zeros((B, n))
        for j, o in enumerate(objs):
            k = len(o.mjd)
            t[j, :k] = o.mjd - o.mjd[0]
            wl[j, :k] = o.wl
            y[j, :k] = o.flux
            d[j, :k] = o.flux_err ** 2 + TINY
            mask[j, :k] = 1.0
        self.t, self.wl = t, wl
        tt, ww, mm = be.asarray(t), be.asarray(wl), be.asarray(mask)
        pair = (mm[:, :, None] * mm[:, None, :]) > 0
        self.dt2 = be.pairs(xp.where(pair, (tt[:, :, None] - tt[:, None, :]) ** 2, PAD_DT2))
        self.cw = be.pairs(((ww[:, :, None] - ww[:, None, :]) * (math.sqrt(3.0) / cfg.wavelength_scale)) ** 2)
        self.y, self.d = be.asarray(y), be.asarray(d)
        self.n_pad = n
        self.U, self.E, self.K = (be.empty_like(self.dt2) for _ in range(3))

    def value(self, theta: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, dict]:
        """NLL at ``theta`` (m, 2) = (log A, b) for the objects ``idx`` of the batch, and the work for
        :meth:`gradient` (an infinite NLL where the Cholesky factorisation failed)."""
        be, xp = self.be, self.be.xp
        m = len(idx)
        U, E, K = self.U[:m], self.E[:m], self.K[:m]
        eb3, A = be.per_object(3.0 * np.exp(-theta[:, 1])), be.per_object(np.exp(theta[:, 0]))
        if m == len(self.n_obs):
            y, d = self.y, self.d
            xp.multiply(self.dt2, eb3, out=U)
            xp.add(U, self.cw, out=U)
        else:
            y, d = self.y[idx], self.d[idx]
            xp.multiply(be.gather(self.dt2, idx, out=K), eb3, out=U)  # K is free until below
            xp.add(U, be.gather(self.cw, idx, out=E), out=U)
        xp.sqrt(U, out=U)  # u
        xp.negative(U, out=E)
        xp.exp(E, out=E)  # exp(-u)
        xp.add(U, 1.0, out=K)
        xp.multiply(K, E, out=K)
        xp.multiply(K, A, out=K)
        be.add_diag(K, d)
        ok = be.cholesky_(K)  # K holds L from here
        alpha = be.cho_solve(K, y)
        quad = be.numpy((y * alpha).sum(axis=1))
        logdet = 2.0 * be.numpy(be.logdiag_sum(K))
        nll = 0.5 * quad + 0.5 * logdet + 0.5 * self.n_obs[idx] * math.log(2 * math.pi)
        nll = np.where(ok & np.isfinite(nll), nll, np.inf)
        return nll, {"A": A, "eb3": eb3, "idx": idx, "L": K, "E": E, "alpha": alpha, "y": y, "d": d, "ok": ok}

    def gradient(self, work: dict) -> np.ndarray:
        """Analytic gradient (m, 2) of the NLL in (log A, b) at the points of ``work`` (consumes it)."""
        be, xp = self.be, self.be.xp
        A, eb3, idx, L, E, alpha, y, d = (work[k] for k in ("A", "eb3", "idx", "L", "E", "alpha", "y", "d"))
        m = len(idx)
        Kinv = be.cho_inverse_(L)
        Kb = self.U[:m]  # u is no longer needed
        xp.multiply(self.dt2 if m == len(self.n_obs) else be.gather(self.dt2, idx, out=Kb), E, out=Kb)
        xp.multiply(Kb, 0.5 * eb3 * A, out=Kb)  # dK/db = A s exp(-u), s = 1.5 exp(-b) dt**2
        tr_Ka = self.n_pad - be.diag_dot(Kinv, d)  # tr(K^-1 (K - D)); padded rows give 1 - 1 = 0
        tr_Kb = be.sym_inner(Kinv, Kb)
        aKa = (alpha * (y - d * alpha)).sum(axis=1)  # alpha'(K - D) alpha
        aKb = be.quad(Kb, alpha)
        tr_Ka, tr_Kb, aKa, aKb = (be.numpy(v) for v in (tr_Ka, tr_Kb, aKa, aKb))
        return np.stack([0.5 * (tr_Ka - aKa), 0.5 * (tr_Kb - aKb)], axis=1)

    def predict(self, theta: np.ndarray, alpha, grids: Sequence[np.ndarray], mjd0: np.ndarray, cfg: GPConfig,
                idx: np.ndarray) -> np.ndarray:
        """Posterior means (m, L, P) on each object's grid times x the passband wavelengths: the
        cross-covariance (dense on every backend) times alpha, in slices of ``be.predict_elements``."""
        be, xp = self.be, self.be.xp
        wl = np.asarray(cfg.passband_wavelengths, dtype=np.float64)
        P, Lg, n = len(wl), len(grids[0]), self.n_pad
        tg = np.stack([g - m0 for g, m0 in zip(grids, mjd0)])  # (m, L), relative to each object's first epoch
        step = max(1, be.predict_elements // (Lg * P * n))
        out = np.empty((len(idx), Lg, P))
        for s0 in range(0, len(idx), step):
            sl = slice(s0, s0 + step)
            j = idx[sl]
            t, w = be.asarray(self.t[j]), be.asarray(self.wl[j])
            u = (be.asarray(tg[sl])[:, :, None] - t[:, None, :]) ** 2  # (m, L, n)
            u *= be.asarray(3.0 * np.exp(-theta[sl, 1]))[:, None, None]
            cwg = ((be.asarray(wl)[None, :, None] - w[:, None, :]) * (math.sqrt(3.0) / cfg.wavelength_scale)) ** 2
            u = u[:, :, None, :] + cwg[:, None, :, :]  # (m, L, P, n)
            xp.sqrt(u, out=u)
            Ks = xp.negative(u)
            xp.exp(Ks, out=Ks)
            u += 1.0
            Ks *= u
            mean = (Ks.reshape(len(j), Lg * P, n) @ alpha[sl][:, :, None])[..., 0]  # padded rows: alpha == 0
            out[sl] = be.numpy(mean).reshape(len(j), Lg, P) * np.exp(theta[sl, 0])[:, None, None]
        return out


# ----------------------------------------------------------------------------------------------------
# george's optimiser, one state per object, driven in lockstep


class _LbfgsbState:
    """One object's L-BFGS-B: scipy's reverse-communication ``setulb`` (the code behind
    ``scipy.optimize.minimize(method="L-BFGS-B")``) with minimize's defaults and loop."""

    M, FTOL, PGTOL, MAXLS, MAXITER, MAXFUN = 10, 2.2204460492503131e-09, 1e-5, 20, 15000, 15000

    def __init__(self, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray):
        from scipy.optimize import _lbfgsb

        self._setulb = _lbfgsb.setulb
        n, m = len(x0), self.M
        self.lo, self.hi = np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64)
        self.x = np.clip(np.array(x0, dtype=np.float64), self.lo, self.hi)
        self.nbd = np.full(n, 2, dtype=np.int32)  # lower and upper bounds
        self.f = np.array(0.0)
        self.g = np.zeros(n)
        self.wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m)
        self.iwa = np.zeros(3 * n, dtype=np.int32)
        self.task = np.zeros(2, dtype=np.int32)
        self.ln_task = np.zeros(2, dtype=np.int32)
        self.lsave = np.zeros(4, dtype=np.int32)
        self.isave = np.zeros(44, dtype=np.int32)
        self.dsave = np.zeros(29)
        self.factr = self.FTOL / np.finfo(float).eps
        self.nit = self.nfev = 0

    def advance(self) -> bool:
        """Run until L-BFGS-B asks for f and g at ``x`` (True) or stops (False)."""
        while True:
            self._setulb(self.M, self.x, self.lo, self.hi, self.nbd, self.f, self.g, self.factr, self.PGTOL,
                         self.wa, self.iwa, self.task, self.lsave, self.isave, self.dsave, self.MAXLS, self.ln_task)
            if self.task[0] == 3:  # FG
                return True
            if self.task[0] != 1:  # converged, or stopped
                return False
            self.nit += 1  # NEW_X, counted and capped as scipy's loop does
            if self.nit >= self.MAXITER:
                self.task[:] = (5, 504)
            elif self.nfev > self.MAXFUN:
                self.task[:] = (5, 502)

    @property
    def converged(self) -> bool:
        return int(self.task[0]) == 4

    def message(self) -> str:
        from scipy.optimize._lbfgsb_py import status_messages, task_messages

        return f"{status_messages[int(self.task[0])]}: {task_messages[int(self.task[1])]}"


def george_parameters(objs: Sequence[PreparedObject], cfg: GPConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """george's start and bounds in its parameters p = (log(A / 2), log t_scale**2), with george's
    own expressions (bit for bit), so that L-BFGS-B starts from the same point."""
    lo_t, hi_t = cfg.time_scale_bounds
    p0 = np.array([[np.log(float(o.amp0) / 2), np.log(float(cfg.time_scale_init) ** 2)] for o in objs]).reshape(-1, 2)
    lo = np.stack([p0[:, 0] - cfg.amp_log_bound, np.full(len(p0), 2 * np.log(lo_t))], axis=1)
    hi = np.stack([p0[:, 0] + cfg.amp_log_bound, np.full(len(p0), 2 * np.log(hi_t))], axis=1)
    return p0, lo, hi


def _fit_batch(batch: _Batch, p0: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Every object's L-BFGS-B, all (f, g) requests of a round evaluated together.

    Returns p (m, 2) (the start where not converged), status (0 converged, 1 optimiser failure,
    2 excluded), messages and the number of (f, g) evaluations."""
    m = len(p0)
    shift = np.array([LOG2, 0.0])  # (log A, b) = p + shift
    nll0, work = batch.value(p0 + shift, np.arange(m))
    status = np.zeros(m, dtype=int)
    msg = ["converged"] * m
    for j in np.flatnonzero(~np.isfinite(nll0)):
        status[j] = 2
        msg[j] = ("non_finite_initial_likelihood" if work["ok"][j]
                  else "initial_compute_failed: LinAlgError: Cholesky factorisation failed (not positive definite)")
    states = {int(j): _LbfgsbState(p0[j], lo[j], hi[j]) for j in np.flatnonzero(status == 0)}
    asking = [j for j, st in states.items() if st.advance()]
    while asking:
        x = np.stack([states[j].x for j in asking])
        f, work = batch.value(x + shift, np.array(asking))
        g = batch.gradient(work)
        for r, j in enumerate(asking):
            st = states[j]
            st.nfev += 1
            if np.isfinite(f[r]) and np.all(np.isfinite(g[r])):
                st.f[...] = f[r]
                st.g[:] = g[r]
            else:  # as george's nll_and_grad
                st.f[...] = 1e25
                st.g[:] = 0.0
        asking = [j for j in asking if states[j].advance()]
    p = p0.copy()
    nfev = np.zeros(m, dtype=int)
    for j, st in states.items():
        nfev[j] = st.nfev
        if not st.converged:
            status[j], msg[j] = 1, f"optimiser_not_converged: {st.message()}"
        elif not (np.all(np.isfinite(st.x)) and np.isfinite(st.f) and st.f < 1e25):
            status[j], msg[j] = 1, "non_finite_optimum"
        else:
            p[j] = st.x
    return p, status, msg, nfev


def fit_and_predict(objs: Sequence[PreparedObject], grids: Sequence[np.ndarray], cfg: GPConfig,
                    device: str = "cpu", batch_elements: int | None = None, progress: bool = False,
                    desc: str = "GP") -> list:
    """Fit every object and predict its mean on its grid (times x ``cfg.passband_wavelengths``).

    Returns, per object in input order, ``(BatchedFit, mean (L, P))`` or the :class:`GPFitFailure`
    that excludes it. Objects are sorted by size and fitted in padded batches of at most
    ``batch_elements`` matrix elements (objects x n x n; default by device)."""
    from tqdm import tqdm

    be = get_backend(device)
    if batch_elements is None:
        batch_elements = GPU_BATCH_ELEMENTS if be.name == "cuda" else CPU_BATCH_ELEMENTS
    out: list = [None] * len(objs)
    sizes = np.array([len(o.mjd) for o in objs], dtype=np.int64)
    order = np.argsort(sizes, kind="stable")
    bar = tqdm(total=len(objs), desc=f"{desc} ({be.name})", mininterval=5.0, disable=not progress)
    with be.single_thread():
        start = 0
        while start < len(order):
            stop = start + 1  # grow while the padded batch stays within the element budget
            while stop < len(order) and (stop + 1 - start) * int(sizes[order[stop]]) ** 2 <= batch_elements:
                stop += 1
            sel = order[start:stop]
            _run_batch([objs[i] for i in sel], [grids[i] for i in sel], cfg, be, sel, out)
            bar.update(len(sel))
            start = stop
    bar.close()
    return out


def _run_batch(objs, grids, cfg, be, positions, out) -> None:
    batch = _Batch(objs, cfg, be)
    p0, lo, hi = george_parameters(objs, cfg)
    p, status, msg, nfev = _fit_batch(batch, p0, lo, hi)
    theta = p + np.array([LOG2, 0.0])
    for j in np.flatnonzero(status == 2):
        out[positions[j]] = GPFitFailure(msg[j])
    idx = np.flatnonzero(status != 2)
    if not len(idx):
        return
    nll, work = batch.value(theta[idx], idx)  # as george's final compute, at the optimum or the start
    mean = batch.predict(theta[idx], work["alpha"], [grids[j] for j in idx],
                         np.array([objs[j].mjd[0] for j in idx]), cfg, idx)
    for r, j in enumerate(idx):
        if not np.isfinite(nll[r]):  # pragma: no cover - the start was finite
            out[positions[j]] = GPFitFailure("non_finite_likelihood_after_fit")
            continue
        fit = BatchedFit(amp=float(np.exp(theta[j, 0])), t_scale=float(np.exp(0.5 * theta[j, 1])),
                         log_likelihood=float(-nll[r]), success=bool(status[j] == 0), message=msg[j],
                         n_obs=int(batch.n_obs[j]), n_evaluations=int(nfev[j]))
        out[positions[j]] = (fit, mean[r])
