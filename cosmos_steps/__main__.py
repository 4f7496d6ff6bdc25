"""Steps from the shell: `python -m cosmos_steps <step> ...` (what the rules run)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cosmos_steps", description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)
    infer = steps.add_parser("infer", help="run a GPU job on its host, download its outputs")
    infer.add_argument("--job", type=Path, required=True, help="work/<stage>/<batch>/job.json")
    infer.add_argument("--manifest", type=Path, required=True)
    infer.add_argument("--log", type=Path, required=True)
    infer.add_argument("--attempt", type=int, default=1, help="Snakemake's attempt of the rule")
    split = steps.add_parser("split", help="deliver one run's outputs from its job")
    split.add_argument("kind", choices=["transfer", "upscale", "enhance"])
    split.add_argument("--run", required=True, help="run key (enhance: spec name)")
    split.add_argument("--manifest", type=Path, required=True)
    split.add_argument("--out", type=Path, required=True, help="the file the rule declares")
    split.add_argument("--run-json", type=Path, help="work/jobs/<run>/run.json (transfer)")
    split.add_argument("--log", type=Path, required=True)
    render = steps.add_parser("render", help="check a render folder, or encode one modality of it")
    render.add_argument("action", choices=["validate", "encode"])
    render.add_argument("--frames", type=Path, required=True, help="the render folder")
    render.add_argument(
        "--out", type=Path, required=True, help="validation.json, or <modality>.mp4"
    )
    render.add_argument("--fps", type=float, default=24)
    render.add_argument("--crf", type=int, default=18)
    render.add_argument("--preset", default="medium")
    render.add_argument("--ffmpeg", default="auto")
    render.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.step == "render":
        return run_render(args)
    if args.step == "infer":
        from cosmos_steps.steps.infer import infer as run_infer

        return run_infer(args.job, args.manifest, args.log, attempt=args.attempt)
    return run_split(args)


def run_render(args: argparse.Namespace) -> int:
    """Validate a render folder (every problem at once) or encode one of its modalities."""
    from cosmos_steps.ffmpeg import FfmpegError
    from cosmos_steps.progress import Reporter
    from cosmos_steps.steps import controls

    reporter = Reporter(args.log, prefix=str(args.frames))
    try:
        if args.action == "validate":
            controls.validate(args.frames, args.out, reporter)
        else:
            settings = {
                "fps": args.fps,
                "crf": args.crf,
                "preset": args.preset,
                "ffmpeg": args.ffmpeg,
            }
            controls.encode_one(args.frames, args.out, settings, args.log)
    except (controls.RenderProblems, FfmpegError) as exc:
        reporter.say(f"ERROR: {exc}")
        return 1
    finally:
        reporter.close()
    return 0


def run_split(args: argparse.Namespace) -> int:
    """Deliver a run's outputs; a run without output prints its reason and exits 1."""
    from cosmos_steps import config, db
    from cosmos_steps.progress import Reporter
    from cosmos_steps.steps import split

    settings = config.for_step()
    reporter = Reporter(args.log, prefix=args.run)
    try:
        database = db.connect(settings["database"], settings["journal_mode"])
        if args.kind == "transfer":
            split.finish_transfer(args.run, args.manifest, args.out, args.run_json, database)
        elif args.kind == "upscale":
            split.finish_upscale(args.run, args.manifest, args.out, database)
        else:
            split.finish_enhance(args.run, args.manifest, args.out, database)
    except split.RunFailed as exc:
        reporter.say(f"ERROR: {exc}")
        return 1
    finally:
        reporter.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
