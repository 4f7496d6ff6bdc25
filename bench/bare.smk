# The bare workflow of bench/parse_bench.py: the rules, wildcards, files and jobs of the real
# one (run -> batch and each batch's videos read from plan.json, written by the benchmark), and
# no logic.
import json
from pathlib import Path

PLAN = json.loads(Path(workflow.basedir, "plan.json").read_text())


wildcard_constraints:
    run=PLAN["patterns"]["run"],
    batch=PLAN["patterns"]["batch"],
    stage="batches|upscale|enhance",


rule all:
    input:
        [f"results/{key}/output.mp4" for key in PLAN["runs"]],
    localrule: True


rule cosmos_jobspec:
    output:
        run="work/jobs/{run}/run.json",
        spec="work/jobs/{run}/spec.json",
    log:
        "logs/jobspec/{run}.log",
    localrule: True
    shell:
        "touch {output}"


rule cosmos_transfer_job:
    input:
        runs=lambda w: [f"work/jobs/{key}/run.json" for key in PLAN["batches"][w.batch]],
    output:
        job="work/batches/{batch}/job.json",
        spec="work/batches/{batch}/spec.json",
        jsonl="work/batches/{batch}/batch.jsonl",
    log:
        "logs/transfer_job/{batch}.log",
    localrule: True
    shell:
        "touch {output}"


rule cosmos_infer:
    input:
        job="work/{stage}/{batch}/job.json",
        videos=lambda w: PLAN["videos"][w.batch],
    output:
        manifest="work/{stage}/{batch}/manifest.json",
    log:
        "logs/infer/{stage}/{batch}.log",
    benchmark:
        "benchmarks/infer/{stage}/{batch}.tsv"
    shell:
        "touch {output}"


rule cosmos_split:
    input:
        manifest=lambda w: f"work/batches/{PLAN['runs'][w.run]}/manifest.json",
        run="work/jobs/{run}/run.json",
    output:
        video="results/{run}/output.mp4",
        prompt="results/{run}/prompt.txt",
        meta="results/{run}/run.json",
    log:
        "logs/split/{run}.log",
    localrule: True
    shell:
        "touch {output}"
