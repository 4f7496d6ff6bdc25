#!/usr/bin/env python3
"""SIMULATOR stand-in for NVIDIA's cosmos_transfer1/diffusion/inference/transfer.py.

This is NOT a generative model. It accepts the same command line and reads the same spec JSON /
batch JSONL as NVIDIA's script, checks them the way NVIDIA's code does, and writes files with the
names, frame count, fps and resolution Cosmos Transfer 1 would produce. The pixels are an ffmpeg
composite of the input and control videos weighted by the control weights (hue shifted by the seed),
so tests can see that every control, weight and parameter reached "the model". Everything it
received is written to `<video_save_folder>/simulator_record.json`.

Stand-alone on purpose (stdlib + an ffmpeg binary): it is uploaded to the GPU host with each job.
Knobs (environment): COSMOS_SIM_LOAD_SECONDS, COSMOS_SIM_SECONDS_PER_FRAME, COSMOS_SIM_SCALE,
COSMOS_SIM_FAIL (none|oom|guardrail|crash), COSMOS_SIM_DROP_LINES ("0,3"), COSMOS_SIM_FFMPEG.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # symlinked into the job
from sim_media import bucket_size, even, probe, run_ffmpeg  # noqa: E402

BANNER = "COSMOS SIMULATOR: stand-in for NVIDIA Cosmos Transfer, no model runs (ffmpeg composites)"
VALID_HINTS = ("vis", "seg", "edge", "depth", "keypoint", "upscale", "hdmap", "lidar")
PRESETS = ("very_low", "low", "medium", "high", "very_high")
MAX_FRAMES = 5000
DEFAULT_PROMPT = "The video captures a stunning, photorealistic scene with 4K movie quality."
DEFAULT_NEGATIVE = (
    "The video captures a game playing, with bad crappy graphics and cartoonish frames."
)
GENERATED_CONTROL_FILTERS = {
    "vis": "boxblur=6:2",
    "edge": "format=gray,edgedetect=low=0.1:high=0.3,format=yuv420p",
    "depth": "format=gray,boxblur=10:2,format=yuv420p",
    "seg": "format=rgb24,lutrgb=r='bitand(val,192)':g='bitand(val,192)':b='bitand(val,192)'",
    "keypoint": "format=gray,edgedetect=low=0.3:high=0.6,format=yuv420p",
}


def log(message: str, level: str = "INFO") -> None:
    """Print a line in NVIDIA's log format."""
    stamp = time.strftime("%m-%d %H:%M:%S")
    print(f"[{stamp}|{level}|transfer.py] {message}", flush=True)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """NVIDIA's flags, defaults and spec-JSON merge rule (JSON beats defaults, CLI beats JSON)."""
    parser = argparse.ArgumentParser(description="Cosmos Transfer 1 (SIMULATOR)")
    parser.add_argument("--controlnet_specs", required=True)
    parser.add_argument("--checkpoint_dir", default="checkpoints")
    parser.add_argument("--tokenizer_dir", default="Cosmos-Tokenize1-CV8x8x8-720p")
    parser.add_argument("--input_video_path", default="")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--negative_prompt", default=DEFAULT_NEGATIVE)
    parser.add_argument("--num_input_frames", type=int, default=1, choices=[1])
    parser.add_argument("--sigma_max", type=float, default=70.0)
    parser.add_argument("--blur_strength", default="medium", choices=PRESETS)
    parser.add_argument("--canny_threshold", default="medium", choices=PRESETS)
    parser.add_argument("--is_av_sample", action="store_true")
    parser.add_argument("--video_save_name", default="output")
    parser.add_argument("--video_save_folder", default="outputs/")
    parser.add_argument("--batch_input_path", default=None)
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--num_steps", type=int, default=35)
    parser.add_argument("--guidance", type=float, default=5)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num_gpus", type=int, default=1)
    for flag in (
        "offload_diffusion_transformer",
        "offload_text_encoder_model",
        "offload_guardrail_models",
        "upsample_prompt",
        "offload_prompt_upsampler",
        "use_distilled",
        "save_input_noise",
        "benchmark",
    ):
        parser.add_argument(f"--{flag}", action="store_true")
    args = parser.parse_args(argv)
    with open(args.controlnet_specs, encoding="utf-8") as handle:
        spec = json.load(handle)
    args.hints = {}
    for key, value in spec.items():
        if isinstance(value, dict):
            if key not in VALID_HINTS:
                raise ValueError(f"Invalid hint_key {key}, must be one of {VALID_HINTS}")
            args.hints[key] = value
        elif f"--{key}" not in argv:
            setattr(args, key, value)
    return args


