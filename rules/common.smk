# Spec discovery, validation, sweep expansion and batch assignment happen once per parse, in
# cosmos_steps.specs (cheap: YAML files and folder listings only). get_* helpers feed the rules.
from cosmos_steps import nvidia
from cosmos_steps.report import value_label
from cosmos_steps.specs import BATCH_PATTERN, RUN_PATTERN, SPEC_NAME
from cosmos_steps.workflow import (
    controls_meta_rule,
    enhance_job_rule,
    jobspec_rule,
    plan_or_exit,
    report_after_error,
    report_rule,
    split_rule,
    transfer_job_rule,
    transfer_view,
    upscale_job_rule,
)

PLAN = plan_or_exit(config)


wildcard_constraints:
    run=RUN_PATTERN,
    batch=BATCH_PATTERN,
    spec=SPEC_NAME,
    stage="batches|upscale|enhance",
    video="color|depth|segmentation|edge",


def get_final_outputs():
    """Every run's output video, its 4K version where asked, the controls' meta.json."""
    outputs = [f"results/{key}/output.mp4" for key in PLAN.runs]
    outputs += [
        f"work/controls/{name}/meta.json" for name, spec in PLAN.specs.items() if spec["frames"]
    ]
    outputs += [f"results/{key}/output_4k.mp4" for keys in PLAN.upscales.values() for key in keys]
    return outputs


def get_report_category(wildcards):
    """`snakemake --report`: a run's videos are filed under its spec..."""
    return PLAN.runs[wildcards.run]["spec"]


def get_report_subcategory(wildcards):
    """...and its sweep point (the spec name for a spec without sweep)."""
    return wildcards.run.partition("/")[2] or wildcards.run


def get_report_labels(wildcards):
    """`snakemake --report` labels: the run and its swept values."""
    sweep = PLAN.runs[wildcards.run]["sweep"]
    return {"run": wildcards.run, **{axis: value_label(value) for axis, value in sweep.items()}}


def get_run(wildcards):
    """What a run's transfer result depends on (prompt, inputs, controls, params)."""
    return transfer_view(PLAN.runs[wildcards.run])


def get_jobspec_input(wildcards):
    """The spec's enhanced prompt, when it asks for enhancement."""
    spec = PLAN.runs[wildcards.run]["spec"]
    return {"enhanced": f"work/prompts/{spec}.txt"} if PLAN.specs[spec]["enhance"] else {}


def get_batch_run_jsons(wildcards):
    """run.json of every run of a transfer batch, in line order."""
    return [f"work/jobs/{key}/run.json" for key in PLAN.batches[wildcards.batch]]


def get_job_videos(wildcards):
    """Every local video a job uploads (enhance jobs upload a context video they make)."""
    if wildcards.stage == "upscale":
        return [f"results/{key}/output.mp4" for key in PLAN.upscales[wildcards.batch]]
    if wildcards.stage == "enhance":
        return []
    runs = [PLAN.runs[key] for key in PLAN.batches[wildcards.batch]]
    return sorted({path for run in runs for path in nvidia.run_files(run).values()})


def get_run_manifest(wildcards):
    """The manifest of the transfer batch a run belongs to."""
    return f"work/batches/{PLAN.runs[wildcards.run]['batch']}/manifest.json"


def get_upscale_metas(wildcards):
    """run.json of every run of an upscale batch (prompt, ids, output path)."""
    return [f"results/{key}/run.json" for key in PLAN.upscales[wildcards.batch]]


def get_upscale_settings(wildcards):
    """Control weight, steps and host of an upscale batch."""
    run = PLAN.runs[PLAN.upscales[wildcards.batch][0]]
    return {
        "weight": run["upscale"]["weight"],
        "num_steps": config["upscale"]["num_steps"],
        "host": run["host"],
    }


def get_upscale_manifest(wildcards):
    """The manifest of the upscale batch a run belongs to."""
    return f"work/upscale/{PLAN.runs[wildcards.run]['upscale_batch']}/manifest.json"


def get_enhance_spec(wildcards):
    """Name, host, prompt and base run of a spec whose prompt gets enhanced."""
    spec = PLAN.specs[wildcards.spec]
    run = transfer_view(PLAN.runs[spec["runs"][0]])
    return {"name": spec["name"], "host": spec["host"], "prompt": run["prompt"], "run": run}


def get_enhance_context(wildcards):
    """The video that gives the prompt upsampler context: color, else the first control video."""
    run = PLAN.runs[PLAN.specs[wildcards.spec]["runs"][0]]
    return run["inputs"].get("color") or next(iter(nvidia.run_files(run).values()))


def get_render_folder(wildcards):
    """The render folder of a spec that gives PNG sequences."""
    return PLAN.specs[wildcards.spec]["frames"]


def get_render_frames(wildcards):
    """Every control PNG of a spec's render folder."""
    return [path for paths in PLAN.specs[wildcards.spec]["frame_files"].values() for path in paths]


def get_modality_frames(wildcards):
    """The PNGs of one modality (color, depth, segmentation, edge) of a render folder."""
    return PLAN.specs[wildcards.spec]["frame_files"][wildcards.video]


def get_render_fps(wildcards):
    """The spec's fps, stamped on its control videos."""
    return PLAN.specs[wildcards.spec]["fps"]


def get_encoded_videos(wildcards):
    """The control videos encoded from a spec's render folder."""
    return [
        f"work/controls/{wildcards.spec}/{stem}.mp4"
        for stem in PLAN.specs[wildcards.spec]["frame_files"]
    ]


def get_attempt(wildcards, attempt):
    """Snakemake's attempt number of a job (the infer step refuses to repeat deterministic failures)."""
    return attempt
