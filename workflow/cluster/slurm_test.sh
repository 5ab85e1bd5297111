#!/usr/bin/env bash
# End-to-end test of the SLURM profile on a real (single-node, localhost) SLURM cluster:
#   1. copies the repository's files (git-tracked + untracked-not-ignored; never results/, .venv)
#      into two temporary work dirs, so the user's results/ is never touched;
#   2. runs the tiny config (config/test_tiny.yaml) locally in one copy (in the background) while
#      bringing the cluster up (setup_slurm_localhost.sh, FAKE_GPU=1: Gres=gpu:fake:2);
#   3. runs the same config in the other copy with `snakemake --profile slurm`;
#   4. checks (slurm_check.py): every non-local job went through sbatch and exited 0 in SLURM,
#      the GPU rules' jobs asked for a GPU in the `gpu` partition, the SLURM run's results equal
#      the local run's (the same result files; every .json under results/ — metrics.json of t2,
#      ConvEntion and the baselines, summaries, tuning records — within rtol 1e-6, timings and
#      optuna trial numbers skipped: same code, seeds, threads and CPU, so the numbers come out
#      bit-identical; the tolerance only leaves room for reduction-order noise on other CPUs);
#   5. prints the wall time and the per-job overhead; ALWAYS tears the cluster down (trap EXIT).
# Every wait is bounded (timeout -s KILL); exits non-zero on any failure.  Needs root + apt (Debian).
# Knobs: CONFIG=config/test_tiny.yaml  CORES=2  T_RUN=600 (s per Snakemake run)  KEEP_WORK=0|1
#        TARGETS="file ..." (default: everything, i.e. rule all)
#        PARALLEL_LOCAL=1 (local run beside the SLURM run: shorter test) | 0 (local run first, so
#        the SLURM run's timings are not shared with it: cleaner overhead figures, longer test)
#        RTOL=1e-6 ATOL=1e-9  BASE=${TMPDIR:-/tmp}/slurm-ci (cluster state; teardown reads it)
#        NODE_CPUS=4: the test node advertises 4 CPUs on the 2 real cores, so two 2-thread jobs (the
#        parallel tuning workers) overlap; jobs spend much of their time starting Snakemake and
#        waiting for status checks.  Each job keeps its threads, so results are unaffected.
set -euo pipefail
T0=$(date +%s)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV_BIN=${VENV_BIN:-$ROOT/.venv/bin}
CONFIG=${CONFIG:-config/test_tiny.yaml}
CORES=${CORES:-2}
T_RUN=${T_RUN:-600}
RTOL=${RTOL:-1e-6}
ATOL=${ATOL:-1e-9}
KEEP_WORK=${KEEP_WORK:-0}
PARALLEL_LOCAL=${PARALLEL_LOCAL:-1}
read -r -a TARGET_ARGS <<< "${TARGETS:-}"
export BASE=${BASE:-${TMPDIR:-/tmp}/slurm-ci}
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0
export PATH="$VENV_BIN:$PATH"       # jobs inherit it (sbatch --export=ALL): papermill, python
log() { echo "[slurm_test $(( $(date +%s) - T0 ))s] $*"; }
die() { echo "[slurm_test] FAIL: $*" >&2; exit 1; }

# ---- guards ------------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "must run as root (it installs slurm-wlm/munge with apt and starts daemons)"
command -v apt-get >/dev/null || command -v slurmctld >/dev/null \
  || die "no apt-get and no SLURM installed: this test needs a Debian/Ubuntu machine"
