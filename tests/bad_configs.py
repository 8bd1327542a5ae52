"""Mistakes a user makes in a config, each with the phrases its message must hold: the tiny
config of tests/conftest.py changed in one place. tests/test_bad_configs.py plans each one
without Snakemake; tests/test_workflow.py sends two of them through the real Snakefile."""

from __future__ import annotations

from pathlib import Path


def _model(**settings):
    return lambda c: c["models"]["custom_cnn"].update(settings)


def _section(section, **settings):
    return lambda c: c.setdefault(section, {}).update(settings)


def _only_model(**block):
    return lambda c: (c["models"].update(m=block), c["compare"].update(models=["m"]))


def _image_folder(classes: dict):
    """A data set of class folders holding `classes` ({name: images}) empty .png files, in the grid."""
    def change(config):
        root = Path(config["results_dir"]).parent / "images"
        for name, n in classes.items():
            (root / name).mkdir(parents=True)
            for i in range(n):
                (root / name / f"{i}.png").write_bytes(b"")
        config["datasets"]["photos"] = {"format": "imagefolder", "path": str(root)}
        config["compare"]["datasets"] = ["photos"]
    return change


# (change of the tiny config, phrases the message must hold)
BAD_CONFIGS = {
    "unknown top-level key": (lambda c: c.update(resutls_dir="x"),
                              ["resutls_dir", "unknown key", "did you mean 'results_dir'"]),
    "unknown key in a model block": (_model(epochz=3), ["models.custom_cnn.epochz", "did you mean 'epochs'"]),
    "wrong type": (_model(epochs="ten"), ["models.custom_cnn.epochs", "integer"]),
    "number written as 1e-3": (_model(lr="1e-3"), ["models.custom_cnn.lr", "not a number", "1.0e-3"]),
    "zero epochs": (_model(epochs=0), ["models.custom_cnn.epochs", "0 must be >= 1"]),
    "negative batch size": (_model(batch_size=-32), ["models.custom_cnn.batch_size", "-32 must be >= 1"]),
    "unknown arch": (_model(arch="custm_cnn"), ["models.custom_cnn.arch", "unknown arch 'custm_cnn'", "custom_cnn"]),
    "unknown dataset": (_section("compare", datasets=["cifar10", "cifar1000"]),
                        ["compare.datasets[1]", "unknown dataset 'cifar1000'", "did you mean 'cifar100'"]),
    "split other than two or three": (_section("compare", splits=["two", "four"]),
                                      ["compare.splits[1]", "'four' is not one of: two, three"]),
    "unknown model in compare.models": (lambda c: c["compare"]["models"].append("resnet9"),
                                        ["compare.models[1]", "resnet9", "no block under models"]),
    "seed that is not an integer": (_section("compare", seeds=[0, 1.5]), ["compare.seeds[1]", "expected integer"]),
    "url not https, http or file": (lambda c: c["datasets"]["cifar10"].update(url="ftp://example.org/c.tar.gz"),
                                    ["datasets.cifar10.url", "https://, http:// or file://"]),
    "md5 not 32 hex digits": (lambda c: c["datasets"]["cifar10"].update(md5="c58f30108f718f92721af3b95e74349"),
                              ["datasets.cifar10.md5", "32 hexadecimal digits"]),
    "val_fraction of 1": (_section("splits", val_fraction=1), ["splits.val_fraction", "1 must be < 1"]),
    "val_fraction of 0": (_section("splits", val_fraction=0.0), ["splits.val_fraction", "0.0 must be > 0"]),
    "more blocks kept than the arch has": (
        lambda c: (c["models"].update(r18={"arch": "resnet18", "keep_blocks": 9}), c["compare"]["models"].append("r18")),
        ["models.r18", "keep_blocks: 9 asked, but resnet18 has 5 feature blocks"]),
    # issue 16: caught before the first job, naming the key
    "seed above 2**32-1": (_section("compare", seeds=[0, 2**32]), ["compare.seeds[1]", "4294967296 must be <= 4294967295"]),
    "nan learning rate": (_model(lr=float("nan")), ["models.custom_cnn.lr: nan is not a finite number"]),
    "infinite dropout": (_model(dropout=float("inf")), ["models.custom_cnn.dropout: inf is not a finite number"]),
    "nan val_fraction": (_section("splits", val_fraction=float("nan")), ["splits.val_fraction: nan is not a finite"]),
    "a billion epochs": (_model(epochs=1_000_000_000),
                         ["max_planned_hours", "models.custom_cnn (epochs: 1000000000", "raise max_planned_hours"]),
    "braces in results_dir": (lambda c: c.update(results_dir=c["results_dir"] + "{run}"),
                              ["results_dir", "wildcard or a path variable"]),
    "relative file:// url": (lambda c: c["datasets"]["cifar10"].update(url="file://archive/cifar-10-python.tar.gz"),
                             ["datasets.cifar10.url", "must be absolute: file:///"]),
    "data set named downloads": (
        lambda c: (c["datasets"].update(downloads={**c["datasets"]["cifar10"], "format": "cifar10"}),
                   c["compare"].update(datasets=["downloads"])),
        ["datasets.downloads", "taken by the workflow's own folder {data_dir}/downloads/"]),
    "class folder read as a wildcard": (_image_folder({"cat{1}": 4, "dog": 4}),
                                        ["datasets.photos.path", "class folder 'cat{1}'", "wildcard"]),
    "class folder read as a path variable": (_image_folder({"<unk>": 4, "dog": 4}), ["class folder '<unk>'"]),
    "image folder of one class": (_image_folder({"cat": 6}), ["datasets.photos.path", "images of 1 class (cat)"]),
    "class without a test image": (_image_folder({"cat": 6, "dog": 1}),
                                   ["datasets.photos.test_fraction", "leaves no test image for 1 class: dog"]),
    "vgg11 at 16 px": (_only_model(arch="vgg11", image_size=16),
                       ["models.m.image_size: 16 is too small for vgg11", "set image_size: 32"]),
    "vit_b_16 at 32 px": (_only_model(arch="vit_b_16", image_size=32),
                          ["models.m.image_size: 32 is too small for vit_b_16", "set image_size: 224"]),
    "pretrained swin_t below its weights' size": (
        _only_model(arch="swin_t", pretrained=True, image_size=64),
        ["models.m.image_size", "Swin_T_Weights.IMAGENET1K_V1 declare a minimum of 224 px"]),
    # issue 24: names and sizes
    "sweep values equal but spelled differently": (_model(sweep={"lr": [1, 1.0]}),
                                                   ["models.custom_cnn.sweep.lr: 1 and 1.0 are the same value"]),
    "sweep_samples over max_runs": (
        _model(sweep={"lr": {"log_uniform": [0.001, 0.1]}}, sweep_samples=10**9),
        ["models.custom_cnn.sweep_samples: 1,000,000,000 draws", "over compare.max_runs (500)"]),
    "a grid sweep over max_runs": (
        _model(sweep={"lr": [i / 1000 + 0.001 for i in range(100)], "dropout": [i / 100 for i in range(50)]}),
        ["models.custom_cnn.sweep: the grid's 50 x 100 = 5,000 variants", "over compare.max_runs (500)"]),
    "variants of two blocks with one name": (
        lambda c: (c["models"].update({
            "a": {"arch": "custom_cnn", "sweep": {"lr": [0.1], "epochs": [2]}},
            "a.epochs-2": {"arch": "custom_cnn", "sweep": {"lr": [0.1]}}}),
            c["compare"].update(models=["a", "a.epochs-2"])),
        ["models.a.epochs-2.sweep: variant a.epochs-2.lr-0.1 is also a variant of models.a"]),
    "batch-normalised head with batch size 1": (
        _only_model(arch="resnet18", batch_size=1, head={"hidden": [64], "norm": True}),
        ["models.m.batch_size: 1 with head.norm: true", "use batch_size 2 or more, or head.norm: false"]),
    "a job of terabytes": (_model(batch_size=5_000_000, image_size=32),  # the estimate below is at 32 px
                           ["max_job_mem_gb: a train_model job of models.custom_cnn on datasets.cifar10 is "
                            "estimated at 19,535 GB", "batch_size: 5000000", "over max_job_mem_gb (1,024)"]),
    "mem_mb above max_job_mem_gb": (
        lambda c: c["resources"]["train_model"].update(mem_mb=2_000_000),
        ["resources.train_model.mem_mb: 2,000,000 MB is above max_job_mem_gb (1,024 GB)"]),
    "results_dir inside an image folder": (
        lambda c: (_image_folder({"cat": 4, "dog": 4})(c),
                   c.update(results_dir=str(Path(c["results_dir"]).parent / "images" / "results"))),
        ["results_dir: ", "is inside datasets.photos.path", "would be read as classes of the data set"]),
    "data_dir is an image folder": (
        lambda c: (_image_folder({"cat": 4, "dog": 4})(c), c.update(data_dir=c["datasets"]["photos"]["path"])),
        ["data_dir: ", "is inside datasets.photos.path"]),
}
