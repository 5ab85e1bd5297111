"""What a run ran with: effective config and software versions (the report's Run category)."""
from pathlib import Path

import pandas as pd
import yaml

from transientrepro.provenance import software_versions, write_run_info


def test_software_versions_reads_metadata_and_names_missing():
    v = software_versions(["pandas", "surely-not-a-package-xyz"]).set_index("component")
    assert v.loc["pandas", "version"] == pd.__version__
    assert v.loc["surely-not-a-package-xyz", "version"] == "not installed"
    assert v.loc["python", "version"].count(".") == 2


def test_write_run_info_writes_plain_yaml_with_its_sources(tmp_path: Path):
    class Sub(dict):  # Snakemake's config mixes dict subclasses and tuples
        pass

    cfg = Sub(run_name="x", t2=Sub(variants=("t2", "t2_noz"), epochs=3))
    write_run_info(cfg, ["config/config.yaml", "config/test_tiny.yaml"], tmp_path / "c.yaml", tmp_path / "v.csv")
    text = (tmp_path / "c.yaml").read_text()
    assert text.startswith("# from config/config.yaml\n# from config/test_tiny.yaml\n")
    assert yaml.safe_load(text) == {"run_name": "x", "t2": {"variants": ["t2", "t2_noz"], "epochs": 3}}
    assert "snakemake" in set(pd.read_csv(tmp_path / "v.csv")["component"])
