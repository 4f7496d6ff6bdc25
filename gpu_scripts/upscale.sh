#!/usr/bin/env bash
# Cosmos Transfer 4K upscaler: spec.json holds {"upscale": {"control_weight": w}, "num_steps": n};
# batch.jsonl has one line per video to upscale, run back to back so the model loads once
# (NVIDIA forces batch_size 1 with upscale). -> outputs/video_<N>/output.mp4
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
