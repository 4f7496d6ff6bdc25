#!/usr/bin/env bash
# Cosmos Transfer, single run: spec.json -> outputs/output.mp4 + outputs/output.txt
set -euo pipefail
read -ra offload <<< "${OFFLOAD_FLAGS:-}"
torchrun --nproc_per_node="$NUM_GPUS" --nnodes=1 --node_rank=0 --master_port="$MASTER_PORT" \
  "$COSMOS_DIR/cosmos_transfer1/diffusion/inference/transfer.py" \
  --checkpoint_dir "$CHECKPOINT_DIR" \
  --controlnet_specs spec.json \
  --video_save_folder outputs \
  --video_save_name output \
  --num_gpus "$NUM_GPUS" \
  "${offload[@]}"
