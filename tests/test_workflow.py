"""The Snakemake workflow as a whole: DAG of the default config, lint, tiny end-to-end run."""
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, TINY, run_snakemake


def test_default_dag_dry_run(repo_copy: Path):
    res = run_snakemake(["-n", "--cores", "2", "--quiet", "rules"], cwd=repo_copy, timeout=180)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = res.stdout + res.stderr
    for rule in ["simulate_plasticc", "ingest_plasticc", "gp_chunk", "gp_gather", "split", "t2_tune_gather",
                 "report", "figures", "notebook_t2_figures"]:
        assert re.search(rf"\b{rule}\b", out), f"rule {rule} missing from the default DAG:\n{out[-2000:]}"


def test_paper_dag_dry_run(repo_copy: Path):
    """The full-scale config builds a DAG too (downloads instead of simulation)."""
    res = run_snakemake(["-n", "--cores", "2", "--quiet", "rules", "--configfile", "config/paper.yaml"],
                        cwd=repo_copy, timeout=180)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert "download_plasticc" in out and "simulate_plasticc" not in out
    # the SDSS frames: a plan, then n_chunks parallel chunk jobs, then one gather (no single download job)
    paper = yaml.safe_load((repo_copy / "config" / "paper.yaml").read_text())
    counts = {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines()
              if len(ln.split()) == 2 and ln.split()[1].isdigit()}
    assert counts.get("sdss_plan") == 1 and counts.get("sdss_frames_gather") == 1
    assert counts.get("sdss_frames_chunk") == paper["sdss"]["archive"]["n_chunks"] > 1
    assert "download_sdss " not in out and "sdss_simulate" not in out


def test_lint_is_clean():
    res = run_snakemake(["--lint"], timeout=180)
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "Congratulations" in out, out[-4000:]


def test_project_never_reads_shared():
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    offenders = []
    for f in files:
        p = ROOT / f
        if p.suffix in {".py", ".smk", ".yaml", ".sh", ".ipynb"} or p.name in {"Snakefile", "Makefile"}:
            if p.name == "test_workflow.py":
                continue
            text = p.read_text(errors="ignore")
            if "../shared" in text or "/work/shared" in text:
                offenders.append(f)
    assert not offenders, f"these files reference ../shared: {offenders}"


@pytest.mark.slow
def test_tiny_end_to_end_and_idempotent(tiny_run):
    """The whole workflow on the tiny config, then a second run that has nothing to do."""
    repo_copy, res = tiny_run
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]
    for rel in ["results/report/report.md", "results/tables/parameter_counts.csv", "figures",
                "results/data/plasticc_class_counts.csv", "results/data/sdss_class_counts.csv",
                "results/data/sdss_partition_counts.csv"]:
        assert (repo_copy / rel).exists(), rel
    tiny = yaml.safe_load((repo_copy / TINY).read_text())
    variants = tiny.get("t2", {}).get("variants", ["t2", "t2_noz"])
    assert variants, "the tiny config runs no t2 variant"
    for variant in variants:
        m = json.loads((repo_copy / f"results/plasticc/{variant}/metrics.json").read_text())
        for key in ["log_loss", "roc_auc_micro", "roc_auc_macro", "pr_auc_micro", "accuracy", "n_params", "n_train", "n_test"]:
            assert key in m, (variant, key)
    pngs = list((repo_copy / "figures").rglob("*.png"))
    assert len(pngs) >= 8, pngs
    again = run_snakemake(["--cores", "2", "--configfile", TINY, "-n"], cwd=repo_copy, timeout=300)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr, (again.stdout + again.stderr)[-3000:]