def validate(args: argparse.Namespace) -> None:
    """The checks NVIDIA's validate_controlnet_specs makes before loading the model."""
    nproc = int(os.environ.get("WORLD_SIZE", "1"))
    if nproc != args.num_gpus:
        raise ValueError(f"--num_gpus {args.num_gpus} != torchrun --nproc_per_node {nproc}")
    if not args.input_video_path and args.sigma_max < 80:
        raise ValueError("Must have 'input_video' specified if sigma_max < 80")
    for hint, block in args.hints.items():
        if not args.input_video_path and not block.get("input_control"):
            raise ValueError(
                f"{hint} controlnet must have 'input_control' video specified "
                "if no 'input_video' specified."
            )
        weight = block.get("control_weight", 0.5)
        if isinstance(weight, str) and not weight.endswith(".pt"):
            weight = float(weight)
        if not isinstance(weight, str) and weight < 0:
            raise ValueError(
                f"Control weight for {hint} must be a valid non-negative float "
                "or a path to a .pt file."
            )


def samples(args: argparse.Namespace) -> list[dict]:
    """One dict per video to generate: prompt, input video, controls (with overrides applied)."""
    if not args.batch_input_path:
        return [{"prompt": args.prompt, "video": args.input_video_path, "hints": args.hints}]
    out = []
    with open(args.batch_input_path, encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line.strip())
            hints = {name: dict(block) for name, block in args.hints.items()}
            for name, override in (item.get("control_overrides") or {}).items():
                if name in hints:
                    hints[name].update(override)
                else:
                    log(f"control_overrides for {name} ignored: not in the spec", "WARNING")
            video = item.get("visual_input", args.input_video_path)
            out.append({"prompt": item.get("prompt"), "video": video, "hints": hints})
    return out


# Emulated GPU memory (GB) the model needs, and what each NVIDIA offload flag saves:
# the T5-11B text encoder, the Llama-Guard-3-8B guardrail, the 7B diffusion transformer.
OFFLOAD_SAVINGS_GB = {
    "offload_text_encoder_model": 22.0,
    "offload_guardrail_models": 16.0,
    "offload_diffusion_transformer": 14.0,
}


def out_of_memory(args: argparse.Namespace) -> bool:
    """Does the emulated model fit the emulated GPU (COSMOS_SIM_MODEL_MEMORY_GB, 0 = always)?"""
    need = float(os.environ.get("COSMOS_SIM_MODEL_MEMORY_GB", "0"))
    if need <= 0:
        return False
    need -= sum(gb for flag, gb in OFFLOAD_SAVINGS_GB.items() if getattr(args, flag))
    return need > float(os.environ.get("COSMOS_SIM_GPU_MEMORY_GB", "80"))


