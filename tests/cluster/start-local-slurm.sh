#!/usr/bin/env bash
# start-local-slurm.sh - a single-node SLURM cluster on this machine (munged, slurmctld and
# slurmd on localhost) so that tests can run the workflow with the slurm executor: real
# sbatch submissions, real job ids.  Debian 12 packages (Slurm 22.05), run as root, no systemd.
#
# Idempotent: installs only missing packages, rewrites slurm.conf only when it changed (and
# then restarts the daemons it started), re-uses running daemons found through its PID files,
# and exits 0 once the node is idle and a test `srun true` has run.
#
# No accounting database: sacct fails, so clients must check jobs with squeue
# (snakemake: --slurm-status-command squeue).  Stop with stop-local-slurm.sh.
#
# Environment:
#   LOCAL_SLURM_BASE       state, spool, log and PID directory  (default ${TMPDIR:-/tmp}/rassflow-slurm)
#   LOCAL_SLURM_PARTITION  name of the single partition          (default local)
#   LOCAL_SLURM_WAIT       seconds to wait for the node           (default 60)
set -euo pipefail

BASE="${LOCAL_SLURM_BASE:-${TMPDIR:-/tmp}/rassflow-slurm}"
PARTITION="${LOCAL_SLURM_PARTITION:-local}"
WAIT_SECS="${LOCAL_SLURM_WAIT:-60}"
CONF=/etc/slurm/slurm.conf # the compiled-in path: every client finds it without SLURM_CONF

