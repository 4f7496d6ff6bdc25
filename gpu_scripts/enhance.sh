#!/usr/bin/env bash
# Pixtral prompt upsampler: inputs/prompt.txt + inputs/context.mp4 -> outputs/enhanced_prompt.txt
# The prompt is read from a file into one argument: it never passes through shell parsing.
set -euo pipefail
read -ra offload <<< "${OFFLOAD_FLAGS:-}"
prompt=$(cat inputs/prompt.txt)
torchrun --nproc_per_node=1 --nnodes=1 --node_rank=0 --master_port="$MASTER_PORT" \
  "$COSMOS_DIR/cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py" \
  --prompt "$prompt" \
  --input_video inputs/context.mp4 \
  --checkpoint_dir "$CHECKPOINT_DIR" \
  "${offload[@]}" | tee outputs/upsampler.log
grep -m 1 '^Upsampled prompt: ' outputs/upsampler.log | sed 's/^Upsampled prompt: //' | tr -d '\n' \
  > outputs/enhanced_prompt.txt
[[ -s outputs/enhanced_prompt.txt ]] || { echo "no 'Upsampled prompt:' line in the upsampler output" >&2; exit 1; }