def fail_if_asked(stage: str, args: argparse.Namespace) -> None:
    """Failure injection: emulate the messages and exit codes of real failures."""
    mode = os.environ.get("COSMOS_SIM_FAIL", "none")
    if stage == "load" and (mode == "oom" or out_of_memory(args)):
        log("Loading checkpoint into the DiT", "INFO")
        print("Traceback (most recent call last):", file=sys.stderr)
        print(
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. "
            "GPU 0 has a total capacity of 79.10 GiB of which 1.06 GiB is free. (SIMULATED)",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)
    if mode == "guardrail" and stage == "generate":
        log("Input text prompt 1 is not safe. (SIMULATED)", "CRITICAL")
        log("Guardrail blocked generation for entire batch.", "CRITICAL")
        print("TypeError: cannot unpack non-iterable NoneType object", file=sys.stderr, flush=True)
        sys.exit(1)
    if mode == "crash" and stage == "generate":
        print("Segmentation fault (core dumped) (SIMULATED)", file=sys.stderr, flush=True)
        sys.exit(139)


def generate_control(ffmpeg: str, hint: str, video: str, folder: Path, fps: int) -> str:
    """Write `<hint>_input_control_0.mp4` as NVIDIA's preprocessors would (vis/edge at 30 fps)."""
    path = folder / f"{hint}_input_control_0.mp4"
    rate = 30 if hint in ("vis", "edge") else fps
    vf = GENERATED_CONTROL_FILTERS[hint] + ",format=yuv420p"
    run_ffmpeg(
        ffmpeg,
        [
            "-i",
            video,
            "-vf",
            vf,
            "-r",
            str(rate),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(path),
        ],
    )
    return str(path)


def compose(
    ffmpeg: str,
    args: argparse.Namespace,
    sample: dict,
    out: Path,
    size: tuple[int, int],
    frames: int,
) -> dict:
    """Write the output video: base video plus weighted controls, hue shifted by the seed."""
    width, height = size
    scale = f"scale={width}:{height}:flags=bicubic,setsar=1,format=yuv420p,setpts=N/({args.fps}*TB)"
    inputs: list[str] = []
    chains: list[str] = []
    weights: list[float] = []
    controls = {
        hint: block
        for hint, block in sample["hints"].items()
        if hint != "upscale" and isinstance(block.get("control_weight", 0.5), int | float)
    }
    total = sum(float(block.get("control_weight", 0.5)) for block in controls.values())
    norm = max(total, 1.0)
    if sample["video"]:
        inputs += ["-i", sample["video"]]
    else:
        inputs += ["-f", "lavfi", "-i", f"color=c=black:s={width}x{height}:r={args.fps}"]
    chains.append(f"[0:v]{scale},hue=h={(args.seed * 47) % 360}[in0]")
    weights.append(max(1.0 - total / norm, 0.0) if controls else 1.0)
    for index, (_, block) in enumerate(sorted(controls.items()), start=1):
        inputs += ["-i", block["input_control"]]
        chains.append(f"[{index}:v]{scale}[in{index}]")
        weights.append(float(block.get("control_weight", 0.5)) / norm)
    if sum(weights) == 0:
        weights[0] = 1.0
    labels = "".join(f"[in{i}]" for i in range(len(weights)))
    mix = " ".join(f"{w:.4f}" for w in weights)
    merge = (
        f"mix=inputs={len(weights)}:weights='{mix}':duration=longest"
        if len(weights) > 1
        else "null"
    )
    graph = ";".join(chains) + f";{labels}{merge}"
    run_ffmpeg(
        ffmpeg,
        [
            *inputs,
            "-filter_complex",
            graph + ",format=yuv420p[out]",
            "-map",
            "[out]",
            "-frames:v",
            str(frames),
            "-r",
            str(args.fps),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "23",
            "-metadata",
            "comment=cosmos-workflow SIMULATOR output (not a generative model)",
            str(out),
        ],
    )
    return {hint: float(block.get("control_weight", 0.5)) for hint, block in controls.items()}