[ -x "$VENV_BIN/snakemake" ] || die "no $VENV_BIN/snakemake: run 'make setup' first"
[ -f "$ROOT/$CONFIG" ] || die "config $CONFIG not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/slurmtest.XXXXXX")
STARTED_CLUSTER=0
LOCAL_PID=""
cleanup() {
  local rc=$?
  set +e
  for pid in "$LOCAL_PID" "${SLURM_SMK_PID:-}"; do  # our `timeout` processes: TERM reaches snakemake
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  done
  if [ "$STARTED_CLUSTER" = 1 ]; then
    log "tearing the cluster down"
    timeout -s KILL 120 bash "$HERE/teardown_slurm_localhost.sh"
  fi
  if [ "$rc" != 0 ]; then
    for f in "$WORK/local.log" "$WORK/slurm.log"; do
      [ -s "$f" ] && { echo "----- last lines of $f"; tail -n 40 "$f"; }
    done
    failed=$(ls -d "$WORK"/slurm/.snakemake/slurm_logs 2>/dev/null) && \
      for f in $(grep -rl "Error\|Traceback" "$failed" 2>/dev/null | head -3); do echo "----- $f"; tail -n 30 "$f"; done
  fi
  if [ "$KEEP_WORK" = 1 ] || [ "$rc" != 0 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  log "exit $rc (total $(( $(date +%s) - T0 )) s)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. two copies of the repository's files ---------------------------------------------------
"$VENV_BIN/python" - "$ROOT" "$WORK/local" "$WORK/slurm" <<'EOF'
import os, shutil, subprocess, sys
from pathlib import Path
root, dests = Path(sys.argv[1]), [Path(d) for d in sys.argv[2:]]
try:  # tracked + untracked files that .gitignore does not exclude (results/, .venv, ... are)
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard"], check=True, capture_output=True, timeout=60).stdout
    files = [f for f in out.decode().split("\0") if f]
except (OSError, subprocess.SubprocessError):  # not a git checkout: everything but outputs
    skip = {".git", ".venv", "results", "resources", "logs", "benchmarks", "figures", ".snakemake"}
    files = [str(p.relative_to(root)) for p in root.rglob("*")
             if p.is_file() and p.relative_to(root).parts[0] not in skip]
n = 0
for f in files:
    src = root / f
    if not src.is_file():  # deleted in the work tree
        continue
    for d in dests:
        (d / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, d / f)
    n += 1
print(f"copied {n} files into {len(dests)} work dirs")
EOF
log "work dirs under $WORK"

# ---- 2. local reference run (background) + cluster up ------------------------------------------
L0=$(date +%s)
(
  cd "$WORK/local"
  exec timeout -s KILL "$T_RUN" "$VENV_BIN/snakemake" "${TARGET_ARGS[@]}" --cores "$CORES" \
    --configfile "$CONFIG" --nocolor > "$WORK/local.log" 2>&1
) &
LOCAL_PID=$!   # the `timeout` process: SIGTERM to it reaches snakemake
log "local reference run started (pid $LOCAL_PID)"

if [ -s "$BASE/run/slurmctld.pid" ] && kill -0 "$(cat "$BASE/run/slurmctld.pid")" 2>/dev/null; then
  log "reusing the cluster already up under $BASE (not torn down at the end)"
else
  STARTED_CLUSTER=1
fi
FAKE_GPU=1 NODE_CPUS=${NODE_CPUS:-4} timeout -s KILL 600 bash "$HERE/setup_slurm_localhost.sh" > "$WORK/setup.log" 2>&1 \
  || { cat "$WORK/setup.log"; die "cluster setup failed"; }
tail -n 4 "$WORK/setup.log"
timeout -s KILL 10 sinfo -h -o "%G" | grep -q gpu || die "the node advertises no GPU (FAKE_GPU)"
CTLD_LOG="$BASE/log/slurmctld.log"
log "cluster up"

wait_local() {
  [ -n "$LOCAL_PID" ] || return 0
  log "waiting for the local reference run"
  set +e; wait "$LOCAL_PID"; LRC=$?; set -e; LOCAL_PID=""
  [ "$LRC" = 0 ] || die "local reference run exited $LRC (124/137 = timed out after ${T_RUN}s)"
  log "local reference run finished in $(( $(stat -c %Y "$WORK/local.log") - L0 ))s"
}
[ "$PARALLEL_LOCAL" = 1 ] || wait_local

# ---- 3. the SLURM run --------------------------------------------------------------------------
# --cores: the largest job = one node's 2 CPUs (rules' threads and group jobs are cut to fit);
# --retries 0: a failing job must fail the test, not be retried quietly.
cd "$WORK/slurm"
CTLD_OFFSET=$(stat -c %s "$CTLD_LOG" 2>/dev/null || echo 0)   # check only this run's part of the log
S0=$(date +%s.%N)
set +e
timeout -s KILL "$T_RUN" "$VENV_BIN/snakemake" "${TARGET_ARGS[@]}" --profile slurm --configfile "$CONFIG" \
  --cores "$CORES" --retries 0 --slurm-keep-successful-logs --nocolor > "$WORK/slurm.log" 2>&1 &
SLURM_SMK_PID=$!
wait "$SLURM_SMK_PID"; SRC=$?
set -e
SLURM_WALL=$(python3 -c "import time; print(f'{time.time() - $S0:.1f}')")
[ "$SRC" = 0 ] || die "snakemake --profile slurm exited $SRC after ${SLURM_WALL}s (124/137 = timed out after ${T_RUN}s)"
log "SLURM run finished in ${SLURM_WALL}s"

# scontrol of every job while slurmctld still holds it (MinJobAge)
mkdir -p "$WORK/scontrol"
for id in $(grep -o "submitted with SLURM jobid [0-9]*" "$WORK/slurm.log" | awk '{print $NF}'); do
  timeout -s KILL 10 scontrol show job -o "$id" > "$WORK/scontrol/$id.txt" 2>&1 || true
done
GPU_RULES=$("$VENV_BIN/python" -c "
import yaml; p = yaml.safe_load(open('slurm/config.v8+.yaml'))
print(','.join(r for r, v in (p.get('set-resources') or {}).items() if int(v.get('gpu', 0)) > 0))")
GPU_RAN=$(grep -o "rule_[a-z0-9_]*" "$WORK/slurm.log" | sed 's/^rule_//' | sort -u \
  | grep -Fx -f <(tr ',' '\n' <<< "$GPU_RULES") | paste -sd, || true)
[ -n "$GPU_RAN" ] || die "none of the GPU rules ($GPU_RULES) ran: the tiny config must include one"

# ---- 4. wait for the local run, then the checks ------------------------------------------------
wait_local

log "checking the jobs went through SLURM"
tail -c +$(( CTLD_OFFSET + 1 )) "$CTLD_LOG" > "$WORK/slurmctld.log"
"$VENV_BIN/python" "$HERE/slurm_check.py" jobs --smk-log "$WORK/slurm.log" --ctld-log "$WORK/slurmctld.log" \
  --scontrol "$WORK/scontrol" --gpu-rules "$GPU_RAN" --gpu-partition gpu --wall-s "$SLURM_WALL" \
  || die "job checks"
log "comparing the SLURM run's results with the local run's"
"$VENV_BIN/python" "$HERE/slurm_check.py" compare --slurm "$WORK/slurm" --local "$WORK/local" \
  --rtol "$RTOL" --atol "$ATOL" || die "results differ"
log "PASS: SLURM test ($(( $(date +%s) - T0 )) s in all)"
