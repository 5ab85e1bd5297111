"""What a run ran with: the effective configuration and the software versions (for the HTML report)."""
from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
import yaml

from .io import atomic_path, write_csv

# The pinned stack (requirements.txt); a package missing from the environment is listed as such.
PACKAGES = (
    "transientrepro", "snakemake", "tensorflow-cpu", "tensorflow", "keras", "torch", "george", "numpy", "scipy",
    "pandas", "pyarrow", "astropy", "scikit-learn", "optuna", "matplotlib", "papermill", "ipykernel",
)


def software_versions(packages: Iterable[str] = PACKAGES) -> pd.DataFrame:
    """One row per component: Python, the platform, then each package's installed version (from the
    package metadata, so nothing heavy is imported); ``not installed`` where absent."""
    rows = [dict(component="python", version=platform.python_version(), note=sys.executable),
            dict(component="platform", version=platform.platform(), note=platform.machine())]
    for name in packages:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "not installed"
        rows.append(dict(component=name, version=version, note=""))
    return pd.DataFrame(rows, columns=["component", "version", "note"])


def write_run_info(config: Mapping[str, Any], configfiles: Iterable[str], out_config: str | Path,
                   out_versions: str | Path) -> pd.DataFrame:
    """Write the effective (merged, validated) config as YAML, headed by the config files it came
    from, and the software-versions table as CSV. Returns the versions table."""
    header = "".join(f"# from {f}\n" for f in configfiles)
    with atomic_path(out_config) as tmp:
        tmp.write_text(header + yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False, width=100))
    versions = software_versions()
    write_csv(versions, out_versions)
    return versions


def _plain(obj: Any) -> Any:
    """Snakemake's config mixes dict subclasses and tuples; YAML wants plain containers."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