log() { echo "[local-slurm] $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# alive PID COMM: PID runs, is not a zombie, and is the program COMM (PIDs get reused)
alive() {
  local pid="$1" comm="$2" st
  [[ -n "$pid" && -r "/proc/$pid/comm" ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || return 1
  st="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  st="${st##*) }"
  [[ "${st%% *}" != Z ]]
}
pid_from() { [[ -s "$1" ]] && tr -dc '0-9' <"$1" || true; }

[[ $(id -u) -eq 0 ]] || die "must run as root (the daemons and apt-get need it)"

# ------------------------------------------------------------------------------ packages
pkgs=(munge slurmctld slurmd slurm-client)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get to install them"
  log "installing: ${need[*]}"
  own_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    # keep the packages' init scripts from starting daemons before there is a config
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${need[@]}" >/dev/null
  if ((own_policy)); then rm -f /usr/sbin/policy-rc.d; fi
fi

# ------------------------------------------------------------------------------ slurm.conf
mkdir -p "$BASE"/state "$BASE"/spool "$BASE"/log "$BASE"/run
HOST="$(hostname -s)"
# the hardware as slurmd detects it, e.g.
# NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
HW="$(slurmd -C 2>/dev/null | head -n1)"
hw() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$HW"; }
CPUS="$(hw CPUs)"
BOARDS="$(hw Boards)"
SPB="$(hw SocketsPerBoard)"
CPS="$(hw CoresPerSocket)"
TPC="$(hw ThreadsPerCore)"
MEM="$(hw RealMemory)"
[[ -n "$CPUS" && -n "$MEM" ]] || die "could not parse 'slurmd -C' output: $HW"
MEM=$((MEM * 90 / 100)) # MB; a RealMemory above what slurmd finds drains the node

new_conf="$(mktemp)"
trap 'rm -f "$new_conf"' EXIT
cat >"$new_conf" <<EOF
# single-node test cluster, written by start-local-slurm.sh
ClusterName=rassflow-local
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
# no systemd or cgroup delegation here: track job processes through /proc
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldPidFile=${BASE}/run/slurmctld.pid
SlurmdPidFile=${BASE}/run/slurmd.pid
SlurmdSpoolDir=${BASE}/spool
StateSaveLocation=${BASE}/state
SlurmctldLogFile=${BASE}/log/slurmctld.log
SlurmdLogFile=${BASE}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# no slurmdbd: sacct fails ("Slurm accounting storage is disabled"), clients use squeue
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue for 300 s: the snakemake slurm executor uses squeue
# only when MinJobAge >= 3 x its first status-check delay
MinJobAge=300
# a job without --mem gets 1000 MB per CPU, not the whole node
DefMemPerCPU=1000
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} Boards=${BOARDS:-1} SocketsPerBoard=${SPB:-1} CoresPerSocket=${CPS:-$CPUS} ThreadsPerCore=${TPC:-1} RealMemory=${MEM} State=UNKNOWN
PartitionName=${PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
conf_changed=0
if ! cmp -s "$new_conf" "$CONF"; then
  mkdir -p "$(dirname "$CONF")"
  install -m 0644 "$new_conf" "$CONF"
  conf_changed=1
  log "wrote $CONF"
fi

# ------------------------------------------------------------------------------ munge
if [[ ! -s /etc/munge/munge.key ]]; then
  log "creating munge key"
  install -d -o munge -g munge -m 0700 /etc/munge
  mungekey --create --keyfile=/etc/munge/munge.key --force
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
[[ -d /run/munge ]] || install -d -o munge -g munge -m 0755 /run/munge
[[ -d /var/log/munge ]] || install -d -o munge -g munge -m 0700 /var/log/munge
[[ -d /var/lib/munge ]] || install -d -o munge -g munge -m 0711 /var/lib/munge

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if munge_ok; then
  log "munged already answering"
else
  log "starting munged"
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do
    munge_ok && break
    sleep 0.2
  done
  munge_ok || die "munged did not come up (see /var/log/munge/munged.log)"
  # recorded only when this script started it, so that the stop script may end it
  pid_from /run/munge/munged.pid >"$BASE/run/munged.pid"
fi

# ------------------------------------------------------------------------------ daemons
stop_daemon() { # NAME: ends the daemon recorded in our PID file
  local pidf="$BASE/run/$1.pid" pid
  pid="$(pid_from "$pidf")"
  if alive "$pid" "$1"; then
    kill -TERM "$pid"
    for _ in $(seq 75); do
      alive "$pid" "$1" || break
      sleep 0.2
    done
    if alive "$pid" "$1"; then kill -KILL "$pid"; fi
  fi
  rm -f "$pidf"
}
start_daemon() { # NAME: the slurm daemons fork and write their PID file themselves
  local pidf="$BASE/run/$1.pid" pid
  pid="$(pid_from "$pidf")"
  if alive "$pid" "$1"; then
    log "$1 already running (pid $pid)"
    return 0
  fi
  rm -f "$pidf"
  log "starting $1"
  "/usr/sbin/$1"
  for _ in $(seq 50); do
    pid="$(pid_from "$pidf")"
    alive "$pid" "$1" && return 0
    sleep 0.2
  done
  tail -n 20 "$BASE/log/$1.log" >&2 || true
  die "$1 did not start (log: $BASE/log/$1.log)"
}

if ((conf_changed)); then # running daemons must read the new config
  stop_daemon slurmd
  stop_daemon slurmctld
fi
start_daemon slurmctld
start_daemon slurmd

# ------------------------------------------------------------------------------ wait
deadline=$((SECONDS + WAIT_SECS))
while :; do
  state="$(sinfo -h -N -n "$HOST" -o %t 2>/dev/null | head -n1 || true)"
  case "$state" in
    idle | mix | alloc) break ;;
    drain* | drng* | down*) scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  if ((SECONDS >= deadline)); then
    tail -n 20 "$BASE/log/slurmctld.log" "$BASE/log/slurmd.log" >&2 || true
    die "node $HOST not usable after ${WAIT_SECS}s (state '${state}')"
  fi
  sleep 0.5
done
# a node restored from saved state can show idle before slurmd has registered: a real job
# step proves the whole chain works
until timeout 20 srun -N1 -n1 -t 1 -p "$PARTITION" true >/dev/null 2>&1; do
  ((SECONDS < deadline)) || die "test job step (srun true) did not run within ${WAIT_SECS}s"
  sleep 1
done
sinfo
log "cluster up: partition '$PARTITION', node '$HOST' ($state), ${CPUS} CPUs, ${MEM} MB"
