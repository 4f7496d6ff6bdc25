# Finished outputs -> NVIDIA's 4K upscaler, back to back in one job per spec and weight
# (inference is never re-run for it).
rule cosmos_upscale_job:
    input:
        metas=get_upscale_metas,
    output:
        job="work/upscale/{batch}/job.json",
        spec="work/upscale/{batch}/spec.json",
        jsonl="work/upscale/{batch}/batch.jsonl",
    log:
        "logs/upscale_job/{batch}.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        settings=get_upscale_settings,
    run:
        upscale_job_rule(wildcards.batch, input, output, params.settings)


rule cosmos_upscale:
    input:
        manifest=get_upscale_manifest,
    output:
        video=report(
            "results/{run}/output_4k.mp4",
            caption="../docs/report/output_4k.rst",
            category=get_report_category,
            subcategory=get_report_subcategory,
            labels=get_report_labels,
        ),
    log:
        "logs/upscale/{run}.log",
    localrule: True
    conda:
        "../environment.yml"
    shell:
        "python -m cosmos_steps split upscale --run {wildcards.run:q} --manifest {input.manifest}"
        " --out {output.video} --log {log}"
