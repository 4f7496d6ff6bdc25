#!/usr/bin/env bash
# Runs one Cosmos job on the GPU host, detached from any SSH session (started by jobctl.sh).
# Usage: job.sh JOB_DIR
# Writes JOB_DIR/state/{pid,heartbeat,started_at,finished_at,exit_code} and JOB_DIR/job.log, and
# records the exit code even when the model fails. outputs.manifest lists "sha256 bytes path" of
# every output so the client can verify its downloads.
set -euo pipefail
job_dir=$1
cd "$job_dir"
mkdir -p state outputs

write_state() { # write_state NAME VALUE: atomic (temp file + rename)
  printf '%s\n' "$2" > "state/$1.tmp" && mv -f "state/$1.tmp" "state/$1"
}

write_state pid "$$"
write_state started_at "$(date +%s.%N)"
(
  while true; do
    write_state heartbeat "$(date +%s)"
    sleep "${COSMOS_HEARTBEAT_SECONDS:-5}"
  done
) &
heartbeat_pid=$!

set +e
(
  set -a
  # shellcheck disable=SC1091
  source ./job.env
  set +a
  if [[ -n "${PATH_PREFIX:-}" ]]; then export PATH="$PATH_PREFIX:$PATH"; fi
  if [[ -n "${COSMOS_DIR:-}" ]]; then export PYTHONPATH="$COSMOS_DIR${PYTHONPATH:+:$PYTHONPATH}"; fi
  echo "[cosmos-workflow] job $(basename "$job_dir") on $(hostname): task $(head -n 2 task.sh | tail -n 1)"
  bash ./task.sh
) >> job.log 2>&1
code=$?
set -e
kill "$heartbeat_pid" 2> /dev/null || true

(
  cd outputs
  find . -type f -print0 | sort -z | while IFS= read -r -d '' file; do
    printf '%s %s %s\n' "$(sha256sum < "$file" | cut -d' ' -f1)" "$(stat -c %s "$file")" "${file#./}"
  done
) > state/outputs.manifest.tmp
mv -f state/outputs.manifest.tmp state/outputs.manifest
write_state finished_at "$(date +%s.%N)"
echo "[cosmos-workflow] exit code $code" >> job.log
write_state exit_code "$code"
