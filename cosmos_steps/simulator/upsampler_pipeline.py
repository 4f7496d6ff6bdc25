#!/usr/bin/env python3
"""SIMULATOR stand-in for NVIDIA's Pixtral prompt upsampler
(cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py).

NOT a language model: it prints `Upsampled prompt: <text>` where the text is the short prompt plus a
deterministic description of the context video (size, frame count), the same stdout contract as
NVIDIA's script. Like NVIDIA's, it must run under torchrun (it reads RANK).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # symlinked into the job
from sim_media import probe  # noqa: E402

# NVIDIA's upsampler reads at most two frames of a context video of bounded size.
MAX_CONTEXT_PIXELS = 1280 * 720


def main(argv: list[str] | None = None) -> int:
    """Entry point with NVIDIA's command line."""
    parser = argparse.ArgumentParser(description="Prompt upsampler (SIMULATOR)")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--input_video", required=True)
    parser.add_argument("--checkpoint_dir", default="checkpoints")
    parser.add_argument("--offload_prompt_upsampler", action="store_true")
    args = parser.parse_args(argv)
    os.environ["RANK"]  # NVIDIA's __main__ reads the torchrun variables (KeyError without torchrun)
    print("COSMOS SIMULATOR: stand-in for the Pixtral prompt upsampler, no model runs", flush=True)
    info = probe(os.environ.get("COSMOS_SIM_FFMPEG", "ffmpeg"), args.input_video)
    if info["width"] * info["height"] > MAX_CONTEXT_PIXELS:
        print(f"context video too large: {info['width']}x{info['height']}", file=sys.stderr)
        return 1
    text = (
        f"{args.prompt.strip()} The scene is shown in photorealistic detail with natural light and "
        f"cinematic camera motion (simulated upsampling of a {info['width']}x{info['height']} "
        f"context, {info['frames']} frames)."
    )
    print(f"Upsampled prompt: {text}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
