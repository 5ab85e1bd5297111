# Two commands on a fresh machine:  `make run`  and  `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0
# Rule shell commands (papermill, ...) find the venv's tools first.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup run report test test-unit slurm-test slurm-up slurm-down lint bench bench-scale sdss-plan-estimate ablation ablation-t2 ablation-convention clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

# (Re)create the venv from the pinned requirements; idempotent (re-runs only when pins change).
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	@# t2's fused attention op (C++, TensorFlow custom op); without a compiler t2 falls back to TensorFlow's ops
	$(BIN)/python -m transientrepro.t2.fused --build || echo "warning: fused attention op not built; t2 will use TensorFlow's attention ops (slower)"
	@touch $@

setup: $(STAMP)  ## create/refresh .venv from pinned versions

run: $(STAMP)  ## setup, then run the whole workflow on the embedded default config
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml --rerun-incomplete

# The run's config for `make report` (the report is built for the DAG of this config).
CONFIG ?= config/config.yaml
REPORT ?= results/report.html

report: $(STAMP)  ## after `make run`: results/report.html, every figure and table, captioned
	$(BIN)/snakemake --configfile $(CONFIG) --report $(REPORT)
	@ls -l $(REPORT)

test: $(STAMP)  ## setup, then the full test suite (includes the localhost SLURM test)
	timeout -s KILL 1200 bash tests/install_chromium.sh
	$(BIN)/python -m pytest -x -q tests
	$(MAKE) slurm-test

test-unit: $(STAMP)  ## fast unit tests only
	$(BIN)/python -m pytest -q -m "not slow and not slurm" tests

slurm-up:  ## bring up a single-node SLURM cluster on localhost (root, Debian)
	timeout -s KILL 600 bash workflow/cluster/setup_slurm_localhost.sh

slurm-down:  ## tear the localhost cluster down by PID
	timeout -s KILL 120 bash workflow/cluster/teardown_slurm_localhost.sh

slurm-test: $(STAMP)  ## cluster up, tiny config through `snakemake --profile slurm`, checks, cluster down
	timeout -s KILL 1500 bash workflow/cluster/slurm_test.sh

lint: $(STAMP)  ## snakemake --lint
	$(BIN)/snakemake --lint

bench: $(STAMP)  ## speed benchmarks (prints figures)
	$(BIN)/python -m transientrepro.bench

bench-scale: $(STAMP)  ## time + peak memory per stage at growing data sizes (~1 h; results/bench/scale/)
	nice -n 10 $(BIN)/python -m transientrepro.bench.scale --cores $(CORES)

sdss-plan-estimate: $(STAMP)  ## frames, TB and hours of the full SDSS download (Stripe 82 geometry, no download)
	$(BIN)/python -m transientrepro.sdss.plan --objects 10258 --coverages 60 80

ablation: ablation-t2 ablation-convention  ## every ablation (own targets, not in `make run`)

ablation-t2: $(STAMP)  ## t2 ablation + learning curve on the embedded data (not in `make run`; results/plasticc/ablation/)
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete results/notebooks/t2_ablation.ipynb --configfile config/config.yaml

ablation-convention: $(STAMP)  ## ConvEntion ablation on the embedded data (not in `make run`; ~1 h on 2 idle cores)
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete results/notebooks/convention_ablation.ipynb --configfile config/config.yaml

clean:  ## remove generated outputs (keeps .venv)
	rm -rf results figures resources logs benchmarks .snakemake
