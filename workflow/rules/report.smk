# All runs into two tables, then one self-contained HTML report.


rule aggregate_results:
    input:
        metrics=run_files("metrics.json"),
        history=run_files("history.csv"),
        train_benchmarks=run_files("train.benchmark.tsv"),
        evaluate_benchmarks=run_files("evaluate.benchmark.tsv"),
    output:
        summary=results_path("summary.csv"),
        history=results_path("history.csv"),
    log:
        results_path("logs/aggregate_results.log"),
    conda:
        ENV
    script:
        "../scripts/aggregate_results.py"


rule render_report:
    input:
        summary=results_path("summary.csv"),
        history=results_path("history.csv"),
        template=REPORT_TEMPLATE,
    output:
        REPORT,
    log:
        results_path("logs/render_report.log"),
    conda:
        ENV
    params:
        descriptions=model_descriptions(),
    script:
        "../scripts/render_report.py"
