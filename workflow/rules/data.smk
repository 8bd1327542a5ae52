# Data: fetch the archive (on the submit host), parse it, draw the splits.


localrules:
    download_dataset,


rule download_dataset:
    output:
        data_path("downloads/{dataset}.tar.gz"),
    log:
        data_path("logs/download_dataset/{dataset}.log"),
    conda:
        ENV
    params:
        # The md5 identifies the data; the url is only where to find it, so a
        # mirror with the same md5 re-runs nothing.
        md5=lambda w: CFG["datasets"][w.dataset]["md5"],
    run:
        from cnncompare.datasets import download
        from cnncompare.logs import setup_logging

        setup_logging(log[0])
        download(CFG["datasets"][wildcards.dataset]["url"], output[0], params.md5)


rule prepare_dataset:
    input:
        archive=dataset_archive,
    output:
        train=data_path("{dataset}/train.npz"),
        test=data_path("{dataset}/test.npz"),
        classes=data_path("{dataset}/classes.json"),
    log:
        data_path("logs/prepare_dataset/{dataset}.log"),
    conda:
        ENV
    params:
        settings=prepare_params,
    script:
        "../scripts/prepare_dataset.py"


rule make_split:
    input:
        train=data_path("{dataset}/train.npz"),
        test=data_path("{dataset}/test.npz"),
    output:
        data_path("{dataset}/splits/{split}.npz"),
    log:
        data_path("logs/make_split/{dataset}_{split}.log"),
    conda:
        ENV
    params:
        settings=split_params,
    script:
        "../scripts/make_split.py"
