#!/usr/bin/env bash
# Bring up a single-node SLURM 22.05 cluster (Debian 12) on localhost, without systemd, so the
# workflow's SLURM profile (slurm/) can be tested for real: `make slurm-up` / `make slurm-down`.
# Needs root and apt (Debian's slurm-wlm + munge); fails loudly otherwise. Every wait is bounded.
#
# Env knobs:
#   BASE=${TMPDIR:-/tmp}/slurm-ci   state/log/pid/spool dirs (teardown_slurm_localhost.sh reads the same)
#   FAKE_GPU=1|0                    1 (default) = the node advertises 2 fake GPUs (Gres=gpu:fake:2)
#                                   backed by dummy char devices, so `sbatch --gpus=1` jobs run here
#   WITH_SLURMDBD=0|1               1 = also MariaDB + slurmdbd, so `sacct` works (slower to start)
#   NODE_CPUS=N                     advertise N CPUs (default: the real count from `slurmd -C`); more
#                                   than the real cores oversubscribes them (SlurmdParameters=
#                                   config_overrides), so jobs that mostly wait can overlap in tests
#
# Partitions: `main` (default) and `gpu` (the same node); slurm/config.v8+.yaml sends GPU rules
# to `gpu`, as a real site would.
#
# Pitfalls this encodes (see slurm/config.v8+.yaml for the Snakemake side):
#   - slurm.conf must be /etc/slurm/slurm.conf (the job-step plugin drops SLURM_CONF);
#   - `slurmd -N localhost` (the node name differs from $(hostname));
#   - DefMemPerCPU, or a job without --mem takes the whole node;
#   - MinJobAge (1800 s here) keeps finished jobs visible to `squeue` (the profile's status
#     command) and to `scontrol show job` (the test reads the GPU request there).
set -euo pipefail
BASE=${BASE:-${TMPDIR:-/tmp}/slurm-ci}
WITH_SLURMDBD=${WITH_SLURMDBD:-0}
FAKE_GPU=${FAKE_GPU:-1}
export DEBIAN_FRONTEND=noninteractive
t0=$(date +%s.%N)
stamp() { python3 -c "import time,sys; print('[%6.1fs] %s' % (time.time()-$t0, sys.argv[1]))" "$1"; }
die() { echo "setup_slurm_localhost: ERROR: $*" >&2; exit 1; }
waitfor() {  # waitfor <seconds> <cmd...>: poll every 0.2 s, bounded
  local n=$(( $1 * 5 )); shift
  for _ in $(seq 1 "$n"); do timeout -s KILL 10 "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timeout waiting for: $*" >&2; return 1
}

# ---- 0. guards -----------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "must run as root (it installs Debian packages and starts slurmctld/slurmd/munged)"
have_pkgs() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && [ -x /usr/sbin/munged ] && { [ "$WITH_SLURMDBD" = 0 ] || command -v slurmdbd >/dev/null; }
}
have_pkgs || command -v apt-get >/dev/null \
  || die "slurm-wlm/munge are not installed and there is no apt-get to install them (Debian/Ubuntu only)"
if [ -s "$BASE/run/slurmctld.pid" ] && kill -0 "$(cat "$BASE/run/slurmctld.pid")" 2>/dev/null; then
  if timeout -s KILL 10 scontrol ping 2>/dev/null | grep -q UP; then
    stamp "cluster already up (slurmctld pid $(cat "$BASE/run/slurmctld.pid")); nothing to do"
    exit 0
  fi
fi
if timeout -s KILL 10 scontrol ping 2>/dev/null | grep -q UP; then
  die "a SLURM controller not started by this script (no live pid file under $BASE/run) answers; stop it first"
fi

# ---- 1. packages (skipped when already installed: no network needed then) -------
if have_pkgs; then
  stamp "packages already installed ($(slurmctld -V))"
else
  timeout -s KILL 300 apt-get update -qq || die "apt-get update failed"
  pkgs="munge slurm-wlm"            # slurm-wlm = slurmctld + slurmd + slurm-client
  [ "$WITH_SLURMDBD" = 1 ] && pkgs="$pkgs slurmdbd mariadb-server"
  timeout -s KILL 400 apt-get install -y -qq --no-install-recommends $pkgs >/dev/null \
    || die "apt-get install $pkgs failed"
  stamp "packages installed ($(slurmctld -V))"
fi

