#!/usr/bin/env bash
# The demo workflow on the cluster of .ci/slurm-up.sh with `snakemake --profile profiles/slurm`
# (simulated GPU host, local transport: each GPU job runs inside its SLURM job), then checks the
# results and the database (.ci/slurm_demo.py check).
#
#   SLURM_DEMO=generated (default)  a small project made by .ci/slurm_demo.py in a temp folder
#   SLURM_DEMO=repo                 the repository's own config.yaml and specs/, in place
#   PYTHON                          the interpreter with Snakemake and the SLURM plugin
#                                   (default: .venv/bin/python, which `make test` installs)
#
# The profile is used unchanged except for two flags this cluster needs because it has no
# accounting (no slurmdbd): job status from squeue instead of sacct (sacct would fail and the run
# would never end), and a first status check after 2 s instead of 40 s (MinJobAge=300 >= 3 x 2).
# The database lives where a cluster's shared filesystem would be: journal_mode=delete.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
DEMO=${SLURM_DEMO:-generated}
TIMEOUT=${SLURM_DEMO_TIMEOUT:-300}

say() { printf '[slurm-demo %3ds] %s\n' "$SECONDS" "$*"; }

case $DEMO in
  generated)
    PROJECT=$(mktemp -d /tmp/cosmos-slurm-demo.XXXXXX)
    "$PYTHON" "$REPO/.ci/slurm_demo.py" make "$PROJECT"
    ;;
  repo) PROJECT=$REPO ;;
  *)
    echo "slurm-demo: SLURM_DEMO must be generated or repo, not '$DEMO'" >&2
    exit 2
    ;;
esac

say "snakemake --profile profiles/slurm in $PROJECT"
log=$PROJECT/snakemake-slurm.log
# timeout -k: on SIGTERM Snakemake waits for its running jobs, so SIGKILL follows after 10 s.
if ! (cd "$PROJECT" && timeout -k 10 "$TIMEOUT" "$PYTHON" -m snakemake -s "$REPO/Snakefile" \
  --profile "$REPO/profiles/slurm" --slurm-status-command squeue \
  --slurm-init-seconds-before-status-checks 2 --config journal_mode=delete > "$log" 2>&1); then
  tail -n 60 "$log"
  find "$PROJECT/.snakemake/slurm_logs" -name '*.log' -exec tail -n 20 {} + 2> /dev/null || true
  echo "slurm-demo: snakemake failed (full log: $log)" >&2
  exit 1
fi
say "snakemake done; checking results and database"
"$PYTHON" "$REPO/.ci/slurm_demo.py" check "$PROJECT"
say "passed"
