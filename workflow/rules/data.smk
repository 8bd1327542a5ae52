# Data: fetch the archive (on the submit host), parse it, draw the splits.


localrules:
    download_dataset,
    download_weights,


rule download_dataset:
    output:
        data_path("downloads/{dataset}.tar.gz"),
    log:
        data_path("logs/download_dataset/{dataset}.log"),
    params:
        # The md5 identifies the data; the url is only where to find it, so a
        # mirror with the same md5 re-runs nothing.
        md5=lambda w: CFG["datasets"][w.dataset]["md5"],
    run:
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


rule download_weights:
    output:
        checkpoint_path(WEIGHTS, "{file}"),
    log:
        data_path("logs/download_weights/{file}.log"),
    params:
        # torch hub file names end in the first hex digits of their SHA-256.
        sha256_prefix=lambda w: w.file.rsplit("-", 1)[-1].split(".")[0],
    run:
        setup_logging(log[0])
        download(
            weights_url(wildcards.file),
            output[0],
            sha256_prefix=params.sha256_prefix,
        )
