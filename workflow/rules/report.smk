# All runs into two tables, then one self-contained HTML report (and its figures
# as files, for `snakemake --report`).


rule aggregate_results:
    input:
        metrics=run_files("metrics.json"),
        history=run_files("history.csv"),
        train_benchmarks=run_files("train.benchmark.tsv"),
        evaluate_benchmarks=run_files("evaluate.benchmark.tsv"),
    output:
        # update(): Snakemake would delete the tables before the job runs, so a
        # kill meanwhile lost them; they are written by rename, whole or not at all.
        summary=report(
            update(results_path("summary.csv")),
            caption="../../report/captions/summary.rst",
            category="Tables",
        ),
        history=report(
            update(results_path("history.csv")),
            caption="../../report/captions/history.rst",
            category="Tables",
        ),
    log:
        results_path("logs/aggregate_results.log"),
    conda:
        "../envs/light.yaml"
    script:
        "../scripts/aggregate_results.py"


rule render_report:
    input:
        summary=results_path("summary.csv"),
        history=results_path("history.csv"),
        metrics=run_files("metrics.json"),
        confusion=run_files("confusion.csv"),
        misclassified=run_files("misclassified.npz"),
        predictions=run_files("predictions.csv"),
        halving=HALVING_FILES,
        template=REPORT_TEMPLATE,
    output:
        # update(): Snakemake keeps the previous report and figures while this
        # job runs and puts them back if it fails (a template error, bad data).
        report=report(
            update(REPORT),
            caption="../../report/captions/report.rst",
            category="Report",
        ),
        comparison=comparison_figures(),
        curves=run_figures("curves"),
        confusion_figures=run_figures("confusion"),
    log:
        results_path("logs/render_report.log"),
    conda:
        "../envs/light.yaml"
    params:
        models=PLAN.model_texts(),
        banner=CFG["report"]["banner"],
        # The folder of the figures, from the first (comparison/<name>.svg).
        figures_dir=lambda w, output: str(Path(output.comparison[0]).parents[1]),
        workflow=WORKFLOW_COMMIT,
        partial_report=PARTIAL_REPORT,
    script:
        "../scripts/render_report.py"
