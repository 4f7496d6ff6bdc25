# Spec discovery, validation, sweep expansion and batch assignment happen once per parse, in
# cosmos_steps.specs (cheap: YAML files and folder listings only). get_* helpers feed the rules.
from cosmos_steps import nvidia
from cosmos_steps.specs import BATCH_PATTERN, RUN_PATTERN, SPEC_NAME
from cosmos_steps.workflow import batch_rule, jobspec_rule, plan_or_exit

PLAN = plan_or_exit(config)


wildcard_constraints:
    run=RUN_PATTERN,
    batch=BATCH_PATTERN,
    spec=SPEC_NAME,


def get_final_outputs():
    """Every run's output video."""
    return [f"results/{key}/output.mp4" for key in PLAN.runs]


def get_run(wildcards):
    """The resolved run (prompt, inputs, controls, params) behind a run key."""
    return PLAN.runs[wildcards.run]


def get_jobspec_input(wildcards):
    """Nothing yet; the enhanced prompt of the spec once enhancement exists."""
    return {}


def get_batch_run_jsons(wildcards):
    """run.json of every run of a batch, in line order."""
    return [f"work/jobs/{key}/run.json" for key in PLAN.batches[wildcards.batch]]


def get_batch_videos(wildcards):
    """Every local video a batch uploads."""
    runs = [PLAN.runs[key] for key in PLAN.batches[wildcards.batch]]
    return sorted({path for run in runs for path in nvidia.run_files(run).values()})


def get_run_manifest(wildcards):
    """The manifest of the batch a run belongs to."""
    return f"work/batches/{PLAN.batch_of(wildcards.run)}/manifest.json"
