# Runs that share a model load -> one batch job on the GPU host -> per-run results.


# The batch's NVIDIA files (spec.json, batch.jsonl) and job.json (what to upload, where to run).
rule cosmos_batch:
    input:
        runs=get_batch_run_jsons,
    output:
        job="work/batches/{batch}/job.json",
        spec="work/batches/{batch}/spec.json",
        jsonl="work/batches/{batch}/batch.jsonl",
    log:
        "logs/batch/{batch}.log",
    localrule: True
    conda:
        "../environment.yml"
    run:
        batch_rule(wildcards.batch, input, output)


# Upload (content-addressed, once per host), start or adopt the job, follow its log, download verified.
rule cosmos_infer:
    input:
        job="work/batches/{batch}/job.json",
        spec="work/batches/{batch}/spec.json",
        jsonl="work/batches/{batch}/batch.jsonl",
        videos=get_batch_videos,
    output:
        manifest="work/batches/{batch}/manifest.json",
    log:
        "logs/infer/{batch}.log",
    benchmark:
        "benchmarks/infer/{batch}.tsv"
    conda:
        "../environment.yml"
    shell:
        "python -m cosmos_steps infer --job {input.job} --manifest {output.manifest} --log {log}"


# A run's output video, prompt, generated controls and run.json, mapped by its JSONL line.
rule cosmos_split:
    input:
        manifest=get_run_manifest,
        run="work/jobs/{run}/run.json",
    output:
        video="results/{run}/output.mp4",
        prompt="results/{run}/prompt.txt",
        meta="results/{run}/run.json",
    log:
        "logs/split/{run}.log",
    conda:
        "../environment.yml"
    shell:
        "python -m cosmos_steps split --run {wildcards.run:q} --manifest {input.manifest}"
        " --run-json {input.run} --video {output.video} --log {log}"
