"""Checks for workflow/cluster/slurm_test.sh (the real-SLURM test); standard library only.

    python slurm_check.py jobs    --smk-log LOG --ctld-log LOG --scontrol DIR [--gpu-rules a,b]
    python slurm_check.py compare --slurm DIR --local DIR [--rtol R --atol A]

`jobs` proves that every non-local job of a Snakemake run went through sbatch: it parses the main
Snakemake log (job headers `rule X:` / `localrule X:`, group jobs, `... submitted with SLURM jobid N`),
and slurmctld's log (submission, allocation, completion with exit status 0 of every job id), checks
the GPU rules' jobs asked for a GPU (`scontrol show job`: TresPerJob gres:gpu) and prints the per-job
overhead (sbatch -> start latency, job durations, wall time / jobs).
`compare` compares every metrics.json (and the list of result files) of the SLURM run with a local
run of the same config (every .json under results/: metrics, summaries, tuning records); keys
that are timings, and optuna's trial numbers (set by which parallel worker comes first), are skipped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import sys
from pathlib import Path

SUBMIT_RE = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$")
HEADER_RE = re.compile(r"^(\s*)(localrule|rule) (\w+):\s*$")
GROUP_RE = re.compile(r"Group job (\S+) \(jobs in lexicogr\. order\):")
CTLD_RE = re.compile(r"^\[(?P<ts>[0-9T:.\-]+)\] (?P<msg>.*)$")
TIMING_KEY_RE = re.compile(
    r"(time|seconds|per_second|per_sec|ms_per|throughput|duration|elapsed|wall|_s$|timestamp|date|host|path)",
    re.I,
)
# optuna numbers trials in the order the parallel workers reach the shared study: which worker got
# trial 0 differs from run to run (the trials themselves, and so best_params, do not).
ORDER_KEY_RE = re.compile(r"^(number|trial_id|best_trial|completed_trials)$")


class CheckError(Exception):
    """A check failed; the message says which and why."""


def parse_snakemake_log(text: str) -> dict:
    """Jobs, group jobs and SLURM submissions of one Snakemake run (its main log)."""
    remote, local, group_members, groups, submissions = [], [], [], [], []
    for line in text.splitlines():
        m = HEADER_RE.match(line)
        if m:
            indent, kind, rule = m.groups()
            if kind == "localrule":
                local.append(rule)
            elif indent:  # members of a group job are indented under "Group job ..."
                group_members.append(rule)
            else:
                remote.append(rule)
            continue
        m = GROUP_RE.search(line)
        if m:
            groups.append(m.group(1))
            continue
        m = SUBMIT_RE.search(line.strip())
        if m:
            log = m.group(3)
            unit = next((p for p in Path(log).parts if p.startswith(("rule_", "group_"))), "?")
            submissions.append({"job": m.group(1), "slurm_id": m.group(2), "log": log, "unit": unit})
    return {"remote": remote, "local": local, "group_members": group_members, "groups": groups,
            "submissions": submissions}


def parse_ctld_log(text: str) -> dict[str, dict]:
    """slurmctld log -> {job id: {submit, start, end (datetimes), exit (int), partition}}."""
    jobs: dict[str, dict] = {}
    for line in text.splitlines():
        m = CTLD_RE.match(line)
        if not m:
            continue
        ts = dt.datetime.fromisoformat(m.group("ts"))
        msg = m.group("msg")
        if (s := re.search(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", msg)):
            jobs.setdefault(s.group(1), {})["submit"] = ts
        elif (s := re.search(r"sched: Allocate JobId=(\d+) .*Partition=(\S+)", msg)) or (
            s := re.search(r"sched/backfill: _start_job: Started JobId=(\d+) in (\S+)", msg)
        ):  # started by the main scheduler, or by the backfill scheduler
            jobs.setdefault(s.group(1), {}).update(start=ts, partition=s.group(2))
        elif (s := re.search(r"_job_complete: JobId=(\d+) WEXITSTATUS (\d+)", msg)):
            jobs.setdefault(s.group(1), {}).update(end=ts, exit=int(s.group(2)))
        elif (s := re.search(r"_job_complete: JobId=(\d+) WTERMSIG (\d+)", msg)):
            jobs.setdefault(s.group(1), {}).update(end=ts, exit=128 + int(s.group(2)))
    return jobs


def parse_scontrol(text: str) -> dict[str, str]:
    """`scontrol show job -o ID` (one line of Key=Value) -> dict."""
    out = {}
    for tok in text.split():
        k, sep, v = tok.partition("=")
        if sep:
            out[k] = v
    return out


def check_jobs(smk_text: str, ctld_text: str, scontrol: dict[str, str], gpu_rules: set[str],
               gpu_partition: str | None = None, wall_s: float | None = None) -> list[str]:
    """All checks of one SLURM run; returns report lines, raises CheckError on a failure."""
    log = parse_snakemake_log(smk_text)
    ctld = parse_ctld_log(ctld_text)
    subs = log["submissions"]
    expected = len(log["remote"]) + len(log["groups"])
    report = [
        f"jobs: {len(log['remote']) + len(log['group_members'])} via sbatch "
        f"({len(log['remote'])} single, {len(log['group_members'])} in {len(log['groups'])} group job(s)), "
        f"{len(log['local'])} local ({', '.join(sorted(set(log['local']))) or '-'})",
        f"sbatch submissions: {len(subs)} (expected {expected} = single jobs + group jobs)",
    ]
    if not subs:
        raise CheckError("no job was submitted with sbatch")
    if len(subs) != expected:
        raise CheckError(f"{len(subs)} sbatch submissions for {expected} non-local (group) jobs:\n"
                         + "\n".join(report))
    problems = []
    for s in subs:
        j = ctld.get(s["slurm_id"])
        if j is None or "submit" not in j:
            problems.append(f"SLURM job {s['slurm_id']} ({s['unit']}) not in slurmctld's log")
            continue
        if "start" not in j:
            problems.append(f"SLURM job {s['slurm_id']} ({s['unit']}) never started")
        if j.get("exit") != 0:
            problems.append(f"SLURM job {s['slurm_id']} ({s['unit']}) exit status {j.get('exit')}")
        if not Path(s["log"]).is_file():
            problems.append(f"SLURM job {s['slurm_id']} ({s['unit']}): log {s['log']} missing")
    # jobs slurmctld saw that Snakemake did not submit (besides the setup script's srun checks)
    # are not ours to judge; every one of ours must be there.
    gpu_seen = []
    for s in subs:
        rule = s["unit"][len("rule_"):] if s["unit"].startswith("rule_") else None
        if rule in gpu_rules:
            info = parse_scontrol(scontrol.get(s["slurm_id"], ""))
            tres = info.get("TresPerJob", "") + info.get("TresPerNode", "") + info.get("Gres", "")
            if "gpu" not in tres:
                problems.append(f"GPU rule {rule}: SLURM job {s['slurm_id']} has no GPU request "
                                f"(scontrol: TresPerJob={info.get('TresPerJob')!r})")
            if gpu_partition and info.get("Partition") != gpu_partition:
                problems.append(f"GPU rule {rule}: SLURM job {s['slurm_id']} ran in partition "
                                f"{info.get('Partition')!r}, not {gpu_partition!r}")
            gpu_seen.append(f"{rule} (job {s['slurm_id']}: {tres}, partition {info.get('Partition')})")
    if gpu_rules and not gpu_seen:
        problems.append(f"no job of the GPU rules {sorted(gpu_rules)} was submitted")
    if problems:
        raise CheckError("\n".join(problems))
    report.append("GPU jobs: " + "; ".join(gpu_seen))
    units: dict[str, int] = {}
    for s in subs:
        units[s["unit"]] = units.get(s["unit"], 0) + 1
    report.append("submitted per rule/group: " + ", ".join(f"{u}={n}" for u, n in sorted(units.items())))
    # overhead
    waits = [(ctld[s["slurm_id"]]["start"] - ctld[s["slurm_id"]]["submit"]).total_seconds() for s in subs]
    runs = [(ctld[s["slurm_id"]]["end"] - ctld[s["slurm_id"]]["start"]).total_seconds() for s in subs]
    first = min(ctld[s["slurm_id"]]["submit"] for s in subs)
    last = max(ctld[s["slurm_id"]]["end"] for s in subs)
    report.append(
        f"sbatch->start latency: mean {sum(waits) / len(waits):.1f} s, max {max(waits):.1f} s; "
        f"job run time (incl. Snakemake start-up in the job): mean {sum(runs) / len(runs):.1f} s, "
        f"total {sum(runs):.0f} s; first submit -> last end {(last - first).total_seconds():.0f} s"
    )
    if wall_s is not None:
        report.append(f"wall time of the SLURM run: {wall_s:.0f} s = {wall_s / len(subs):.1f} s per sbatch job")
    return report


# ------------------------------------------------------------------------------------- compare


def _compare(a, b, where: str, rtol: float, atol: float, out: dict) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            out["diff"].append(f"{where}: keys differ: {sorted(set(a) ^ set(b))}")
        for k in sorted(set(a) & set(b)):
            if TIMING_KEY_RE.search(str(k)) or ORDER_KEY_RE.match(str(k)):
                out["skipped"] += 1
                continue
            _compare(a[k], b[k], f"{where}.{k}", rtol, atol, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out["diff"].append(f"{where}: lengths {len(a)} != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            _compare(x, y, f"{where}[{i}]", rtol, atol, out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        out["numbers"] += 1
        if a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
            out["exact"] += 1
        else:
            err = abs(a - b)
            out["max_abs"] = max(out["max_abs"], err)
            if not err <= atol + rtol * abs(b):
                out["diff"].append(f"{where}: {a!r} (slurm) vs {b!r} (local)")
    elif a != b:
        out["diff"].append(f"{where}: {a!r} (slurm) vs {b!r} (local)")


def compare_results(slurm_dir: Path, local_dir: Path, rtol: float, atol: float) -> list[str]:
    """Same result files, and every .json (metrics.json first of all) equal within rtol/atol."""
    def files(d: Path) -> set[str]:
        return {str(p.relative_to(d)) for p in (d / "results").rglob("*") if p.is_file()}

    fs, fl = files(slurm_dir), files(local_dir)
    if not fs:
        raise CheckError(f"the SLURM run wrote nothing under {slurm_dir}/results")
    if fs != fl:
        raise CheckError("result files differ: only SLURM: %s; only local: %s"
                         % (sorted(fs - fl)[:10], sorted(fl - fs)[:10]))
    metrics = sorted(f for f in fs if f.endswith(".json"))
    if not metrics:
        raise CheckError("no .json result to compare")
    if not any(f.endswith("metrics.json") for f in metrics):
        raise CheckError("no metrics.json to compare")
    out = {"diff": [], "numbers": 0, "exact": 0, "skipped": 0, "max_abs": 0.0}
    for f in metrics:
        a = json.loads((slurm_dir / f).read_text())
        b = json.loads((local_dir / f).read_text())
        _compare(a, b, f, rtol, atol, out)
    if out["diff"]:
        raise CheckError(f"metrics differ beyond rtol={rtol}, atol={atol}:\n" + "\n".join(out["diff"][:30]))
    return [
        f"results: {len(fs)} files, the same in both runs; {len(metrics)} .json compared "
        f"({sum(f.endswith('metrics.json') for f in metrics)} metrics.json): "
        f"{out['numbers']} numbers, {out['exact']} bit-identical, max |diff| {out['max_abs']:.3g} "
        f"(rtol={rtol}, atol={atol}); {out['skipped']} timing/trial-order keys skipped",
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    j = sub.add_parser("jobs")
    j.add_argument("--smk-log", required=True, type=Path)
    j.add_argument("--ctld-log", required=True, type=Path)
    j.add_argument("--scontrol", required=True, type=Path, help="dir of <jobid>.txt (scontrol show job -o)")
    j.add_argument("--gpu-rules", default="")
    j.add_argument("--gpu-partition", default=None)
    j.add_argument("--wall-s", type=float, default=None)
    c = sub.add_parser("compare")
    c.add_argument("--slurm", required=True, type=Path)
    c.add_argument("--local", required=True, type=Path)
    c.add_argument("--rtol", type=float, default=1e-6)
    c.add_argument("--atol", type=float, default=1e-9)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "jobs":
            scontrol = {p.stem: p.read_text() for p in a.scontrol.glob("*.txt")}
            lines = check_jobs(a.smk_log.read_text(), a.ctld_log.read_text(), scontrol,
                               {r for r in a.gpu_rules.split(",") if r}, a.gpu_partition, a.wall_s)
        else:
            lines = compare_results(a.slurm, a.local, a.rtol, a.atol)
    except CheckError as e:
        print(f"FAIL ({a.cmd}): {e}", file=sys.stderr)
        return 1
    print("\n".join(f"  {ln}" for ln in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
