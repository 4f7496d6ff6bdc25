#!/usr/bin/env bash
# Cosmos Transfer 4K upscaler: spec.json holds {"upscale": {"control_weight": w}, "num_steps": n};
# batch.jsonl has one line per video, run back to back so the model loads once (NVIDIA forces
# batch_size 1 with upscale) -> outputs/video_<N>/output.mp4 (3x the 720p bucket: 3840x2112).
set -euo pipefail
source ./lib.sh
transfer_py --batch_input_path batch.jsonl --batch_size 1
