#!/usr/bin/env bash
# Stop what setup_slurm_localhost.sh started, by PID (its pid files under $BASE/run), in reverse
# order. Jobs still on this private test cluster are cancelled first so no slurmstepd is orphaned.
# A munged that was already running before setup (no pid file of ours) is left alone.
# Every wait is bounded; safe to run twice or when nothing is up.
set -u
BASE=${BASE:-${TMPDIR:-/tmp}/slurm-ci}
stop() {  # stop <name> <pidfile>
  local pf=$2
  [ -s "$pf" ] || return 0
  local pid; pid=$(cat "$pf")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then echo "$1 ($pid) still alive, SIGKILL"; kill -9 "$pid"; fi
    echo "stopped $1 ($pid)"
  fi
  rm -f "$pf"
}
# Cancel the jobs left on our cluster (only when its controller is the one we started).
if [ -s "$BASE/run/slurmctld.pid" ] && kill -0 "$(cat "$BASE/run/slurmctld.pid")" 2>/dev/null; then
  ids=$(timeout -s KILL 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${ids// }" ]; then
    echo "cancelling leftover jobs: $ids"
    timeout -s KILL 20 scancel $ids || true
    for _ in $(seq 1 50); do
      [ -z "$(timeout -s KILL 10 squeue -h -t R,CG -o %i 2>/dev/null)" ] && break; sleep 0.2
    done
  fi
fi
stop slurmd    "$BASE/run/slurmd.pid"
stop slurmctld "$BASE/run/slurmctld.pid"
stop slurmdbd  "$BASE/run/slurmdbd.pid"
stop mariadbd  "$BASE/run/mariadb.pid"
stop munged    "$BASE/run/munged.pid"
# Remove the config setup wrote: with /etc/slurm/slurm.conf left behind and no controller, every
# `snakemake` start (the SLURM plugin probes `scontrol show config`) waits ~10 s for a timeout.
if grep -qs "^# Written by workflow/cluster/setup_slurm_localhost.sh" /etc/slurm/slurm.conf; then
  rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf
  echo "removed /etc/slurm/slurm.conf and gres.conf (written by setup_slurm_localhost.sh)"
fi
exit 0
