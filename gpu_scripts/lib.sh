#!/usr/bin/env bash
# Shared by the task scripts (sourced; linked into every job folder next to them).

# NVIDIA's launch pattern: torchrun with one process per GPU (--nproc_per_node = --num_gpus), a
# master port of its own per job, run from the job folder so the spec's relative paths resolve.
transfer_py() {
  local offload
  read -ra offload <<< "${OFFLOAD_FLAGS:-}"
  torchrun --nproc_per_node="$NUM_GPUS" --nnodes=1 --node_rank=0 --master_port="$MASTER_PORT" \
    "$COSMOS_DIR/cosmos_transfer1/diffusion/inference/transfer.py" \
    --checkpoint_dir "$CHECKPOINT_DIR" \
    --controlnet_specs spec.json \
    --video_save_folder outputs \
    --num_gpus "$NUM_GPUS" \
    "${offload[@]}" \
    "$@"
}
