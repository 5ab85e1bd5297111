"""The SLURM profile (slurm/config.v8+.yaml) parses as Snakemake reads it and matches the workflow.

No cluster needed: the real-SLURM run is `make slurm-test` (workflow/cluster/slurm_test.sh).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "slurm" / "config.v8+.yaml"


@pytest.fixture(scope="module")
def profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


@pytest.fixture(scope="module")
def workflow_rules():
    """{rule name: rule} of the workflow, loaded with the download rules switched on too."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    rules, local = {}, set()
    for cfg in ({}, {"plasticc": {"source": "zenodo"}, "sdss": {"source": "sdss"}}):
        with SnakemakeApi(OutputSettings()) as api:
            wf = api.workflow(
                resource_settings=ResourceSettings(cores=1),
                config_settings=ConfigSettings(config=cfg),
                snakefile=ROOT / "Snakefile",
                workdir=ROOT,
            )._workflow
            for r in wf.rules:
                rules.setdefault(r.name, r)
            local |= set(wf._localrules)
    return rules, local


def test_snakemake_finds_the_profile_by_name():
    """`snakemake --profile slurm` typed at the repository root picks this file."""
    from snakemake.cli import get_profile_dir

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        found = get_profile_dir("slurm")
    finally:
        os.chdir(cwd)
    assert found is not None, "snakemake --profile slurm finds no profile"
    assert Path(found[1]).resolve() == PROFILE


def test_profile_parses_into_command_line_options():
    from snakemake.profiles import ProfileConfigFileParser

    with PROFILE.open() as f:
        parsed = ProfileConfigFileParser().parse(f)
    assert parsed["executor"] == "slurm"
    assert parsed["slurm-status-command"] == "squeue"
    assert "gp=8" in parsed["group-components"]
    assert "t2_train:gpu=1" in parsed["set-resources"]
    assert "cpus_per_task=threads" in parsed["default-resources"]


def test_profile_settings(profile):
    assert profile["executor"] == "slurm"
    # sacct without slurmdbd makes Snakemake hang forever: the shipped profile uses squeue
    assert profile["slurm-status-command"] == "squeue"
    assert 1 <= int(profile["slurm-init-seconds-before-status-checks"]) <= 10
    assert int(profile["retries"]) >= 1
    assert int(profile["jobs"]) >= 2
    dr = profile["default-resources"]
    for key in ("slurm_partition", "slurm_account", "mem_mb", "runtime", "cpus_per_task"):
        assert key in dr, f"default-resources lacks {key}"
    # a number would override every rule's threads: sbatch --cpus-per-task must follow threads
    assert dr["cpus_per_task"] == "threads"


def test_every_key_is_commented():
    """Users edit this file for their site: each top-level key has a comment line above it."""
    lines = PROFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith((" ", "#")):
            above = lines[i - 1] if i else ""
            assert above.startswith("#"), f"profile key `{line.split(':')[0]}` has no comment above it"


def test_set_resources_name_existing_rules(profile, workflow_rules):
    rules, _ = workflow_rules
    unknown = sorted(set(profile["set-resources"]) - set(rules))
    assert not unknown, f"set-resources names rules the workflow does not have: {unknown}"


def test_training_and_tuning_rules_ask_for_a_gpu(profile, workflow_rules):
    """Every rule that declares a `gpu` resource (config-driven, 0 locally) gets one GPU here,
    and the GPU rules are TF/torch training, tuning or evaluation rules."""
    rules, _ = workflow_rules
    with_gpu_resource = {n for n, r in rules.items() if "gpu" in r.resources}
    assert with_gpu_resource, "no rule declares a gpu resource"
    gpu_in_profile = {n for n, v in profile["set-resources"].items() if int(v.get("gpu", 0)) >= 1}
    # the GP chunks' GPU is opt-in through the config (gp.gpu, batched engine); the profile must
    # not override it, so gp_chunk stays out of set-resources and its request follows the config
    config_driven = {"gp_chunk"}
    assert not config_driven & set(profile["set-resources"]), "set-resources would override gp.gpu"
    missing = with_gpu_resource - gpu_in_profile - config_driven
    assert not missing, f"rules without a GPU request: {sorted(missing)}"
    assert rules["gp_chunk"].resources["gpu"] == 0, "gp_chunk asks for a GPU although gp.gpu is 0"
    for name in gpu_in_profile:
        assert any(k in name for k in ("train", "tune", "pretrain", "finetune", "evaluate", "ablation_run")), name
        env = str(rules[name].conda_env)
        assert env.endswith(("tf.yaml", "torch.yaml")), f"GPU rule {name} uses env {env}"
    assert {"t2_train", "t2_tune_worker"} <= gpu_in_profile
    # GPU model / partition / account live in the profile, never in the rules
    for n, r in rules.items():
        for key in ("gpu_model", "slurm_partition", "slurm_account"):
            assert key not in r.resources, f"rule {n} sets {key}: site settings belong in slurm/"


def test_group_components_match_workflow_groups(profile, workflow_rules):
    rules, _ = workflow_rules
    # Rule.group reads None outside cluster runs; _group is the rule's `group:` directive
    groups = {r._group for r in rules.values() if r._group}
    assert set(profile["group-components"]) <= groups, (
        f"group-components {sorted(profile['group-components'])} vs workflow groups {sorted(groups)}"
    )
    assert rules["gp_chunk"]._group == "gp"
    assert int(profile["group-components"]["gp"]) >= 2


def test_download_rules_are_local(workflow_rules):
    """Downloads need the login node's internet: they must never be submitted to compute nodes."""
    rules, local = workflow_rules
    downloads = {n for n in rules if n.startswith("download")}
    assert downloads, "no download rules found"
    assert downloads <= local, f"download rules not in localrules: {sorted(downloads - local)}"
    assert {"all", "figures", "sdss_plan"} <= local
    # the SDSS frame chunks are separate cluster jobs (like the GP chunks) unless sdss.archive.chunks_local
    assert "sdss_frames_chunk" in rules and "sdss_frames_chunk" not in local
    assert rules["sdss_frames_chunk"].resources["mem_mb"] and "runtime" in rules["sdss_frames_chunk"].resources
