"""The SDSS stamps as one HDF5 file (``stamps.h5``), written object by object and read lazily.

Memory stays bounded by one HDF5 chunk of stamps (plus the object being written) when writing and
by one block of rows when reading, whatever the number of objects (issue 11): at paper scale the
~4 x 10^6 stamps of 32 x 32 float32 are ~17 GB.

Layout (version 1), the flat arrays of :mod:`transientrepro.sdss.ingest`:

- ``images`` float32 (N_img, S, S), chunked along stamps (``CHUNK_STAMPS`` per chunk);
- ``obj_index`` int32 (N_img,), ``mjd`` float64 (N_img,), ``band`` int8 (N_img,) in 1..5 (u..z);
- ``offsets`` int64 (n_obj + 1,): object j's stamps are ``images[offsets[j]:offsets[j+1]]``;
- ``cid`` int64 (n_obj,);
- root attributes ``store_version``, ``stamp_size``, ``n_objects``, ``n_images``.

Readers (:func:`load_stamps`) get the one-dimensional arrays in memory (~21 bytes per stamp) and
``images`` as a :class:`~transientrepro.gp_store.LazyRows`, which reads only the rows it is indexed
with. The file is written under a temporary name and renamed at the end (a failed write leaves
nothing), without timestamps (``track_times=False``), so identical input gives a byte-identical
file. Needs numpy and h5py only.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..gp_store import H5Arrays, LazyRows


class StampStoreError(ValueError):
    """A stamp store is inconsistent, unreadable or written wrongly; the message names the file."""


STORE_VERSION = 1
CHUNK_STAMPS = 256  # HDF5 chunk of images along stamps (256 x 32 x 32 float32 = 1 MB)
ARRAYS = ("images", "obj_index", "mjd", "band", "offsets", "cid")
DTYPES = {"images": np.float32, "obj_index": np.int32, "mjd": np.float64, "band": np.int8,
          "offsets": np.int64, "cid": np.int64}


class StampWriter:
    """Appends one object's stamps at a time to an open store (see :func:`stamp_writer`).

    Holds at most one chunk of images (``chunk_stamps``) besides the caller's object, and the
    one-dimensional arrays (mjd, band, counts) of what was appended.
    """

    def __init__(self, h5, path: Path, cid: np.ndarray, stamp_size: int | None, chunk_stamps: int):
        self._h5, self.path = h5, path
        self.cid = np.asarray(cid, dtype=np.int64)
        self.stamp_size = None if stamp_size is None else int(stamp_size)
        self.chunk_stamps = int(chunk_stamps)
        self._images = None  # the HDF5 dataset, created at the first object (its stamp size)
        self._buf: np.ndarray | None = None
        self._n_buf = 0
        self._n_written = 0
        self._mjd: list[np.ndarray] = []
        self._band: list[np.ndarray] = []
        self._counts: list[int] = []

    @property
    def n_objects(self) -> int:
        return len(self._counts)

    @property
    def n_images(self) -> int:
        return self._n_written + self._n_buf

    def append(self, images: np.ndarray, mjd: np.ndarray, band: np.ndarray) -> None:
        """Add the next object's stamps (in catalog order: object ``n_objects`` of ``cid``)."""
        j = self.n_objects
        if j >= len(self.cid):
            raise StampStoreError(f"{self.path}: more objects appended than the {len(self.cid)} CIDs given")
        where = f"{self.path}: object {j} (CID {int(self.cid[j])})"
        images = np.asarray(images)
        mjd, band = np.asarray(mjd, dtype=np.float64), np.asarray(band)
        if images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise StampStoreError(f"{where}: images must be (n, S, S), got shape {images.shape}")
        if len(images) == 0:
            raise StampStoreError(f"{where}: no stamp (every object needs at least one)")
        if len(mjd) != len(images) or len(band) != len(images):
            raise StampStoreError(f"{where}: {len(images)} images but {len(mjd)} mjd and {len(band)} band values")
        bad = np.flatnonzero((band < 1) | (band > 5))
        if bad.size:
            raise StampStoreError(f"{where}: band id {int(band[bad[0]])} at stamp {int(bad[0])} outside 1..5 (u..z)")
        if self.stamp_size is None:
            self.stamp_size = int(images.shape[1])
        if images.shape[1] != self.stamp_size:
            raise StampStoreError(f"{where}: stamp size {images.shape[1]}, the store's is {self.stamp_size}")
        if self._images is None:
            s = self.stamp_size
            # track_times=False: no timestamps, so the same input gives a byte-identical file
            self._images = self._h5.create_dataset("images", shape=(0, s, s), maxshape=(None, s, s), dtype=np.float32,
                                                   chunks=(self.chunk_stamps, s, s), track_times=False)
            self._buf = np.empty((self.chunk_stamps, s, s), dtype=np.float32)
        i = 0
        while i < len(images):  # fill the buffer; write it out as one whole chunk when full
            k = min(len(images) - i, self.chunk_stamps - self._n_buf)
            self._buf[self._n_buf:self._n_buf + k] = images[i:i + k]
            self._n_buf += k
            i += k
            if self._n_buf == self.chunk_stamps:
                self._flush()
        self._mjd.append(mjd)
        self._band.append(band.astype(np.int8))
        self._counts.append(len(images))

    def _flush(self) -> None:
        if not self._n_buf:
            return
        a, b = self._n_written, self._n_written + self._n_buf
        self._images.resize(b, axis=0)
        self._images[a:b] = self._buf[:self._n_buf]
        self._n_written, self._n_buf = b, 0

    def finish(self) -> dict[str, Any]:
        """Write the rest and the one-dimensional arrays; returns ``offsets`` and counts."""
        if self.n_objects != len(self.cid):
            raise StampStoreError(f"{self.path}: {self.n_objects} objects appended, {len(self.cid)} CIDs given")
        if self._images is None:
            raise StampStoreError(f"{self.path}: no object (a stamp store needs at least one)")
        self._flush()
        counts = np.asarray(self._counts, dtype=np.int64)
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(counts)
        small = {"obj_index": np.repeat(np.arange(len(counts), dtype=np.int32), counts),
                 "mjd": np.concatenate(self._mjd), "band": np.concatenate(self._band),
                 "offsets": offsets, "cid": self.cid}
        for k, v in small.items():
            self._h5.create_dataset(k, data=np.asarray(v, dtype=DTYPES[k]), track_times=False)
        for k, v in (("store_version", STORE_VERSION), ("stamp_size", self.stamp_size),
                     ("n_objects", len(counts)), ("n_images", int(offsets[-1]))):
            self._h5.attrs[k] = np.int64(v)
        return {"offsets": offsets, "counts": counts, "n_images": int(offsets[-1]), "stamp_size": self.stamp_size}


