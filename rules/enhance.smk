# enhance: true -> NVIDIA's Pixtral prompt upsampler on the GPU host, with a downscaled context
# video -> work/prompts/<spec>.txt, which the spec's jobspecs then use.
rule cosmos_enhance_job:
    input:
        context=get_enhance_context,
    output:
        job="work/enhance/{spec}/job.json",
        context="work/enhance/{spec}/context.mp4",
        prompt="work/enhance/{spec}/prompt.txt",
    log:
        "logs/enhance_job/{spec}.log",
    localrule: True
    conda:
        "../environment.yml"
    params:
        spec=get_enhance_spec,
    run:
        enhance_job_rule(params.spec, input, output, config)


rule cosmos_enhance:
    input:
        manifest="work/enhance/{spec}/manifest.json",
    output:
        prompt="work/prompts/{spec}.txt",
    log:
        "logs/enhance/{spec}.log",
    localrule: True
    conda:
        "../environment.yml"
    shell:
        "python -m cosmos_steps split enhance --run {wildcards.spec} --manifest {input.manifest}"
        " --out {output.prompt} --log {log}"
