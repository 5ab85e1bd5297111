"""The gathered GP arrays as one HDF5 file (``gp.h5``), written chunk by chunk and read lazily.

Memory stays bounded by one GP chunk when writing and by one block of rows when reading, whatever
the number of objects (issue 11): at PLAsTiCC's 3.5 M objects ``X`` alone is ~8.4 GB of float32.

Layout (version 1): one dataset per array of the chunk ``.npz`` files -- ``X`` (N, L, M) float32,
chunked along objects, and the per-object arrays (``transientrepro.gp.PER_OBJECT_KEYS``), all sorted
by ``object_id``. Run-level ``attr_*`` values are HDF5 attributes of the root group. Readers get
the per-object arrays in memory and ``X`` as a :class:`LazyRows`, a read-only numpy-like view that
reads only the rows it is indexed with, block by block.

A module of its own, outside ``transientrepro.gp``: reading a store needs numpy and h5py only, not the
GP stage's george or torch (t2's TensorFlow env reads it).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np



class GPStoreError(ValueError):
    """A GP chunk or store is inconsistent or unreadable; the message names the file."""


STORE_VERSION = 1
BLOCK_ROWS = 4096  # rows per read when a LazyRows is indexed (4096 x 100 x 6 float32 = 9.8 MB)
CHUNK_ROWS = 256  # HDF5 chunk of X along objects


def _attr_value(v: np.ndarray) -> Any:
    a = np.asarray(v)
    if a.dtype.kind == "U":
        return str(a)
    return a


def read_chunk_ids(path) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    """``(object_id, attr_* values, array names)`` of a GP chunk ``.npz``, reading no other array."""
    with np.load(path, allow_pickle=False) as f:
        if "object_id" not in f.files:
            raise GPStoreError(f"gather: {path} lacks array 'object_id'")
        attrs = {k: f[k] for k in f.files if k.startswith("attr_")}
        return np.asarray(f["object_id"], dtype=np.int64), attrs, list(f.files)


def _runs(pos: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, stop) index pairs into ``pos`` (increasing) of its contiguous runs."""
    if not len(pos):
        return
    breaks = np.flatnonzero(np.diff(pos) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(pos)]])
    yield from zip(starts.tolist(), stops.tolist())


