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
