"""cnncompare: the code behind the workflow's rules.

Each module serves one stage: datasets (download, extract, parse), splits,
models, augment, training, evaluation, costs, aggregate and report. The thin
scripts in workflow/scripts/ read Snakemake's object and call into these.

Importing the package imports no torch: Snakemake's own process plans with it.
"""

__version__ = "0.1.0"


def load_trained(run_dir, device="cpu", *, any_status=False):
    """The trained model of a run folder, in eval mode, with its preprocessing
    and class names: (model, preprocess, classes). A run whose status is not
    `completed` (diverged) is refused unless any_status=True. See cnncompare.train.trained."""
    from cnncompare.train.trained import load_trained as load  # torch only when called

    return load(run_dir, device, any_status=any_status)