def write_store(npz_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike,
                keys: Sequence[str] = ("object_id", "X"), finite: Sequence[str] = ()) -> dict[str, Any]:
    """Gather the GP chunk ``.npz`` files into ``out_path`` (HDF5), sorted by ``object_id``, atomically.

    Two passes: the first reads only ``object_id`` and the ``attr_*`` of every chunk (to check them
    and fix the global order); the second loads one chunk at a time and writes its rows in place.
    ``keys``: the arrays every chunk must have (all of them, plus any ``attr_*``, are written).
    ``finite``: arrays that must hold finite values only, checked here, where each chunk is in memory
    anyway, so that readers of the store need not scan it again (the error names chunk and object).
    Returns the run-level attrs and the one-dimensional per-object arrays (small), for the summary.
    """
    import h5py

    from .io import atomic_path

    npz_paths = [Path(p) for p in npz_paths]
    if not npz_paths:
        raise GPStoreError("gather: no GP chunks given")
    ids, attrs, files = zip(*(read_chunk_ids(p) for p in npz_paths))
    ref_attrs = attrs[0]
    for i, a in enumerate(attrs[1:], 1):
        for k, v in ref_attrs.items():
            if k not in a or not np.array_equal(a[k], v):
                raise GPStoreError(f"gather: chunk {i} ({npz_paths[i]}) has a different {k!r} than chunk 0 (mixed GP settings)")
    for i, fl in enumerate(files):
        missing = [k for k in keys if k not in fl]
        if missing:
            raise GPStoreError(f"gather: chunk {i} ({npz_paths[i]}) lacks array(s) {missing}")
    all_ids = np.sort(np.concatenate(ids))
    dup = np.flatnonzero(np.diff(all_ids) == 0)
    if dup.size:
        raise GPStoreError(f"gather: object_id {int(all_ids[dup[0]])} appears in more than one chunk")
    n = len(all_ids)
    small: dict[str, np.ndarray] = {}
    with atomic_path(out_path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["store_version"] = STORE_VERSION
            for k, v in ref_attrs.items():
                h5.attrs[k] = _attr_value(v)
            dsets: dict[str, Any] = {}
            for i, p in enumerate(npz_paths):
                with np.load(p, allow_pickle=False) as f:
                    part = {k: f[k] for k in keys}
                order = np.argsort(part["object_id"].astype(np.int64), kind="stable")
                pos = np.searchsorted(all_ids, part["object_id"].astype(np.int64)[order])
                for k in finite:
                    bad = ~np.isfinite(part[k]).all(axis=tuple(range(1, part[k].ndim)))
                    if bad.any():
                        j = int(np.flatnonzero(bad)[0])
                        raise GPStoreError(f"gather: chunk {i} ({p}): non-finite {k} for {int(bad.sum())} object(s), "
                                           f"first object_id {int(part['object_id'][j])}")
                for k, v in part.items():
                    if len(v) != len(order):
                        raise GPStoreError(f"gather: chunk {i} ({p}): {k!r} has {len(v)} rows, object_id {len(order)}")
                    if k not in dsets:
                        kw = {"chunks": (max(1, min(CHUNK_ROWS, n)),) + v.shape[1:]} if k == "X" and n else {}
                        # track_times=False: no timestamps, so the same chunks give a byte-identical file
                        dsets[k] = h5.create_dataset(k, shape=(n,) + v.shape[1:], dtype=v.dtype, track_times=False, **kw)
                    elif dsets[k].shape[1:] != v.shape[1:] or dsets[k].dtype != v.dtype:
                        raise GPStoreError(f"gather: chunk {i} ({p}): {k!r} has shape {v.shape[1:]} / {v.dtype}, "
                                           f"chunk 0 has {dsets[k].shape[1:]} / {dsets[k].dtype}")
                    v = v[order]
                    for a, b in _runs(pos):
                        dsets[k][int(pos[a]):int(pos[b - 1]) + 1] = v[a:b]
                del part
            for k in keys:
                if dsets[k].ndim == 1:  # the per-object scalars only (not X, not the (N, L) t_grid)
                    small[k] = dsets[k][...]
    return {**{k: np.asarray(v) for k, v in ref_attrs.items()}, **small}


class LazyRows:
    """Read-only numpy-like view of the rows of an HDF5 dataset (or of an array), read block by block.

    Indexing with an int, a slice, a boolean mask over rows or an integer index array returns a numpy
    array holding only those rows, in the order asked for. ``np.asarray(lazy)`` reads everything.
    """

    def __init__(self, dataset, rows: np.ndarray | None = None, block_rows: int = BLOCK_ROWS):
        self._ds = dataset
        self._rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self.block_rows = int(block_rows)

    @property
    def shape(self) -> tuple[int, ...]:
        n = self._ds.shape[0] if self._rows is None else len(self._rows)
        return (n,) + tuple(self._ds.shape[1:])

    @property
    def dtype(self):
        return self._ds.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def _index(self, key) -> np.ndarray:
        n = len(self)
        if isinstance(key, (int, np.integer)):
            return np.array([int(key) % n if n else int(key)])
        if isinstance(key, slice):
            return np.arange(n)[key]
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (n,):
                raise IndexError(f"boolean index of shape {key.shape} for {n} rows")
            return np.flatnonzero(key)
        if key.dtype.kind not in "iu":
            raise IndexError(f"LazyRows: unsupported index {key.dtype}")
        key = key.astype(np.int64)
        if key.size and (key.min() < -n or key.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        return np.where(key < 0, key + n, key)

    def read(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (positions in this view) as an array, reading contiguous blocks of the file."""
        src = idx if self._rows is None else self._rows[idx]
        out = np.empty((len(src),) + tuple(self._ds.shape[1:]), dtype=self.dtype)
        if not len(src):
            return out
        order = np.argsort(src, kind="stable")
        s = src[order]
        i = 0
        while i < len(s):  # one read per block of file rows [s[i], s[i] + block_rows)
            lo = int(s[i])
            j = int(np.searchsorted(s, lo + self.block_rows, side="left"))
            blk = self._ds[lo:int(s[j - 1]) + 1]
            out[order[i:j]] = blk[s[i:j] - lo]
            i = j
        return out

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, tuple):
            first, rest = key[0], key[1:]
            return self[first][(slice(None),) + rest] if not isinstance(first, (int, np.integer)) else self[first][rest]
        if isinstance(key, (int, np.integer)):
            return self.read(self._index(key))[0]
        if isinstance(key, slice) and self._rows is None:
            start, stop, step = key.indices(len(self))
            if step == 1:
                return self._ds[start:stop] if stop > start else self.read(np.arange(0))
        return self.read(self._index(key))

    def subset(self, idx) -> "LazyRows":
        """A lazy view of rows ``idx`` of this view (nothing is read)."""
        idx = self._index(idx)
        return LazyRows(self._ds, idx if self._rows is None else self._rows[idx], self.block_rows)

    def __array__(self, dtype=None, copy=None):
        a = self.read(np.arange(len(self)))
        return a if dtype is None else a.astype(dtype)

    def __repr__(self) -> str:
        return f"LazyRows(shape={self.shape}, dtype={self.dtype})"


class H5Arrays(Mapping):
    """A read-only mapping over an open HDF5 file's datasets (``self._h5``): arrays of more than one
    dimension as :class:`LazyRows`, one-dimensional ones read into memory. Shared by the GP store and
    the SDSS stamp store (:mod:`transientrepro.sdss.stamp_store`)."""

    _h5: Any
    _arrays: dict[str, Any]

    def _load_datasets(self) -> None:
        for k, ds in self._h5.items():
            self._arrays[k] = LazyRows(ds) if ds.ndim > 1 else ds[...]

    def __getitem__(self, key):
        return self._arrays[key]

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def close(self) -> None:
        self._h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class GPStore(H5Arrays):
    """The arrays of a ``gp.h5`` as a read-only mapping: per-object arrays and ``attr_*`` values in
    memory, ``X`` (and any other array with more than one axis) as :class:`LazyRows`."""

    def __init__(self, path: str | os.PathLike):
        import h5py

        self.path = Path(path)
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as e:
            raise GPStoreError(f"{self.path}: not a readable HDF5 GP store ({e})") from None
        version = self._h5.attrs.get("store_version")
        if version != STORE_VERSION:
            raise GPStoreError(f"{self.path}: GP store version {version!r}, expected {STORE_VERSION}")
        self._arrays: dict[str, Any] = {}
        for k, v in self._h5.attrs.items():
            if k.startswith("attr_"):
                self._arrays[k] = np.asarray(v) if not isinstance(v, bytes) else np.asarray(v.decode())
        self._load_datasets()


def open_gp_arrays(path: str | os.PathLike) -> Mapping[str, Any]:
    """GP arrays of ``path``: a :class:`GPStore` for ``.h5`` (lazy ``X``), a dict for ``.npz``."""
    from .io import load_npz

    path = Path(path)
    if not path.exists():
        raise GPStoreError(f"{path}: GP file not found")
    if path.suffix in (".h5", ".hdf5"):
        return GPStore(path)
    return load_npz(path)


def load_gp_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of a GP file (``.h5`` or ``.npz``) in memory (small files: notebooks, tests)."""
    return {k: (np.asarray(v) if isinstance(v, LazyRows) else v) for k, v in open_gp_arrays(path).items()}
