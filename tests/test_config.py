"""Config schema: every key documented with a default; bad keys/values fail naming the key."""
import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from conftest import ROOT, run_snakemake

SCHEMA = ROOT / "config" / "schema.yaml"
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))
CONFIGS = [c for c in CONFIGS if c.name != "schema.yaml"]


def _walk(schema, path="config"):
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{key}")


def test_every_key_has_description_and_default():
    schema = yaml.safe_load(SCHEMA.read_text())
    missing = []
    for path, node in _walk(schema):
        if path == "config":
            continue
        if "description" not in node:
            missing.append(f"{path}: no description")
        if "default" not in node:
            missing.append(f"{path}: no default")
        # Objects either forbid unknown keys or, for free-form maps (optuna search spaces), declare
        # a schema for their values and the names they accept.
        if node.get("type") == "object":
            extra = node.get("additionalProperties")
            if extra is None or extra is True:
                missing.append(f"{path}: object accepts any key (set additionalProperties)")
            elif isinstance(extra, dict) and "propertyNames" not in node:
                missing.append(f"{path}: free-form map without propertyNames")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(cfg):
    config = yaml.safe_load(cfg.read_text())
    validate(config, str(SCHEMA))


def test_defaults_fill_an_empty_config():
    config = {}
    validate(config, str(SCHEMA), set_default=True)
    assert config["gp"]["n_points"] == 100
    assert config["plasticc"]["source"] == "simulate"


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda c: c["gp"].update(n_pointz=3), "n_pointz"),
        (lambda c: c.update(sed=1), "sed"),
        (lambda c: c.update(seed="abc"), "seed"),
        (lambda c: c["plasticc"].update(source="kaggle"), "source"),
        (lambda c: c["split"].update(test_fraction=1.5), "test_fraction"),
    ],
)
def test_bad_key_or_value_is_named(mutate, needle):
    config = copy.deepcopy(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    mutate(config)
    with pytest.raises(Exception) as err:
        validate(config, str(SCHEMA))
    assert needle in str(err.value)


def test_snakemake_rejects_bad_key_at_start(repo_copy: Path):
    res = run_snakemake(["-n", "--cores", "1", "--config", "gp={n_pointz: 3}"], cwd=repo_copy, timeout=120)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "n_pointz" in out and "Error validating config" in out
    assert not (repo_copy / "results").exists()


def test_cli_check_config_names_key(tmp_path: Path, capsys):
    from transientrepro.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("gp:\n  n_points: -3\n")
    assert main(["check-config", str(bad), "--schema", str(SCHEMA)]) == 1
    err = capsys.readouterr().err
    assert "config key gp.n_points" in err
    assert main(["check-config", str(ROOT / "config" / "config.yaml"), "--schema", str(SCHEMA)]) == 0