def run_sample(
    ffmpeg: str, args: argparse.Namespace, index: int, sample: dict, folder: Path, name: str
) -> dict:
    """Generate one video (or skip it when asked to drop this line) and describe it."""
    folder.mkdir(parents=True, exist_ok=True)
    for hint, block in sample["hints"].items():
        if hint in GENERATED_CONTROL_FILTERS and not block.get("input_control"):
            block["input_control"] = generate_control(
                ffmpeg, hint, sample["video"], folder, args.fps
            )
    sources = [sample["video"]] if sample["video"] else []
    sources += [b["input_control"] for h, b in sample["hints"].items() if b.get("input_control")]
    infos = [probe(ffmpeg, path) for path in sources]
    frames = min(min(info["frames"] for info in infos), MAX_FRAMES)
    ref = infos[0]
    scale = float(os.environ.get("COSMOS_SIM_SCALE", "1"))
    width, height = bucket_size(ref["width"], ref["height"])
    if "upscale" in sample["hints"]:
        width, height = width * 3, height * 3
    size = (even(width * scale), even(height * scale))
    prompt = sample["prompt"]
    if args.upsample_prompt and prompt is not None:
        prompt = f"{prompt} [SIMULATED upsampling: photorealistic detail, natural light]"
    record = {
        "index": index,
        "prompt": prompt,
        "input_video_path": sample["video"],
        "controls": {h: dict(b) for h, b in sample["hints"].items()},
        "frames": frames,
        "width": size[0],
        "height": size[1],
        "output": None,
    }
    drop = {int(x) for x in os.environ.get("COSMOS_SIM_DROP_LINES", "").split(",") if x.strip()}
    steps = max(args.num_steps, 1)
    per_step = float(os.environ.get("COSMOS_SIM_SECONDS_PER_FRAME", "0")) * frames / steps
    for step in range(1, steps + 1):
        time.sleep(per_step)
        if step == 1 or step == steps or step % max(steps // 4, 1) == 0:
            log(f"sample {index}: diffusion step {step}/{steps}")
    if index in drop:
        log(f"sample {index}: output dropped (SIMULATED failure injection)", "WARNING")
        return record
    out = folder / f"{name}.mp4"
    record["weights"] = compose(ffmpeg, args, sample, out, size, frames)
    text_name = "prompt.txt" if args.batch_input_path else f"{name}.txt"
    (folder / text_name).write_text(prompt or "", encoding="utf-8")
    record["output"] = str(out)
    log(f"Saved video to {out}")
    return record


def main(argv: list[str] | None = None) -> int:
    """Entry point with NVIDIA's command line."""
    argv = sys.argv[1:] if argv is None else argv
    print(BANNER, flush=True)
    args = parse_arguments(argv)
    validate(args)
    ffmpeg = os.environ.get("COSMOS_SIM_FFMPEG", "ffmpeg")
    save = Path(args.video_save_folder)
    save.mkdir(parents=True, exist_ok=True)
    log(f"Loading models from {args.checkpoint_dir} (SIMULATED)")
    time.sleep(float(os.environ.get("COSMOS_SIM_LOAD_SECONDS", "0")))
    fail_if_asked("load", args)
    items = samples(args)
    records = []
    for index, sample in enumerate(items):
        log(f"Generating sample {index + 1}/{len(items)}")
        fail_if_asked("generate", args)
        if args.batch_input_path:
            folder, name = save / f"video_{index}", "output"
        else:
            folder, name = save, args.video_save_name
        records.append(run_sample(ffmpeg, args, index, sample, folder, name))
    params = ("negative_prompt", "num_steps", "guidance", "seed", "sigma_max", "fps")
    params += ("blur_strength", "canny_threshold", "num_gpus", "batch_size", "checkpoint_dir")
    flags = [a for a in vars(args) if a.startswith("offload_") or a == "upsample_prompt"]
    record = {
        "simulator": BANNER,
        "argv": argv,
        "params": {key: getattr(args, key) for key in params},
        "flags": {key: getattr(args, key) for key in sorted(flags)},
        "mode": "batch" if args.batch_input_path else "single",
        "samples": records,
    }
    (save / "simulator_record.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    log("Done (SIMULATED)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
