# cnncompare: compare image-classification CNNs, reproducibly.
# The stages live in workflow/rules/; config handling in workflow/rules/common.smk.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/halving_inputs.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"


# Rungs only where the plan halves a sweep: in a workflow with any checkpoint rule,
# Snakemake keeps every rule in the DAG under --allowed-rules, and a re-render with
# --allowed-rules aggregate_results render_report then plans nothing.
if PLAN.halving:

    include: "workflow/rules/halving.smk"


include: "workflow/rules/report.smk"
include: "workflow/rules/track.smk"
include: "workflow/rules/notices.smk"


rule all:
    default_target: True
    input:
        REPORT,
        REPORT_FILES,
        TRACK_TARGETS,
