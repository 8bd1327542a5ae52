# Two commands do everything on a fresh machine: `make demo` and `make test`.
# `make test-fast` runs the unit tests alone (no Snakemake): docs/tests.md, "Tiers".
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# The tests run on two pytest-xdist workers (TEST_WORKERS=0 runs them in one process); each file,
# or each group of files sharing a trained workflow, is one unit (tests/conftest.py, docs/tests.md).
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

.PHONY: demo test test-fast lint bench gpu-study clean-demo arch-table columns-doc mlflow

# The venv is rebuilt when requirements.txt changes.
$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# The tests submit to a real SLURM cluster too (tests/test_slurm.py), from a venv of its own:
# the executor plugin of requirements-cluster.txt, and this venv's packages, which a .pth file
# names. Snakemake imports every installed executor plugin at each start, this one with pandas
# (about half a second of CPU), so the other tests' hundreds of Snakemake starts run as a local
# install does, without it. (On a login node the plugin goes into the venv: docs/cluster.md.)
CLUSTER_VENV ?= $(VENV)-cluster
PURELIB := import sysconfig; print(sysconfig.get_path("purelib"))
$(CLUSTER_VENV)/.installed: requirements-cluster.txt $(BIN)/.installed
	test -x $(CLUSTER_VENV)/bin/python || $(PYTHON) -m venv $(CLUSTER_VENV)
	$(BIN)/python -c '$(PURELIB)' > "$$($(CLUSTER_VENV)/bin/python -c '$(PURELIB)')/cnncompare-venv.pth"
	$(CLUSTER_VENV)/bin/python -m pip install --quiet -r requirements-cluster.txt
	touch $@

# MLflow (requirements-track.txt): `snakemake mlflow` and `mlflow ui`; the tests export to a store.
$(BIN)/.track-installed: requirements-track.txt $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -r requirements-track.txt
	touch $@

# The whole DAG on scikit-learn's digits, on the CPU, offline.
demo: $(BIN)/.installed
	$(BIN)/snakemake --configfile .test/demo.yaml --cores $(CORES) --resources gpu=1 --rerun-incomplete
	@echo "Report: $(CURDIR)/results/demo/report.html"

# The demo's runs into a local MLflow store (results/demo/mlflow.db); see the README's MLflow section.
mlflow: demo $(BIN)/.track-installed
	$(BIN)/snakemake --configfile .test/demo.yaml --cores 1 mlflow
	@echo "Browse: $(BIN)/mlflow ui --backend-store-uri sqlite:///results/demo/mlflow.db"

lint: $(BIN)/.installed
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check .

# Everything: lint, snakefmt, the unit tests and the workflow tests (which start Snakemake).
test: lint $(CLUSTER_VENV)/.installed $(BIN)/.track-installed
	CNNCOMPARE_CLUSTER_PYTHON=$(CLUSTER_VENV)/bin/python $(PYTEST)

# The unit tests alone, without the slow ones: no Snakemake subprocess (tests/conftest.py fails a
# test that starts one unless it is marked `workflow`); under 2 minutes on two cores.
test-fast: $(BIN)/.installed $(BIN)/.track-installed
	$(PYTEST) -m "not workflow and not slow"

# Speed figures of this machine, each beside its baseline (bench/run.py); about 8 minutes.
bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

# On a GPU machine, nothing prepared: the study at runs_per_gpu 1, 2 and 4 and the training loop
# on CUDA, one table, under 10 minutes (bench/gpu_study.py). ARGS=--dry-run shows what it runs.
gpu-study: $(BIN)/.installed
	PYTHON=$(BIN)/python bench/gpu_study.sh $(ARGS)

# The torchvision facts the plan reads without torch (workflow/scripts/cnncompare/plan/torchvision_archs.json),
# asked of the installed torchvision; run after upgrading it, and commit the file. About 3 minutes.
arch-table: $(BIN)/.installed
	PYTHONPATH=workflow/scripts $(BIN)/python -W ignore -m cnncompare.train.arch_table

# docs/columns.md, every column of summary.csv and history.csv, from cnncompare/columns.py
# (tests/test_columns.py fails while the two differ).
columns-doc:
	PYTHONPATH=workflow/scripts $(PYTHON) -m cnncompare.columns > docs/columns.md

clean-demo:
	rm -rf results/demo
