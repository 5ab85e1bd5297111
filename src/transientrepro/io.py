"""Small I/O helpers shared by every stage: atomic writes so a failed step never leaves a
half-written output behind, JSON with numpy types, and logging setup."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file keeps the final suffix(es) so libraries that dispatch on the extension
    (pandas, numpy, astropy, keras) behave as for the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem.split('.')[0]}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            if tmp_path.is_dir():
                import shutil

                shutil.rmtree(tmp_path, ignore_errors=True)
            else:
                tmp_path.unlink()


class _NumpyEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:  # noqa: D102
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.bool_):
            return bool(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        return super().default(o)


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON atomically (numpy scalars/arrays allowed)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, cls=_NumpyEncoder, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def save_npz(path: str | os.PathLike, **arrays: Any) -> None:
    """``np.savez_compressed`` atomically. Object arrays are refused (no pickles between stages)."""
    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise TypeError(f"save_npz: array {k!r} has dtype=object; store strings as fixed-width 'U' arrays")
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def write_parquet(df, path: str | os.PathLike, **kwargs: Any) -> None:
    """``DataFrame.to_parquet`` atomically."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, **kwargs)


def write_csv(df, path: str | os.PathLike, **kwargs: Any) -> None:
    """``DataFrame.to_csv`` (no index) atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, **kwargs)


def setup_logging(log_file: str | os.PathLike | None = None, level: int = logging.INFO) -> logging.Logger:
    """Log to stderr and, if given, to ``log_file`` (the rule's ``log:``)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    return logging.getLogger("transientrepro")
