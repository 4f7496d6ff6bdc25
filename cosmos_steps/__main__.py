"""Steps from the shell: `python -m cosmos_steps <step> ...` (what the rules run)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cosmos_steps", description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)
    infer = steps.add_parser("infer", help="run a batch job on its GPU host, download its outputs")
    infer.add_argument("--job", type=Path, required=True)
    infer.add_argument("--manifest", type=Path, required=True)
    infer.add_argument("--log", type=Path, required=True)
    split = steps.add_parser("split", help="copy one run's outputs out of its batch into results/")
    split.add_argument("--run", required=True)
    split.add_argument("--manifest", type=Path, required=True)
    split.add_argument("--run-json", type=Path, required=True)
    split.add_argument("--video", type=Path, required=True, help="results/<run>/output.mp4")
    split.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.step == "infer":
        from cosmos_steps.steps.infer import infer as run_infer

        return run_infer(args.job, args.manifest, args.log)
    return run_split(args)


def run_split(args: argparse.Namespace) -> int:
    from cosmos_steps import config, db
    from cosmos_steps.progress import Reporter
    from cosmos_steps.steps.split import RunFailed, split_run

    settings = config.for_step()
    reporter = Reporter(args.log, prefix=args.run)
    try:
        database = db.connect(settings["database"], settings["journal_mode"])
        split_run(args.run, args.manifest, args.video.parent, args.run_json, database)
    except RunFailed as exc:
        reporter.say(f"ERROR: {exc}")
        return 1
    finally:
        reporter.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
