"""The 14 PLAsTiCC classes of t2 Table 1 and the LSST passbands.

Every stage that needs class codes, names or passband wavelengths imports them from here.
Class order (``CLASS_CODES``) is the ascending PLAsTiCC code, which is also the column order of
every probability matrix in the workflow.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

#: PLAsTiCC code -> name, as in t2 Table 1 (class 99 excluded).
CLASS_NAMES: dict[int, str] = {
    6: "mu-Lens-Single",
    15: "TDE",
    16: "EB",
    42: "SNII",
    52: "SNIax",
    53: "Mira",
    62: "SNIbc",
    64: "KN",
    65: "M-dwarf",
    67: "SNIa-91bg",
    88: "AGN",
    90: "SNIa",
    92: "RRL",
    95: "SLSN-I",
}
#: The 14 codes in ascending order; index in this list = class index used by every model.
CLASS_CODES: list[int] = sorted(CLASS_NAMES)
N_CLASSES: int = len(CLASS_CODES)
#: Galactic classes (z = 0, hostgal_photoz = 0, distmod NaN in PLAsTiCC).
GALACTIC_CODES: frozenset[int] = frozenset({6, 16, 53, 65, 92})
EXTRAGALACTIC_CODES: frozenset[int] = frozenset(CLASS_NAMES) - GALACTIC_CODES

#: LSST passbands in PLAsTiCC order (passband column 0..5).
PASSBANDS: tuple[str, ...] = ("u", "g", "r", "i", "z", "y")
#: Effective wavelengths in Angstrom (the values used by avocado / t2's GP), index = passband.
PASSBAND_WAVELENGTHS: np.ndarray = np.array([3671.0, 4827.0, 6223.0, 7546.0, 8691.0, 9712.0])
N_PASSBANDS: int = len(PASSBANDS)

_CODE_TO_INDEX = {c: i for i, c in enumerate(CLASS_CODES)}


class UnknownClassError(ValueError):
    """A PLAsTiCC code that is not one of the 14 classes of t2 Table 1."""


def code_to_index(codes: int | Iterable[int]) -> int | np.ndarray:
    """PLAsTiCC code(s) -> class index 0..13 (ascending code order). Unknown codes raise."""
    if np.isscalar(codes):
        try:
            return _CODE_TO_INDEX[int(codes)]
        except KeyError:
            raise UnknownClassError(f"unknown PLAsTiCC class code {codes!r}; known: {CLASS_CODES}") from None
    arr = np.asarray(list(codes) if not isinstance(codes, np.ndarray) else codes).astype(np.int64)
    out = np.full(arr.shape, -1, dtype=np.int64)
    for c, i in _CODE_TO_INDEX.items():
        out[arr == c] = i
    if (out < 0).any():
        bad = sorted(set(arr[out < 0].tolist()))
        raise UnknownClassError(f"unknown PLAsTiCC class code(s) {bad}; known: {CLASS_CODES}")
    return out


def index_to_code(index: int | Iterable[int]) -> int | np.ndarray:
    """Class index 0..13 -> PLAsTiCC code(s)."""
    codes = np.asarray(CLASS_CODES)
    if np.isscalar(index):
        i = int(index)
        if not 0 <= i < N_CLASSES:
            raise UnknownClassError(f"class index {i} outside 0..{N_CLASSES - 1}")
        return int(codes[i])
    idx = np.asarray(list(index) if not isinstance(index, np.ndarray) else index).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= N_CLASSES):
        raise UnknownClassError(f"class indices outside 0..{N_CLASSES - 1}: {sorted(set(idx.tolist()))[:10]}")
    return codes[idx]


def class_names_ordered() -> list[str]:
    """Names in ``CLASS_CODES`` order (labels of confusion matrices, probability columns)."""
    return [CLASS_NAMES[c] for c in CLASS_CODES]


def is_galactic(code: int) -> bool:
    return int(code) in GALACTIC_CODES
