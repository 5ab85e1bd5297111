"""Unit tests of workflow/cluster/slurm_check.py, the checker of the real-SLURM test, on small
synthetic logs (shaped like Snakemake 9.27 / slurmctld 22.05 output): it must catch a job that
skipped sbatch, a failed SLURM job, a GPU job without a GPU request and differing metrics."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("slurm_check", ROOT / "workflow" / "cluster" / "slurm_check.py")
sc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sc)


def smk_log(tmp_path: Path, extra_remote: bool = False) -> str:
    logs = tmp_path / "slurm_logs"
    for unit, jid in (("rule_simulate/", 11), ("group_gp_gp_chunk/", 12), ("rule_t2_train/t2/", 13)):
        (logs / unit).mkdir(parents=True, exist_ok=True)
        (logs / unit / f"{jid}.log").write_text("ok\n")
    text = f"""
[Sat Nov 21 05:50:00 2026]
rule simulate:
    output: a
    jobid: 3
Job 3 has been submitted with SLURM jobid 11 (log: {logs}/rule_simulate/11.log).
[Sat Nov 21 05:51:42 2026] Group job gp (jobs in lexicogr. order):

    [Sat Nov 21 05:51:42 2026]
    rule gp_chunk:
        jobid: 4

    [Sat Nov 21 05:51:42 2026]
    rule gp_chunk:
        jobid: 5
Job 1c2d has been submitted with SLURM jobid 12 (log: {logs}/group_gp_gp_chunk/12.log).
rule t2_train:
    jobid: 7
Job 7 has been submitted with SLURM jobid 13 (log: {logs}/rule_t2_train/t2/13.log).
localrule all:
    jobid: 0
