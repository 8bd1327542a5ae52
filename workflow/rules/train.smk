# One training job and one evaluation job per (dataset, split, model, seed), and
# one inference measurement per (dataset, network) that the runs of its models share.


rule train_model:
    input:
        unpack(run_data),
        unpack(model_weights),
        unpack(last_rung_resumes),
    output:
        model=run_path("model.pt"),
        history=run_path("history.csv"),
        info=run_path("train.json"),
    log:
        run_path("train.log"),
    benchmark:
        run_path("train.benchmark.tsv")
    conda:
        "../envs/torch.yaml"
    threads: job_resource("train_model", "threads")
    resources:
        **gpu_share("train_model"),
        gpu=job_resource("train_model", "gpu"),
        mem_mb=job_limit("train_model", "mem_mb"),
        runtime=job_limit("train_model", "runtime"),
    params:
        model=model_params,
        device=CFG["device"],
        performance=PERFORMANCE,
        weights_label=model_weights_label,
        # Outside the declared outputs, which Snakemake deletes when a job fails.
        checkpoint=run_checkpoint,
        tensorboard=run_tensorboard,
    script:
        "../scripts/train_model.py"


rule measure_inference:
    input:
        unpack(dataset_files),
    output:
        cost=PLAN.inference_cost("{dataset}", "{network}"),
    log:
        PLAN.inference_cost("{dataset}", "{network}", "log"),
    benchmark:
        PLAN.inference_cost("{dataset}", "{network}", "benchmark.tsv")
    # Before the training jobs, which would otherwise hold the cores it waits for.
    priority: 10
    conda:
        "../envs/torch.yaml"
    # Every local core (measuring_alone): no training job runs beside the timing.
    threads: measuring_alone()[0]
    resources:
        **gpu_share("evaluate_model"),
        gpu=job_resource("evaluate_model", "gpu"),
        alone=measuring_alone()[1],
        mem_mb=job_limit("evaluate_model", "mem_mb", network_model),
        runtime=job_limit("evaluate_model", "runtime", network_model),
    params:
        model=network_params,
        device=CFG["device"],
        performance=PERFORMANCE,
        threads=job_resource("evaluate_model", "threads"),
        timing=CFG["inference_timing"],
    script:
        "../scripts/measure_inference.py"


rule evaluate_model:
    input:
        unpack(run_data),
        model=run_path("model.pt"),
        info=run_path("train.json"),
        inference=inference_cost,
    output:
        metrics=run_path("metrics.json"),
        confusion=report(
            run_path("confusion.csv"),
            caption="../../report/captions/confusion_csv.rst",
            category="{model}",
            subcategory="{dataset}/{split}",
            labels={"run": "seed{seed}", "table": "test confusion matrix"},
        ),
        misclassified=run_path("misclassified.npz"),
        predictions=run_path("predictions.csv"),
    log:
        run_path("evaluate.log"),
    benchmark:
        run_path("evaluate.benchmark.tsv")
    conda:
        "../envs/torch.yaml"
    threads: job_resource("evaluate_model", "threads")
    resources:
        **gpu_share("evaluate_model"),
        gpu=job_resource("evaluate_model", "gpu"),
        mem_mb=job_limit("evaluate_model", "mem_mb"),
        runtime=job_limit("evaluate_model", "runtime"),
    params:
        model=model_params,
        device=CFG["device"],
        performance=PERFORMANCE,
    script:
        "../scripts/evaluate_model.py"
