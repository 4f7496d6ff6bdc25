# Every output -> results/report.html: one section per spec with its prompt, the controls it was
# given and a grid of its runs by sweep axis (thumbnail strips cached in results/.thumbs/). Cheap
# to re-run: a strip is made once per video content. `cosmos report` writes the same page from
# the database alone.
report: "../docs/report/workflow.rst"


rule cosmos_report:
    input:
        get_final_outputs(),
    output:
        html="results/report.html",
    log:
        "logs/report/report.log",
    localrule: True
    conda:
        "../environment.yml"
    run:
        report_rule(PLAN, output.html, log[0], config)


# A failed run leaves rule cosmos_report without input, so on failure the page is written here
# (main process, once, never on dry runs) and shows each failed run with its reason.
onerror:
    report_after_error(PLAN, config)