@contextlib.contextmanager
def stamp_writer(path: str | os.PathLike, cid, stamp_size: int | None = None,
                 chunk_stamps: int = CHUNK_STAMPS) -> Iterator[StampWriter]:
    """A :class:`StampWriter` for ``path``, one object of ``cid`` (in order) per ``append``.

    The file is written under a temporary name in the same directory and renamed onto ``path``
    when the block ends without error (after :meth:`StampWriter.finish`, called here); on an error
    the temporary file is removed and ``path`` is left as it was.
    """
    import h5py

    from ..io import atomic_path

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            w = StampWriter(h5, Path(path), cid, stamp_size, chunk_stamps)
            yield w
            w.finish()


def save_stamps(path: str | os.PathLike, stamps: Mapping[str, Any], chunk_stamps: int = CHUNK_STAMPS) -> None:
    """Write flat in-memory stamp arrays (``images, mjd, band, offsets, cid``) as a store, object by
    object (tests, synthetic data; the ingest streams its objects through :func:`stamp_writer`)."""
    missing = [k for k in ("images", "mjd", "band", "offsets", "cid") if k not in stamps]
    if missing:
        raise StampStoreError(f"{path}: missing array(s) {missing}")
    off = np.asarray(stamps["offsets"], dtype=np.int64)
    if len(off) != len(stamps["cid"]) + 1:
        raise StampStoreError(f"{path}: {len(off)} offsets for {len(stamps['cid'])} CIDs")
    with stamp_writer(path, stamps["cid"], chunk_stamps=chunk_stamps) as w:
        for j in range(len(off) - 1):
            a, b = int(off[j]), int(off[j + 1])
            w.append(np.asarray(stamps["images"][a:b], dtype=np.float32), np.asarray(stamps["mjd"])[a:b],
                     np.asarray(stamps["band"])[a:b])


