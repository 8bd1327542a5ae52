# Data: fetch each data set's files (on the submit host), parse them, draw the splits.
# The downloads say `localrule: True` themselves: a `localrules:` list names the
# rules unprefixed, so it misses them in a module used with `as prefix_*`.


# A data set prepared once serves every checkout and results folder that shares
# data_dir. Snakemake re-runs a script: rule whose script file is newer than its
# outputs, and every file of a fresh checkout (or of a git pull, or a branch
# switched to and back) is new: a second checkout would prepare the data again,
# and every run made on it, in every checkout, would then train again. For jobs
# whose outputs all lie in data_dir, a script's time stamp is no rerun trigger;
# their inputs, params and rule text still are, and prepared.json records what
# made the data. (docs/failures.md, "a second checkout shares data_dir".)
skip_script_times_under(PLAN.data_dir)


rule download_dataset:
    output:
        data_path("downloads/{dataset}/{file}"),
    log:
        data_path("logs/download_dataset/{dataset}/{file}.log"),
    localrule: True
    params:
        # The md5 identifies the data; the url is only where to find it, so a
        # mirror with the same md5 re-runs nothing.
        md5=lambda w: download_source(w)[1],
    run:
        setup_logging(log[0])
        download(download_source(wildcards)[0], output[0], params.md5)


rule prepare_dataset:
    input:
        downloads=dataset_downloads,
        folders=image_folders,
    output:
        train=data_path("{dataset}/train.npz"),
        test=data_path("{dataset}/test.npz"),
        classes=data_path("{dataset}/classes.json"),
        record=data_path("{dataset}/prepared.json"),
    log:
        data_path("logs/prepare_dataset/{dataset}.log"),
    conda:
        "../envs/light.yaml"
    params:
        settings=prepare_params,
        # Each download is checked against its MD5 again before it is parsed.
        md5=lambda w: expected_md5s(dataset_block(w)),
    script:
        "../scripts/prepare_dataset.py"


# Every prepared file is an input, though the split reads only the arrays: the
# runs depend on prepared.json and their split (Plan.run_data), so a lost or
# replaced file of the data set is found here.
rule make_split:
    input:
        unpack(dataset_files),
    output:
        data_path("{dataset}/splits/{split}.npz"),
    log:
        data_path("logs/make_split/{dataset}_{split}.log"),
    conda:
        "../envs/light.yaml"
    params:
        settings=split_params,
    script:
        "../scripts/make_split.py"


rule download_weights:
    output:
        weights_file_path(WEIGHTS, "{file}"),
    log:
        data_path("logs/download_weights/{file}.log"),
    localrule: True
    params:
        # torch hub file names end in the first hex digits of their SHA-256.
        sha256_prefix=lambda w: planned_weights(w.file).sha256_prefix,
    run:
        setup_logging(log[0])
        download(
            planned_weights(wildcards.file).url,
            output[0],
            sha256_prefix=params.sha256_prefix,
        )
