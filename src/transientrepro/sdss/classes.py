"""Class vocabulary of the SDSS-II SN survey data and its mapping to ConvEntion's classes.

The SDSS-II SN survey master table (Sako et al. 2018, ``master_data.txt``) types every candidate
with a ``Classification`` string. ConvEntion (Bairouk et al. 2023, Table 1) groups them into seven
classes. Mapping used here (and by the downloader, ``transientrepro.download``):

==============================  ===============  ==============  =====================================
Classification (master table)   label            spec_confirmed  meaning
==============================  ===============  ==============  =====================================
``SNIa``, ``SNIa?``             ``SNIa``         True            spectroscopically confirmed SN Ia
``SNII``, ``SNIb``, ``SNIc``,   ``SNOther``      True            spectroscopically confirmed non-Ia
``SNIbc``, ``SLSN``                                              (ConvEntion adds the 3 SLSN here)
``pSNIa``, ``zSNIa``            ``SNIa_PT``      False           photometrically typed Ia (``z``: with
                                                                 host spec-z, ``p``: purely photometric)
``pSNII``, ``zSNII``,           ``SNOther_PT``   False           photometrically typed non-Ia
``pSNIbc``, ``zSNIbc``
``AGN``                         ``AGN``          True            AGN with a spectral signature
``Variable``                    ``Variable``     False           variable over >1 season (light-curve
                                                                 typed, not a photometric SN type)
``Unknown``                     ``Unknown``      False           too sparse / noisy to classify
==============================  ===============  ==============  =====================================

``spec_confirmed`` records whether the type comes from a spectrum. The training protocol
(ConvEntion §4.1, Table 5; :mod:`transientrepro.sdss.partition`) puts the photometrically typed
SNe (``*_PT``) in ``Train`` only, and spreads AGN and Variable over all three partitions.
"""
from __future__ import annotations

# ConvEntion Table 1 order.
LABELS: tuple[str, ...] = ("AGN", "SNIa", "SNOther", "Unknown", "Variable", "SNOther_PT", "SNIa_PT")

#: Labels whose type comes from a spectrum.
SPEC_CONFIRMED_LABELS = frozenset({"AGN", "SNIa", "SNOther"})

CLASSIFICATION_TO_LABEL: dict[str, str] = {
    "SNIa": "SNIa",
    "SNIa?": "SNIa",
    "SNII": "SNOther",
    "SNIb": "SNOther",
    "SNIc": "SNOther",
    "SNIbc": "SNOther",
    "SLSN": "SNOther",
    "pSNIa": "SNIa_PT",
    "zSNIa": "SNIa_PT",
    "pSNII": "SNOther_PT",
    "zSNII": "SNOther_PT",
    "pSNIbc": "SNOther_PT",
    "zSNIbc": "SNOther_PT",
    "AGN": "AGN",
    "Variable": "Variable",
    "Unknown": "Unknown",
}

#: Photometrically typed label -> the 4-class training label (ConvEntion Table 5).
LABEL4: dict[str, str | None] = {
    "AGN": "AGN",
    "SNIa": "SNIa",
    "SNIa_PT": "SNIa",
    "SNOther": "SNOther",
    "SNOther_PT": "SNOther",
    "Variable": "Variable",
    "Unknown": None,  # excluded from the study (§4.1)
}
CLASSES4: tuple[str, ...] = ("AGN", "SNIa", "SNOther", "Variable")
CLASSES3: tuple[str, ...] = ("AGN", "SN", "Variable")
LABEL3_OF_LABEL4: dict[str, str] = {"AGN": "AGN", "SNIa": "SN", "SNOther": "SN", "Variable": "Variable"}

#: SDSS filters; band ids 1..5 (0 is never used: ConvEntion §3.1 assigns id in {1,...,5}).
BANDS: tuple[str, ...] = ("u", "g", "r", "i", "z")
BAND_ID: dict[str, int] = {b: i + 1 for i, b in enumerate(BANDS)}
#: Effective wavelengths (Angstrom) of the SDSS u g r i z filters: Fukugita et al. (1996), AJ 111, 1748,
#: Table 2a, lambda_eff of u' g' r' i' z' (1.2 airmasses). Used by the 2-D GP of t2 on the SDSS light
#: curves (:mod:`transientrepro.t2.sdss_gp`), as PLAsTiCC's LSST values are for t2 on PLAsTiCC.
BAND_WAVELENGTHS: dict[str, float] = {"u": 3557.0, "g": 4825.0, "r": 6261.0, "i": 7672.0, "z": 9097.0}


class UnknownClassificationError(ValueError):
    """A catalog ``Classification`` string that is not in :data:`CLASSIFICATION_TO_LABEL`."""


def label_of(classification: str, *, where: str = "") -> str:
    """ConvEntion label of a master-table ``Classification`` string (raises on unknown strings)."""
    try:
        return CLASSIFICATION_TO_LABEL[str(classification).strip()]
    except KeyError:
        raise UnknownClassificationError(
            f"{where}unknown Classification {classification!r}; expected one of "
            f"{sorted(CLASSIFICATION_TO_LABEL)}"
        ) from None


def is_spec_confirmed(label: str) -> bool:
    return label in SPEC_CONFIRMED_LABELS
