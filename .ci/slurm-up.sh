#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for CI (run as root, Debian; no systemd needed):
# installs slurm-wlm and munge when missing, writes /etc/slurm/slurm.conf and gres.conf, starts
# munged, slurmctld and slurmd in the foreground of background shells (PIDs in $SLURM_CI_DIR),
# waits until the node is idle and checks that a GPU job sees CUDA_VISIBLE_DEVICES.
# Stop everything with .ci/slurm-down.sh.
#
# The node is shaped like a GPU node (16 CPUs, 128 GB, two GPUs backed by dummy device files;
# SlurmdParameters=config_overrides lets slurmd accept more than this machine has), so the jobs
# of profiles/slurm schedule with the profile's own resources. No accounting (no slurmdbd): the
# demo asks the SLURM plugin to check job status with squeue (see .ci/slurm-demo.sh).
set -euo pipefail
STATE=${SLURM_CI_DIR:-/tmp/cosmos-slurm-ci}
# The compiled-in location: the plugin's job step drops SLURM_CONF from the job's environment.
CONF_DIR=/etc/slurm
MARK="# Written by cosmos-workflow .ci/slurm-up.sh (a one-node CI cluster)."

say() { printf '[slurm-up %3ds] %s\n' "$SECONDS" "$*"; }

wait_for() {
  local what=$1
  shift
  for _ in $(seq 100); do
    if "$@" > /dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "slurm-up: $what not ready after 20 s; logs in $STATE/log" >&2
  exit 1
}

install_packages() {
  if [[ -x /usr/sbin/slurmctld && -x /usr/sbin/slurmd && -x /usr/sbin/munged ]]; then return; fi
  say "apt-get install slurm-wlm munge"
  export DEBIAN_FRONTEND=noninteractive
  local policy=/usr/sbin/policy-rc.d added=0
  if [[ ! -e $policy ]]; then # keep the packages' scripts from starting the daemons themselves
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && added=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge > /dev/null
  if [[ $added == 1 ]]; then rm -f "$policy"; fi
}

write_config() {
  if [[ -e $CONF_DIR/slurm.conf ]] && ! grep -qF "$MARK" "$CONF_DIR/slurm.conf"; then
    echo "slurm-up: $CONF_DIR/slurm.conf was not written by this script; leaving it alone" >&2
    exit 1
  fi
  mkdir -p "$CONF_DIR" "$STATE/state" "$STATE/spool" "$STATE/log"
  local gpu
  for gpu in 0 1; do # dummy GPU devices: twins of /dev/null
    [[ -e $STATE/gpu$gpu ]] || mknod "$STATE/gpu$gpu" c 1 3
  done
  cat > "$CONF_DIR/slurm.conf" << EOF
$MARK
ClusterName=cosmos-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pidfile
SlurmdPidFile=$STATE/slurmd.pidfile
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ReturnToService=2
# squeue sees finished jobs this long; the plugin wants >= 3 x its first status-check delay.
MinJobAge=300
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=16 RealMemory=128000 Gres=gpu:2 State=UNKNOWN
PartitionName=gpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  cat > "$CONF_DIR/gres.conf" << EOF
$MARK
AutoDetect=off
NodeName=localhost Name=gpu File=$STATE/gpu[0-1]
EOF
}

# start NAME COMMAND...: run a daemon in the foreground of a background shell, keep its PID.
start() {
  local name=$1 pidfile=$STATE/$1.pid
  shift
  if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2> /dev/null; then
    say "$name already running"
    return
  fi
  "$@" > "$STATE/log/$name.out" 2>&1 &
  echo $! > "$pidfile"
}

node_idle() { [[ $(sinfo -h -n localhost -o %t) == idle ]]; }

install_packages
say "write $CONF_DIR/slurm.conf and gres.conf (state in $STATE)"
write_config
[[ -s /etc/munge/munge.key ]] || mungekey --create --force
install -d -m 0755 -o munge -g munge /run/munge
# setpriv execs munged, so $! is munged itself (runuser would fork and leave a zombie).
start munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
wait_for munged bash -c 'munge -n | unmunge'
start slurmctld /usr/sbin/slurmctld -D
start slurmd /usr/sbin/slurmd -D -N localhost
wait_for "the node (sinfo: idle)" node_idle
visible=$(srun --gres=gpu:1 printenv CUDA_VISIBLE_DEVICES)
[[ $visible =~ ^[01]$ ]] || {
  echo "slurm-up: a --gres=gpu:1 job saw CUDA_VISIBLE_DEVICES='$visible'" >&2
  exit 1
}
say "up: $(sinfo -h -o '%P %D node(s) %c CPUs %G %t'); a GPU job sees CUDA_VISIBLE_DEVICES=$visible"
