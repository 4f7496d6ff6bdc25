# One run -> work/jobs/<run>/run.json (the resolved run) and spec.json (its NVIDIA controlnet spec).
# The run's settings are params, so editing a spec re-runs exactly that spec's runs.
rule cosmos_jobspec:
    input:
        unpack(get_jobspec_input),
    output:
        run="work/jobs/{run}/run.json",
        spec="work/jobs/{run}/spec.json",
    log:
        "logs/jobspec/{run}.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        run=get_run,
    run:
        jobspec_rule(params.run, output, input, config)


# Runs that share a model load -> the batch's NVIDIA spec.json + batch.jsonl and job.json.
rule cosmos_transfer_job:
    input:
        runs=get_batch_run_jsons,
    output:
        job="work/batches/{batch}/job.json",
        spec="work/batches/{batch}/spec.json",
        jsonl="work/batches/{batch}/batch.jsonl",
    log:
        "logs/transfer_job/{batch}.log",
    localrule: True
    conda:
        "../environment.yml"
    run:
        transfer_job_rule(wildcards.batch, input, output)
