#!/usr/bin/env bash
# Cosmos Transfer, single run: spec.json -> outputs/output.mp4 + outputs/output.txt
set -euo pipefail
source ./lib.sh
transfer_py --video_save_name output
