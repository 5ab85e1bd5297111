"""t2 tuning: two worker processes share one optuna JournalStorage study; gather reads the best."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from transientrepro.io import save_npz, write_parquet
from transientrepro.t2.data import make_synthetic_gp
from transientrepro.t2.tuning import gather_tuning

TINY = {
    "tune": True,
    "scaling": "object",
    "hyperparameters": {"d": 8, "h": 2, "d_ff": 8, "N": 1, "dropout": 0.0, "learning_rate": 0.01},
    "tuning": {
        "n_workers": 2,
        "n_trials": 1,
        "n_folds": 2,
        "validation_fraction": 1.0,
        "epochs": 1,
        "batch_size": 32,
        "n_startup_trials": 1,
        "space": {
            "d": {"type": "categorical", "choices": [8]},
            "d_ff": {"type": "categorical", "choices": [8, 16]},
            "dropout": {"type": "float", "low": 0.0, "high": 0.2},
            "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
        },
    },
}

WORKER = """
import json, sys
from transientrepro.t2.tuning import run_tune_worker
cfg = json.loads(sys.argv[1])
run_tune_worker(sys.argv[2], sys.argv[3], "t2", cfg, 7, int(sys.argv[4]), sys.argv[5], sys.argv[6], threads=1)
"""


def test_two_parallel_workers_share_one_study(tmp_path):
    gp, split = make_synthetic_gp(n=56, L=16, seed=5)
    save_npz(tmp_path / "gp.npz", **gp)
    write_parquet(split, tmp_path / "split.parquet")
    storage = tmp_path / "tuning" / "study.journal"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(TINY), str(tmp_path / "gp.npz"), str(tmp_path / "split.parquet"),
             str(w), str(storage), str(tmp_path / f"worker_{w}.json")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for w in (0, 1)
    ]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out[-3000:]
    records = [json.loads((tmp_path / f"worker_{w}.json").read_text()) for w in (0, 1)]
    assert [r["worker"] for r in records] == [0, 1]
    assert records[0]["study"] == records[1]["study"]
    for r in records:
        assert len(r["completed_trials"]) == 1
        assert all(np.isfinite(t["value"]) for t in r["trials"])
    best = gather_tuning("t2", TINY, 7, storage, tmp_path / "best_params.json", tmp_path / "trials.csv")
    assert best["source"] == "tuned"
    assert best["n_complete"] == 2
    assert best["workers"] == [0, 1]
    assert best["hyperparameters"]["d"] == 8 and best["hyperparameters"]["h"] == 2  # h pinned from config
    trials = (tmp_path / "trials.csv").read_text().strip().splitlines()
    assert len(trials) == 3  # header + one trial per worker
    assert json.loads((tmp_path / "best_params.json").read_text())["cv_log_loss"] == pytest.approx(best["cv_log_loss"])


def test_gather_without_tuning_writes_pinned_hyperparameters(tmp_path):
    cfg = dict(TINY, tune=False)
    rec = gather_tuning("t2_noz", cfg, 7, tmp_path / "none.journal", tmp_path / "best.json", tmp_path / "trials.csv")
    assert rec["hyperparameters"] == {"d": 8, "h": 2, "d_ff": 8, "N": 1, "dropout": 0.0, "learning_rate": 0.01}
    assert not (tmp_path / "none.journal").exists()
    assert "pinned" in json.loads((tmp_path / "best.json").read_text())["source"]
