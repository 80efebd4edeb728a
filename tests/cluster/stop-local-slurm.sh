#!/usr/bin/env bash
# stop-local-slurm.sh - stop the daemons that start-local-slurm.sh started, found through its
# PID files only (never by process name).  Jobs still on the cluster are cancelled first so
# that no slurmstepd is left behind.  The state directory is kept for the next start.
set -uo pipefail

BASE="${LOCAL_SLURM_BASE:-${TMPDIR:-/tmp}/rassflow-slurm}"

log() { echo "[local-slurm] $*" >&2; }
alive() {
  local pid="$1" comm="$2" st
  [[ -n "$pid" && -r "/proc/$pid/comm" ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || return 1
  st="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  st="${st##*) }"
  [[ "${st%% *}" != Z ]]
}
pid_from() { [[ -s "$1" ]] && tr -dc '0-9' <"$1" || true; }

stop_daemon() { # NAME: ends the daemon recorded in our PID file
  local pidf="$BASE/run/$1.pid" pid
  pid="$(pid_from "$pidf")"
  if alive "$pid" "$1"; then
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 75); do
      alive "$pid" "$1" || break
      sleep 0.2
    done
    if alive "$pid" "$1"; then
      log "$1 ignored SIGTERM, sending SIGKILL"
      kill -KILL "$pid"
    fi
  else
    log "$1 not running (no live PID in $pidf)"
  fi
  rm -f "$pidf"
}

if alive "$(pid_from "$BASE/run/slurmctld.pid")" slurmctld; then
  mapfile -t jobs < <(squeue -h -o %i 2>/dev/null || true)
  if ((${#jobs[@]})); then
    log "cancelling jobs: ${jobs[*]}"
    scancel "${jobs[@]}" || true
    for _ in $(seq 50); do
      [[ -z "$(squeue -h -t R,CG,PD -o %i 2>/dev/null)" ]] && break
      sleep 0.2
    done
  fi
fi

stop_daemon slurmd
stop_daemon slurmctld
stop_daemon munged # its PID file exists only if start-local-slurm.sh started it

# Our slurm.conf goes too (start-local-slurm.sh writes it again): with a configuration that
# names a controller that is gone, every SLURM client waits ~9 s before it gives up, and so
# does every Snakemake start while the slurm executor plugin is installed (it runs
# `scontrol show config` at import).
CONF=/etc/slurm/slurm.conf
if [[ -f "$CONF" ]] && grep -q "$BASE/state" "$CONF"; then
  rm -f "$CONF"
  log "removed $CONF"
fi
exit 0