mkdir -p "$BASE"/{state,spool,log,run}
chown slurm:slurm "$BASE/state" "$BASE/log"
rm -f "$BASE"/run/*.pid

# ---- 2. munge ----------------------------------------------------------------
# Debian's munge postinst already creates /etc/munge/munge.key; create one if missing.
if [ ! -s /etc/munge/munge.key ]; then
  /usr/sbin/mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key; chmod 0600 /etc/munge/munge.key
fi
if timeout -s KILL 10 munge -n >/dev/null 2>&1; then
  stamp "munged already running (not started by this script; left running at teardown)"
else
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged        # forks; pid in /run/munge/munged.pid
  waitfor 10 sh -c 'munge -n | unmunge' || die "munged did not come up"
  cp /run/munge/munged.pid "$BASE/run/munged.pid"   # teardown only stops what we started
  stamp "munged up (pid $(cat /run/munge/munged.pid))"
fi

# ---- 3. slurm.conf (MUST be /etc/slurm/slurm.conf) -----------------------------
# hardware line from slurmd -C, e.g. "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
HW=$(timeout -s KILL 30 slurmd -C | head -1 | sed -E 's/^NodeName=[^ ]+ //')
OVERRIDES=""
if [ -n "${NODE_CPUS:-}" ]; then
  HW=$(sed -E "s/CPUs=[0-9]+/CPUs=$NODE_CPUS/; s/SocketsPerBoard=[0-9]+/SocketsPerBoard=1/;
               s/CoresPerSocket=[0-9]+/CoresPerSocket=$NODE_CPUS/; s/ThreadsPerCore=[0-9]+/ThreadsPerCore=1/" <<< "$HW")
  OVERRIDES="SlurmdParameters=config_overrides"
fi
if [ "$WITH_SLURMDBD" = 1 ]; then
  ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux"
else
  ACCT="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
mkdir -p /etc/slurm
GRES_TYPES=""; NODE_GRES=""
if [ "$FAKE_GPU" = 1 ]; then
  mkdir -p "$BASE/dev"
  for i in 0 1; do [ -e "$BASE/dev/fakegpu$i" ] || mknod "$BASE/dev/fakegpu$i" c 1 3; done
  echo "Name=gpu Type=fake File=$BASE/dev/fakegpu[0-1]" > /etc/slurm/gres.conf
  GRES_TYPES="GresTypes=gpu"; NODE_GRES="Gres=gpu:fake:2"
else
  rm -f /etc/slurm/gres.conf
fi
cat > /etc/slurm/slurm.conf <<EOF
# Written by workflow/cluster/setup_slurm_localhost.sh (single-node test cluster).
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=1800
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldDebug=info
JobCompType=jobcomp/none
$OVERRIDES
$ACCT
$GRES_TYPES
NodeName=localhost NodeAddr=127.0.0.1 $HW $NODE_GRES State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost Default=NO MaxTime=INFINITE State=UP
EOF
stamp "slurm.conf written (FAKE_GPU=$FAKE_GPU)"

# ---- 4. optional: MariaDB + slurmdbd -----------------------------------------
if [ "$WITH_SLURMDBD" = 1 ]; then
  install -d -o mysql -g root -m 0755 /run/mysqld
  nohup /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 > "$BASE/log/mariadb.log" 2>&1 &
  echo $! > "$BASE/run/mariadb.pid"
  waitfor 60 mysqladmin ping || die "mariadb did not come up"
  mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
            CREATE DATABASE IF NOT EXISTS slurm_acct_db;
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  stamp "mariadb up (pid $(cat "$BASE/run/mariadb.pid"))"
  cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
PidFile=$BASE/run/slurmdbd.pid
LogFile=$BASE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
EOF
  chown slurm:slurm /etc/slurm/slurmdbd.conf; chmod 0600 /etc/slurm/slurmdbd.conf
  /usr/sbin/slurmdbd
  waitfor 60 sacctmgr -n list cluster || die "slurmdbd did not come up"
  timeout -s KILL 30 sacctmgr -i -Q add cluster ci || true   # no-op if it already exists
  stamp "slurmdbd up (pid $(cat "$BASE/run/slurmdbd.pid"))"
fi

# ---- 5. slurmctld + slurmd -----------------------------------------------------
/usr/sbin/slurmctld                     # daemonizes, pid file from slurm.conf
waitfor 30 sh -c 'scontrol ping | grep -q UP' || die "slurmctld did not come up (log: $BASE/log/slurmctld.log)"
/usr/sbin/slurmd -N localhost           # -N: node name in slurm.conf != $(hostname)
waitfor 30 sh -c 'sinfo -h -n localhost -o %T | grep -qx idle' \
  || die "node localhost not idle (logs: $BASE/log/slurmd.log, $BASE/log/slurmctld.log)"
stamp "slurmctld (pid $(cat "$BASE/run/slurmctld.pid")) + slurmd (pid $(cat "$BASE/run/slurmd.pid")) up"
timeout -s KILL 10 sinfo -o "%P %a %l %D %T %N %G"
timeout -s KILL 60 srun -N1 hostname >/dev/null || die "srun -N1 hostname failed"
if [ "$FAKE_GPU" = 1 ]; then
  timeout -s KILL 60 srun -p gpu --gpus=1 true || die "a --gpus=1 job does not run on the fake-GPU node"
fi
stamp "cluster ready (BASE=$BASE)"