"""
    if extra_remote:
        text += "rule sneaky:\n    jobid: 9\n"
    return text


CTLD = """[2026-11-21T05:50:00.100] _slurm_rpc_submit_batch_job: JobId=11 InitPrio=1 usec=2
[2026-11-21T05:50:01.100] sched: Allocate JobId=11 NodeList=localhost #CPUs=1 Partition=main
[2026-11-21T05:50:11.100] _job_complete: JobId=11 WEXITSTATUS 0
[2026-11-21T05:51:42.000] _slurm_rpc_submit_batch_job: JobId=12 InitPrio=1 usec=2
[2026-11-21T05:51:44.000] sched/backfill: _start_job: Started JobId=12 in main on localhost
[2026-11-21T05:52:06.000] _job_complete: JobId=12 WEXITSTATUS 0
[2026-11-21T05:54:08.000] _slurm_rpc_submit_batch_job: JobId=13 InitPrio=1 usec=2
[2026-11-21T05:54:08.500] sched: Allocate JobId=13 NodeList=localhost #CPUs=2 Partition=gpu
[2026-11-21T05:54:28.500] _job_complete: JobId=13 WEXITSTATUS {exit13}
"""
SCONTROL_GPU = {"13": "JobId=13 JobState=COMPLETED Partition=gpu NumCPUs=2 TresPerJob=gres:gpu:1"}


def test_parse_snakemake_log(tmp_path):
    log = sc.parse_snakemake_log(smk_log(tmp_path))
    assert log["remote"] == ["simulate", "t2_train"]
    assert log["group_members"] == ["gp_chunk", "gp_chunk"]
    assert log["groups"] == ["gp"]
    assert log["local"] == ["all"]
    assert [s["slurm_id"] for s in log["submissions"]] == ["11", "12", "13"]
    assert [s["unit"] for s in log["submissions"]] == ["rule_simulate", "group_gp_gp_chunk", "rule_t2_train"]


def test_check_jobs_passes_and_reports_overhead(tmp_path):
    lines = sc.check_jobs(smk_log(tmp_path), CTLD.format(exit13=0), SCONTROL_GPU, {"t2_train"}, "gpu", 120.0)
    text = "\n".join(lines)
    assert "sbatch submissions: 3 (expected 3" in text
    assert "t2_train (job 13: gres:gpu:1, partition gpu)" in text
    # waits 1.0, 2.0, 0.5 s -> mean 1.2 s; wall 120 s / 3 jobs
    assert "sbatch->start latency: mean 1.2 s, max 2.0 s" in text
    assert "40.0 s per sbatch job" in text


def test_check_jobs_catches_a_job_that_skipped_sbatch(tmp_path):
    with pytest.raises(sc.CheckError, match="3 sbatch submissions for 4"):
        sc.check_jobs(smk_log(tmp_path, extra_remote=True), CTLD.format(exit13=0), SCONTROL_GPU, {"t2_train"})


def test_check_jobs_catches_a_failed_slurm_job(tmp_path):
    with pytest.raises(sc.CheckError, match="13 .*exit status 1"):
        sc.check_jobs(smk_log(tmp_path), CTLD.format(exit13=1), SCONTROL_GPU, {"t2_train"})


def test_check_jobs_catches_a_gpu_job_without_gpu(tmp_path):
    no_gpu = {"13": "JobId=13 Partition=main NumCPUs=2 TresPerJob=(null)"}
    with pytest.raises(sc.CheckError, match="no GPU request"):
        sc.check_jobs(smk_log(tmp_path), CTLD.format(exit13=0), no_gpu, {"t2_train"}, "gpu")


def test_check_jobs_catches_a_missing_slurm_log(tmp_path):
    text = smk_log(tmp_path)
    (tmp_path / "slurm_logs" / "rule_simulate" / "11.log").unlink()
    with pytest.raises(sc.CheckError, match="log .*11.log missing"):
        sc.check_jobs(text, CTLD.format(exit13=0), SCONTROL_GPU, {"t2_train"})


def _run(d: Path, metrics: dict, extra: dict | None = None):
    (d / "results" / "plasticc" / "t2").mkdir(parents=True)
    (d / "results" / "plasticc" / "t2" / "metrics.json").write_text(json.dumps(metrics))
    (d / "results" / "tuning.json").write_text(json.dumps(extra or {"best_trial": 0, "value": 1.5}))


def test_compare_equal_runs_skips_timings_and_trial_order(tmp_path):
    _run(tmp_path / "a", {"log_loss": 0.5, "cm": [[1, 2], [3, 4]], "train_seconds": 4.0, "name": "t2"})
    _run(tmp_path / "b", {"log_loss": 0.5, "cm": [[1, 2], [3, 4]], "train_seconds": 9.0, "name": "t2"},
         {"best_trial": 1, "value": 1.5})
    (line,) = sc.compare_results(tmp_path / "a", tmp_path / "b", 1e-6, 1e-9)
    assert "6 numbers, 6 bit-identical" in line
    assert "2 timing/trial-order keys skipped" in line


def test_compare_catches_a_metric_difference(tmp_path):
    _run(tmp_path / "a", {"log_loss": 0.5, "accuracy": 0.25})
    _run(tmp_path / "b", {"log_loss": 0.5001, "accuracy": 0.25})
    with pytest.raises(sc.CheckError, match="log_loss: 0.5 .slurm. vs 0.5001 .local."):
        sc.compare_results(tmp_path / "a", tmp_path / "b", 1e-6, 1e-9)
    # within tolerance is accepted
    sc.compare_results(tmp_path / "a", tmp_path / "b", 1e-3, 0)


def test_compare_catches_missing_result_files(tmp_path):
    _run(tmp_path / "a", {"log_loss": 0.5})
    _run(tmp_path / "b", {"log_loss": 0.5})
    (tmp_path / "b" / "results" / "extra.csv").write_text("x\n")
    with pytest.raises(sc.CheckError, match="only local: \\['results/extra.csv'\\]"):
        sc.compare_results(tmp_path / "a", tmp_path / "b", 1e-6, 1e-9)
