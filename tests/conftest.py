"""Shared fixtures: a tiny CIFAR-10-format archive and a way to run Snakemake
on the real Snakefile in a scratch folder; and the guard of the two tiers (docs/tests.md,
"Tiers"): a test that starts Snakemake must be marked `workflow`, so that
`make test-fast` (`pytest -m "not workflow and not slow"`) never waits for one."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import cifar_format

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

UNMARKED_SNAKEMAKE = (
    "this test starts Snakemake in a subprocess but is not marked `workflow`: mark it "
    "(@pytest.mark.workflow, or pytestmark = pytest.mark.workflow for a whole file), or test the "
    "plan without Snakemake (cnncompare.plan.plan.make_plan); see docs/tests.md, \"Tiers\""
)


def starts_snakemake(args, shell: bool = False) -> bool:
    """Whether a command line (as subprocess takes it) starts Snakemake: an executable named
    snakemake, or `python -m snakemake`, anywhere in it (a shell line is split into words)."""
    if isinstance(args, (str, bytes, os.PathLike)):
        text = os.fsdecode(args)
        words = shlex.split(text, posix=True) if shell else [text]
    else:
        words = [os.fsdecode(a) if isinstance(a, (bytes, os.PathLike)) else str(a) for a in args]
    for i, word in enumerate(words):
        if Path(word).name == "snakemake":
            return True
        if word == "-m" and i + 1 < len(words) and words[i + 1] == "snakemake":
            return True
    return False


def pytest_report_header(config):
    """Which torchvision the shipped arch table was made with (tests/test_arch_facts.py checks a
    sample of it; `make arch-table` regenerates the whole of it)."""
    from importlib import metadata

    from cnncompare.plan.arch_facts import table

    made = table()["torchvision"]
    try:
        installed = metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        installed = "not installed"
    return f"torchvision arch table: made with torchvision {made}; installed: {installed}"


# `make test` runs the tests on two pytest-xdist workers (`--dist loadgroup`, docs/tests.md, "Tiers").
# Each file is one work unit, so that its module fixtures (a small study trained once for all its
# tests) are built once. Files that use a session fixture which trains a whole workflow go to one
# worker together, so that it is trained once, not once per worker.
SHARED_RUN_FIXTURES = ("finished", "finished_demo", "evaluated_run")
# The units that take longest, in that order, are handed out first: a long unit started last would
# leave the other worker idle at the end. Measured with --durations=0 (docs/tests.md).
LONGEST_FIRST = (
    "test_slurm.py", "finished", "finished_demo", "test_halving.py", "test_gpu_sharing.py", "test_resume.py",
    "test_devices.py", "test_workflow_datasets.py", "test_sweeps.py", "test_lost_files.py",
    "test_mlflow_team.py", "test_mlflow.py", "test_module.py",
)


def work_units(folder: Path = Path(__file__).parent) -> dict[str, str]:
    """{test file name: its work unit}: the names of the shared-run fixtures that a test or
    fixture of the file takes as a parameter, joined, or else the file's own name. Read from the
    source, so that xdist's controller, which collects nothing, knows the units too."""
    units = {}
    for path in sorted(folder.glob("test_*.py")):
        text = path.read_text()
        shared = [f for f in SHARED_RUN_FIXTURES if re.search(rf"def \w+\([^)]*\b{f}\b", text)]
        units[path.name] = "+".join(shared) or path.name
    return units


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` with work_units() as the groups. (xdist 3.8 makes its groups by renaming
    each test's node id with its xdist_group mark, which pytest 9 no longer reads: every test
    would be its own unit, and each worker would train the shared workflows again.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    units = work_units()

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            name = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
            return units.get(name, name)

    return ByWorkUnit(config, log)


def pytest_collection_modifyitems(config, items):
    """The longest work units first (with --no-loadscope-reorder, xdist hands units out in this
    order); within a unit, the files' own order."""
    units = work_units()

    def rank(item):
        unit = units.get(item.path.name, item.path.name)
        return LONGEST_FIRST.index(unit) if unit in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


# The test being run now (set around each test's setup, call and teardown), so that the guard
# also covers session fixtures, which start under the first test that asks for them.
_running: dict = {"item": None}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _running["item"] = item
    try:
        return (yield)
    finally:
        _running["item"] = None


@pytest.fixture(scope="session", autouse=True)
def snakemake_only_in_workflow_tests():
    """Fails a test not marked `workflow` that starts Snakemake, before the process starts."""
    original = subprocess.Popen.__init__

    def guarded(self, args, *rest, **kwargs):
        item = _running["item"]
        if item is not None and item.get_closest_marker("workflow") is None:
            program = kwargs.get("executable")
            if starts_snakemake(args, kwargs.get("shell", False)) or (program and starts_snakemake([program])):
                pytest.fail(f"{item.nodeid}: {UNMARKED_SNAKEMAKE}", pytrace=False)
        original(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = guarded
    yield
    subprocess.Popen.__init__ = original


@pytest.fixture(scope="session")
def cifar_archive(tmp_path_factory):
    """600 train and 200 test images with a learnable class signal, in the real format (few: the
    workflow tests train on it again and again)."""
    return cifar_format.write_archive(tmp_path_factory.mktemp("archive") / "cifar-10-python.tar.gz",
                                      n_train=600, n_test=200)


def tiny_config(workdir: Path, archive: dict, **overrides) -> dict:
    """A complete config that trains custom_cnn briefly on the tiny archive, on the CPU."""
    config = {
        "results_dir": str(workdir / "results"),
        "data_dir": str(workdir / "data"),
        "device": "cpu",
        "datasets": {"cifar10": {"url": archive["url"], "md5": archive["md5"]}},
        "models": {
            "custom_cnn": {
                "arch": "custom_cnn",
                # 16 px: a quarter of 32 px's multiply-adds, and the tiny archive's class signal is
                # still learnt (test accuracy 0.89 and 1.0 on the two splits); training is most of
                # a workflow test's CPU time (the two training jobs: 23 s of this config's 50 s at 32 px,
                # 10.5 s of 32 s at 16 px).
                "image_size": 16,
                "epochs": 3,
                "batch_size": 50,
                "lr": 0.02,
                "warmup_epochs": 1,
            }
        },
        "compare": {"datasets": ["cifar10"], "splits": ["two", "three"], "models": ["custom_cnn"], "seeds": [0]},
        # One thread per job: the tests run on two workers on two cores, and a job of two threads
        # beside another worker's job spin-waits (OpenMP) on the cores it shares: measured under
        # load, the same tiny run cost 128 s of CPU with two threads and 54 s with one.
        "resources": {"train_model": {"threads": 1}, "evaluate_model": {"threads": 1}},
        # A tenth of the default second of timed inference passes: the timing's job then costs
        # about a second of CPU time less, in every workflow test.
        "inference_timing": {"throughput_seconds": 0.1},
    }
    config.update(overrides)
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, configfile: Path, *args: str, check: bool = True,
              snakefile: Path = REPO / "Snakefile", env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile (or a copy's) with `configfile`, its metadata kept in `workdir`
    (`env`: variables to set for it)."""
    cmd = [
        SNAKEMAKE, "--snakefile", str(snakefile), "--directory", str(workdir),
        "--configfile", str(configfile), "--cores", "2", "--resources", "gpu=1", *args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake plan, as {rule: count}; {} when nothing is to be done."""
    if "Nothing to be done" in output:
        return {}
    match = re.search(r"Job stats:\n(.*?)\n\s*total\s+(\d+)", output, re.S)
    assert match, f"no job stats in:\n{output[-3000:]}"
    jobs = {}
    for line in match.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    return jobs


@pytest.fixture(scope="session")
def finished(tmp_path_factory, cifar_archive):
    """One complete run of the workflow on both splits (tests/test_workflow.py plans on top of it;
    tests/test_failures.py runs variants in its folder, each with a results_dir of its own, and
    compares with its runs)."""
    workdir = tmp_path_factory.mktemp("workflow")
    config = tiny_config(workdir, cifar_archive)
    configfile = write_config(workdir / "config.yaml", config)
    proc = snakemake(workdir, configfile)
    return {"workdir": workdir, "config": config, "configfile": configfile, "log": proc.stdout + proc.stderr}


def poisoned_torch_env(folder: Path) -> dict:
    """The environment with a torch and torchvision that cannot be imported (in `folder`)."""
    poisoned = folder / "poisoned"
    for name in ("torch", "torchvision"):
        (poisoned / name).mkdir(parents=True, exist_ok=True)
        (poisoned / name / "__init__.py").write_text(f"raise ImportError('{name} imported at plan time')\n")
    return {**os.environ, "PYTHONPATH": f"{poisoned}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


@pytest.fixture(scope="session")
def study_dry_run(tmp_path_factory):
    """One dry run of the study's config.yaml in a fresh folder, planned with a torch that cannot be
    imported, shared by the tests that read its plan (jobs, limits, warnings, no torch)."""
    root = tmp_path_factory.mktemp("study")
    env = poisoned_torch_env(root)
    workdir = root / "work"
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(REPO / "config.yaml"), "--cores", "1", "--dry-run"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"workdir": workdir, "env": env, "output": proc.stdout + proc.stderr}



def copy_workflow(dest: Path, venv: bool = False) -> Path:
    """The workflow's files in `dest`, committed to a git repository of their own (the report names
    its commit), with the repository's .venv linked in when `venv`; its Snakefile."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("workflow", "report", "profiles", ".test"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    if venv:
        (dest / ".venv").symlink_to((REPO / ".venv").resolve())
    git = ["git", "-C", str(dest), "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "copy"], check=True)
    return dest / "Snakefile"


# The demo, cut to what its tests need: the custom_cnn run that the README's load_trained snippet
# reads (digits/three/custom_cnn/seed0), tables to pivot, and a second model kind (vgg16, whose
# settings and initialisation the report's banner test reads). At a load average of 10 to 13 on
# two cores it took 279 s with custom_cnn alone on this split, and 527 s with both splits.
DEMO_CUT = {"custom_cnn": {"epochs": 2, "warmup_epochs": 0}, "vgg16": {"epochs": 1, "warmup_epochs": 0}}
DEMO_SPLITS = ["three"]


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)  # the README's snippets use the demo's own store
    return env


@pytest.fixture(scope="session")
def finished_demo(tmp_path_factory) -> Path:
    """A checkout where the cut demo has run, as after `make demo`: the copy's `.test/demo.yaml`
    is the cut demo, so the README's snippets run in it unchanged (tests/test_readme_snippets.py)
    and the report's demo tests read its report (tests/test_report.py)."""
    root = tmp_path_factory.mktemp("demo")
    copy_workflow(root, venv=True)
    demo = yaml.safe_load((root / ".test/demo.yaml").read_text())
    for model, settings in DEMO_CUT.items():
        demo["models"][model].update(settings)
    demo["compare"]["models"] = list(DEMO_CUT)
    demo["compare"]["splits"] = DEMO_SPLITS
    demo["inference_timing"] = {"throughput_seconds": 0.1}  # as the tiny config: the timing is not tested here
    (root / ".test/demo.yaml").write_text(yaml.safe_dump(demo, sort_keys=False))
    # make demo's command, less the venv it builds.
    proc = subprocess.run([".venv/bin/snakemake", "--configfile", ".test/demo.yaml", "--cores", "2",
                           "--resources", "gpu=1", "--rerun-incomplete"],
                          cwd=root, capture_output=True, text=True, env=demo_env(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (root / "results/demo/report.html").is_file()
    return root


@pytest.fixture(scope="session")
def evaluated_run(tmp_path_factory) -> dict:
    """One short epoch on a small prepared data set (a model that still errs, so its misclassified
    images and predictions tell it apart), trained and evaluated as the workflow's jobs do, with
    every file evaluation writes: read, never changed, by tests/test_trained.py and
    tests/test_predictions_file.py. {'dataset': its data folder, 'out': the run's folder}."""
    from cnncompare.train.evaluation import evaluate_run
    from cnncompare.train.training import train_run
    from small_runs import prepared_data
    from test_resume import arguments

    dataset = prepared_data(tmp_path_factory.mktemp("evaluated-data"))
    out = tmp_path_factory.mktemp("evaluated-run")
    args = arguments(dataset, out)
    args["block"]["epochs"] = 1
    train_run(**args)
    evaluate_run(
        data_dir=args["data_dir"], split_path=args["split_path"], block=args["block"],
        train_info_path=out / "train.json", model_path=out / "model.pt", device_setting="cpu", threads=1,
        metrics_path=out / "metrics.json", confusion_path=out / "confusion.csv",
        misclassified_path=out / "misclassified.npz", predictions_path=out / "predictions.csv",
    )
    return {"dataset": dataset, "out": out}
