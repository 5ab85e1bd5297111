"""PLAsTiCC data: class catalogue, embedded simulator, loaders, ingest, summaries, reference features."""
from transientrepro.plasticc.classes import (  # noqa: F401
    CLASS_CODES,
    CLASS_NAMES,
    GALACTIC_CODES,
    N_CLASSES,
    N_PASSBANDS,
    PASSBAND_WAVELENGTHS,
    PASSBANDS,
    class_names_ordered,
    code_to_index,
    index_to_code,
)
