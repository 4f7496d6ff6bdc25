# Cosmos Workflow: run specs (specs/*.yaml) -> NVIDIA Cosmos Transfer job specs -> a GPU host
# (simulated by default) -> results/<run>/, with every prompt, run, artifact and status change
# recorded in the SQLite database named in config.yaml.
#
# Paths: intermediate files under work/<stage>/, logs under logs/<stage>/, benchmarks under
# benchmarks/<stage>/, and only what users look at under results/<run>/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/controls.smk"
include: "rules/enhance.smk"
include: "rules/jobspec.smk"
include: "rules/infer.smk"
include: "rules/upscale.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
        "results/report.html",
    localrule: True
