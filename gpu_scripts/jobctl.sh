#!/usr/bin/env bash
# Controls Cosmos jobs on a GPU host. Every argument arrives quoted (never built from user text).
#   jobctl.sh start JOB_DIR --detach CMD...   start CMD once under setsid (prints started|exists)
#   jobctl.sh start JOB_DIR --direct CMD...    run CMD once in the foreground, e.g. docker run -d
#   jobctl.sh status JOB_DIR [--container NAME] [--sudo] [--wait-ms MS]   key=value lines (state,
#                                             exit_code, ...); --wait-ms: first wait up to MS for
#                                             the job to end (a poll that ends when the job does)
#   jobctl.sh cancel JOB_DIR [--container NAME] [--sudo]   stop the job, mark it cancelled
#                                             (a job cancelled before it started never starts)
#   jobctl.sh remove JOB_DIR                  delete a finished job folder
#   jobctl.sh gc ROOT DAYS [--dry-run]        delete blobs unused for DAYS that no job folder
#                                             links to; prints "bytes<TAB>path" per blob
#   jobctl.sh list JOBS_DIR [--container-prefix P] [--sudo]   "job<TAB>state<TAB>heartbeat_age"
#                                             per job (container of a job = P + job id)
set -euo pipefail
action=$1
job_dir=$2
shift 2
state="$job_dir/state"
container=""
container_prefix=""
docker=(docker)
wait_ms=0

parse_options() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --container) container=$2; shift 2 ;;
      --container-prefix) container_prefix=$2; shift 2 ;;
      --sudo) docker=(sudo -n docker); shift ;;
      --wait-ms) wait_ms=$2; shift 2 ;;
      *) echo "jobctl: unknown option $1" >&2; exit 2 ;;
    esac
  done
}

alive() { # is the job's process (or container) still there?
  if [[ -n "$container" ]]; then
    [[ "$("${docker[@]}" inspect -f '{{.State.Running}}' "$container" 2> /dev/null)" == true ]]
  elif [[ -f "$state/pid" ]]; then
    kill -0 "$(cat "$state/pid")" 2> /dev/null
  else
    [[ -f "$state/launcher_pid" ]] && kill -0 "$(cat "$state/launcher_pid")" 2> /dev/null
  fi
}

state_of() { # cancelled, finished, launch_failed, running or dead
  # Liveness first, files second: a job that ends in between has written exit_code already.
  local running=false
  if alive; then running=true; fi
  if [[ -f "$state/cancelled" ]]; then
    echo cancelled
  elif [[ -f "$state/exit_code" ]]; then
    echo finished
  elif [[ -f "$state/launch_failed" ]]; then
    echo launch_failed
  elif $running; then
    echo running
  else
    echo dead
  fi
}

wait_for_end() { # until the job has ended or about wait_ms have passed (checks 5 times a second)
  local waited
  for ((waited = 0; waited < wait_ms; waited += 200)); do
    [[ -f "$state/exit_code" || -f "$state/cancelled" || -f "$state/launch_failed" ]] && return
    sleep 0.2
  done
}

heartbeat_age() { # seconds since the job's last heartbeat (or its launch)
  local beat
  beat=$(cat "$state/heartbeat" 2> /dev/null || cat "$state/launched_at" 2> /dev/null || echo "$now")
  echo $((now - beat))
}

case "$action" in
  start)
    mkdir -p "$state"
    if [[ -f "$state/cancelled" ]] || ! mkdir "$state/launch" 2> /dev/null; then
      echo exists # started by another process, or cancelled before it started
      exit 0
    fi
    date +%s > "$state/launched_at"
    mode=$1
    shift
    if [[ "$mode" == --detach ]]; then
      setsid nohup "$@" > "$state/launcher.log" 2>&1 < /dev/null &
      echo $! > "$state/launcher_pid"
    elif ! "$@" > "$state/launcher.log" 2>&1; then
      cat "$state/launcher.log" >&2
      echo "launch failed" > "$state/launch_failed"
      exit 3
    fi
    echo started
    ;;
  status)
    parse_options "$@"
    if [[ ! -d "$state/launch" && ! -f "$state/cancelled" ]]; then
      echo state=absent
      exit 0
    fi
    wait_for_end
    now=$(date +%s)
    echo "log_size=$(stat -c %s "$job_dir/job.log" 2> /dev/null || echo 0)"
    echo "heartbeat_age=$(heartbeat_age)"
    # The state first: a job that finishes meanwhile has its files written when they are read.
    echo "state=$(state_of)"
    for name in started_at finished_at exit_code; do
      if [[ -f "$state/$name" ]]; then echo "$name=$(cat "$state/$name")"; fi
    done
    ;;
  list)
    parse_options "$@"
    now=$(date +%s)
    for dir in "$job_dir"/*/; do
      state="${dir%/}/state"
      [[ -d "$state/launch" ]] || continue
      job=$(basename "$dir")
      [[ -n "$container_prefix" ]] && container="$container_prefix$job"
      printf '%s\t%s\t%s\n' "$job" "$(state_of)" "$(heartbeat_age)"
    done
    ;;
  cancel)
    parse_options "$@"
    mkdir -p "$state"
    date +%s > "$state/cancelled"
    if [[ -n "$container" ]]; then
      "${docker[@]}" stop -t 20 "$container" > /dev/null 2>&1 || true
    fi
    for pid_file in "$state/pid" "$state/launcher_pid"; do
      if [[ -f "$pid_file" ]]; then
        pid=$(cat "$pid_file")
        kill -TERM -- "-$pid" 2> /dev/null || kill -TERM "$pid" 2> /dev/null || true
      fi
    done
    echo cancelled
    ;;
  remove)
    [[ -f "$state/exit_code" || -f "$state/cancelled" || -f "$state/launch_failed" ]] || {
      echo "jobctl: refusing to remove unfinished job $job_dir" >&2
      exit 4
    }
    rm -rf -- "$job_dir"
    echo removed
    ;;
  gc)
    days=$1
    dry=${2:-}
    root=$job_dir
    [[ "$days" =~ ^[0-9]+$ ]] || { echo "jobctl: gc needs a number of days" >&2; exit 2; }
    [[ -d "$root/blobs" ]] || exit 0
    # Blobs still linked from a job folder (or the simulator tree) are in use.
    declare -A used=()
    while IFS= read -r target; do
      used["$(basename "$target")"]=1
    done < <(find "$root/jobs" "$root/simulator" -type l -printf '%l\n' 2> /dev/null)
    while IFS= read -r -d '' blob; do
      name=$(basename "$blob")
      [[ -n "${used[$name]:-}" ]] && continue
      printf '%s\t%s\n' "$(stat -c %s "$blob")" "$blob"
      [[ "$dry" == --dry-run ]] || rm -f -- "$blob"
    done < <(find "$root/blobs" -maxdepth 1 -type f -mtime "+$days" -print0)
    ;;
  *)
    echo "jobctl: unknown action $action" >&2
    exit 2
    ;;
esac
