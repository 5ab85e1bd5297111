"""Access to the published numbers in ``data/paper_numbers.yaml`` (one file, each entry cited)."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


@lru_cache(maxsize=1)
def paper_numbers() -> dict[str, Any]:
    """The whole paper-numbers file as a dict (keys ``t2`` and ``convention``)."""
    text = resources.files("transientrepro").joinpath("data/paper_numbers.yaml").read_text()
    return yaml.safe_load(text)
