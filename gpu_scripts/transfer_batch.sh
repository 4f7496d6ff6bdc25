#!/usr/bin/env bash
# Cosmos Transfer, batch: spec.json (shared controls and params) + batch.jsonl (one run per line)
# -> outputs/video_<N>/output.mp4 + prompt.txt. batch_size 1 keeps line N -> video_N deterministic.
set -euo pipefail
read -ra offload <<< "${OFFLOAD_FLAGS:-}"
torchrun --nproc_per_node="$NUM_GPUS" --nnodes=1 --node_rank=0 --master_port="$MASTER_PORT" \
  "$COSMOS_DIR/cosmos_transfer1/diffusion/inference/transfer.py" \
  --checkpoint_dir "$CHECKPOINT_DIR" \
  --controlnet_specs spec.json \
  --batch_input_path batch.jsonl \
  --batch_size 1 \
  --video_save_folder outputs \
  --num_gpus "$NUM_GPUS" \
  "${offload[@]}"