class StampStore(H5Arrays):
    """The arrays of a ``stamps.h5`` as a read-only mapping: ``images`` as :class:`LazyRows`, the
    one-dimensional arrays in memory. ``attrs`` holds the root attributes. Use :func:`load_stamps`,
    which also checks the invariants."""

    def __init__(self, path: str | os.PathLike):
        import h5py

        self.path = Path(path)
        if not self.path.exists():
            raise StampStoreError(f"{self.path}: stamp store not found")
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as e:
            raise StampStoreError(f"{self.path}: not a readable HDF5 stamp store ({e})") from None
        self.attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._h5.attrs.items()}
        version = self.attrs.get("store_version")
        if version != STORE_VERSION:
            self.close()
            raise StampStoreError(f"{self.path}: stamp store version {version!r}, expected {STORE_VERSION}")
        self._arrays: dict[str, Any] = {}
        self._load_datasets()

    @property
    def images_mb(self) -> float:
        """Size of ``images`` in MB (uncompressed; what reading all of it would hold)."""
        return self._arrays["images"].nbytes / 2**20 if "images" in self._arrays else 0.0



def check_stamps(stamps: Mapping[str, Any], source: str | os.PathLike) -> None:
    """The invariants of the flat layout; raises :class:`StampStoreError` naming ``source`` and the
    first violation (does not read ``images``, only its shape)."""
    missing = [k for k in ARRAYS if k not in stamps]
    if missing:
        raise StampStoreError(f"{source}: missing array(s) {missing}")
    shape = tuple(stamps["images"].shape)
    if len(shape) != 3 or shape[1] != shape[2]:
        raise StampStoreError(f"{source}: images must be (n, S, S), got shape {shape}")
    n = shape[0]
    off, cid = np.asarray(stamps["offsets"]), np.asarray(stamps["cid"])
    if len(off) != len(cid) + 1 or len(off) < 2 or off[0] != 0 or off[-1] != n or np.any(np.diff(off) < 1):
        bad = np.flatnonzero(np.diff(off) < 1) if len(off) > 1 else np.array([], int)
        what = f", object {int(bad[0])} (CID {int(cid[bad[0]])}) has no stamp" if bad.size and bad[0] < len(cid) else ""
        raise StampStoreError(f"{source}: inconsistent offsets (len {len(off)} for {len(cid)} objects, first "
                              f"{off[:3].tolist()}, last {int(off[-1]) if len(off) else None}, n_images {n}){what}")
    for k in ("obj_index", "mjd", "band"):
        if len(stamps[k]) != n:
            raise StampStoreError(f"{source}: {k!r} has {len(stamps[k])} rows, images {n}")
    band = np.asarray(stamps["band"])
    bad = np.flatnonzero((band < 1) | (band > 5))
    if bad.size:
        raise StampStoreError(f"{source}: band id {int(band[bad[0]])} at stamp row {int(bad[0])} outside 1..5 (u..z)")
    expect = np.repeat(np.arange(len(cid)), np.diff(off))
    bad = np.flatnonzero(np.asarray(stamps["obj_index"]) != expect)
    if bad.size:
        r = int(bad[0])
        raise StampStoreError(f"{source}: obj_index {int(stamps['obj_index'][r])} at stamp row {r}, offsets put it "
                              f"in object {int(expect[r])}")


def load_stamps(path: str | os.PathLike) -> StampStore:
    """Open ``stamps.h5`` and check its invariants (offsets, band ids, obj_index, shapes): the
    one-dimensional arrays in memory, ``images`` lazy (read only where indexed)."""
    store = StampStore(path)
    try:
        check_stamps(store, store.path)
        s = store.attrs.get("stamp_size")
        if s is not None and store["images"].shape[1] != s:
            raise StampStoreError(f"{store.path}: images of size {store['images'].shape[1]}, attribute stamp_size {s}")
    except StampStoreError:
        store.close()
        raise
    return store


def load_stamp_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of a stamp store in memory (small files: notebooks, tests)."""
    with load_stamps(path) as st:
        return {k: np.asarray(v) for k, v in st.items()}
