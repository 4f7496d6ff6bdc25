#!/usr/bin/env bash
# Stop the cluster of .ci/slurm-up.sh: cancel its jobs, then stop slurmd, slurmctld and munged by
# the PIDs slurm-up.sh kept (SIGTERM, SIGKILL after 10 s). Safe to run when nothing is up.
set -euo pipefail
STATE=${SLURM_CI_DIR:-/tmp/cosmos-slurm-ci}

stop() {
  local name=$1 pidfile=$STATE/$1.pid pid
  [[ -s $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  rm -f "$pidfile"
  kill "$pid" 2> /dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2> /dev/null || {
      echo "stopped $name ($pid)"
      return 0
    }
    sleep 0.1
  done
  echo "$name ($pid) still running after 10 s: SIGKILL"
  kill -9 "$pid" 2> /dev/null || true
}

if [[ -s $STATE/slurmctld.pid ]]; then
  mapfile -t jobs < <(squeue -h -o %A 2> /dev/null)
  if ((${#jobs[@]})); then
    echo "cancelling SLURM jobs ${jobs[*]}"
    scancel "${jobs[@]}" || true
    sleep 2
  fi
fi
for daemon in slurmd slurmctld munged; do
  stop "$daemon"
done
