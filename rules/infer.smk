# Any GPU job (transfer batch, 4K upscale batch, prompt enhancement), on its host or the best free
# healthy host of its pool: upload its files (content-addressed, once per host), start it or adopt
# it if it already runs, follow its log, download its outputs verified. The only rule that is not
# local: with profiles/slurm it is the one submitted to SLURM, with the GPUs that profile's
# set-resources requests (docs/slurm.md).
rule cosmos_infer:
    input:
        job="work/{stage}/{batch}/job.json",
        videos=get_job_videos,
    output:
        manifest="work/{stage}/{batch}/manifest.json",
    log:
        "logs/infer/{stage}/{batch}.log",
    benchmark:
        "benchmarks/infer/{stage}/{batch}.tsv"
    # A retry resumes the job (adopting it where it still runs, or moving it off a lost host);
    # the step refuses to repeat a deterministic failure (out of memory, guardrail, ...).
    retries: 1
    conda:
        "../environment.yml"
    resources:
        attempt=get_attempt,
    shell:
        "python -m cosmos_steps infer --job {input.job} --manifest {output.manifest} --log {log}"
        " --attempt {resources.attempt}"


# A run's output video, prompt, generated controls and run.json, mapped by its JSONL line.
rule cosmos_split:
    input:
        manifest=get_run_manifest,
        run="work/jobs/{run}/run.json",
    output:
        video=report(
            "results/{run}/output.mp4",
            caption="../docs/report/output.rst",
            category=get_report_category,
            subcategory=get_report_subcategory,
            labels=get_report_labels,
        ),
        prompt="results/{run}/prompt.txt",
        meta="results/{run}/run.json",
    log:
        "logs/split/{run}.log",
    localrule: True
    conda:
        "../environment.yml"
    run:
        split_rule(wildcards.run, input, output, log[0], config)
