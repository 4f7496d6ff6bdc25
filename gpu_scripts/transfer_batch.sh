#!/usr/bin/env bash
# Cosmos Transfer, batch: spec.json (shared controls and params) + batch.jsonl (one run per line)
# -> outputs/video_<N>/output.mp4 + prompt.txt. batch_size 1 keeps line N -> video_N deterministic.
set -euo pipefail
source ./lib.sh
transfer_py --batch_input_path batch.jsonl --batch_size 1
