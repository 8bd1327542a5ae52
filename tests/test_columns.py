"""summary.csv and history.csv against their description in cnncompare/columns.py
and docs/columns.md: every written column described, every described column
written, each cell of the type described; the files as the csv module wrote
them before pandas did (CRLF, numbers in full, integers staying integers); and
the README's pandas example run on them."""

from __future__ import annotations

import csv
import json
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

import synthetic_runs
from cnncompare import columns
from cnncompare.report.aggregate import aggregate
from cnncompare.report.report_data import NUMBER_COLUMNS

REPO = Path(__file__).resolve().parents[1]


def _aggregate(results: Path) -> tuple[Path, Path]:
    metrics = sorted(results.glob("runs/**/metrics.json"))
    aggregate(metrics, [m.with_name("history.csv") for m in metrics], results / "summary.csv",
              results / "history.csv", [m.with_name("train.benchmark.tsv") for m in metrics],
              [m.with_name("evaluate.benchmark.tsv") for m in metrics])
    return results / "summary.csv", results / "history.csv"


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    results = tmp_path_factory.mktemp("columns") / "results"
    synthetic_runs.write_grid(results, seeds=2)
    summary, history = _aggregate(results)
    return {"results": results, "summary": summary, "history": history}


def _read(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


def check_against_description(path: Path, described: list[columns.Column]) -> list[dict]:
    """The file's header is exactly the described columns, in order, and every
    non-empty cell parses as its column's type. Returns the rows."""
    header, rows = _read(path)
    names = [c.name for c in described]
    undocumented = [c for c in header if c not in names]
    assert not undocumented, f"{path.name}: columns not described in cnncompare/columns.py: {undocumented}"
    unwritten = [c for c in names if c not in header]
    assert not unwritten, f"{path.name}: described columns the file lacks: {unwritten}"
    assert header == names
    for column in described:
        for row in rows:
            text = row[column.name]
            if text == "":
                continue
            if column.type == "integer":
                assert re.fullmatch(r"-?\d+", text), (path.name, column.name, text)
            elif column.type == "number":
                float(text)
            elif column.type == "boolean":
                assert text in ("True", "False"), (path.name, column.name, text)
    return rows


def test_the_description_is_well_formed():
    for file, table in columns.TABLES.items():
        names = [c.name for c in table]
        assert len(names) == len(set(names)), f"{file}: a column is described twice"
        for c in table:
            assert c.type in columns.TYPES, (file, c)
            assert c.meaning and "|" not in c.meaning + c.unit, (file, c)  # one Markdown table cell each
    assert columns.HISTORY_TABLE_COLUMNS == columns.RUN_KEYS + columns.HISTORY_COLUMNS
    # The report reads as numbers exactly the columns described as numbers.
    assert NUMBER_COLUMNS == {c.name for t in columns.TABLES.values() for c in t if c.type in ("integer", "number")}


def test_every_column_of_the_written_files_is_described_and_of_its_type(tables):
    summary = check_against_description(tables["summary"], columns.SUMMARY)
    history = check_against_description(tables["history"], columns.HISTORY)
    assert len(summary) == 2 * 4 * 2 and len(history) == len(summary) * 20
    # No described column is empty throughout: each is filled by what a run records.
    empty = [c.name for c in columns.SUMMARY if all(r[c.name] == "" for r in summary)]
    # The synthetic runs are CPU runs from random weights that record no prepared data.
    assert empty == ["peak_gpu_mem_mb", "data_sha256", "weights"]


def test_docs_columns_md_is_the_table_printed():
    printed = subprocess.run([sys.executable, "-m", "cnncompare.columns"], capture_output=True, text=True,
                             check=True, cwd=REPO, env={"PYTHONPATH": str(REPO / "workflow" / "scripts")}).stdout
    assert printed == columns.markdown()
    assert (REPO / "docs" / "columns.md").read_text() == printed, "docs/columns.md is stale: run make columns-doc"
    for c in columns.SUMMARY + columns.HISTORY:
        assert f"| `{c.name}` | {c.type} |" in printed
    assert "docs/columns.md" in (REPO / "README.md").read_text()


def test_settings_come_from_the_recorded_model_block(tables):
    _, rows = _read(tables["summary"])
    for row in rows:
        metrics = json.loads((tables["results"] / "runs" / row["dataset"] / row["split"] / row["model"]
                              / f"seed{row['seed']}" / "metrics.json").read_text())
        block = metrics["config"]
        assert (row["optimizer"], float(row["lr"]), int(row["batch_size"]), int(row["eval_batch_size"]),
                row["freeze"]) == (block["optimizer"], block["lr"], block["batch_size"], block["eval_batch_size"],
                                   block["freeze"])
        assert row["pretrained"] == str(metrics["pretrained"]) and int(row["num_classes"]) == 10
        assert float(row["chance_acc"]) == float(row["uniform_acc"]) == 0.1  # ten classes of 36 test images
        assert float(row["gmacs"]) == metrics["gmacs"]
        assert float(row["latency_ms"]) == metrics["latency_ms"]


def test_formatting_is_what_the_csv_module_wrote(tmp_path):
    """CRLF line ends, floats in full, an integer column with a gap keeps its
    integers (pandas would make them floats), a run from before the new keys
    gets empty cells, and history values pass through as the run wrote them."""
    results = tmp_path / "results"
    old = synthetic_runs.write_run(results / "runs/d/two/old/seed0", "d", "two", "old", 0, accuracy=0.5,
                                   epoch_seconds=1.0, params=1000, epochs=2)
    new = synthetic_runs.write_run(results / "runs/d/two/new/seed0", "d", "two", "new", 0, accuracy=0.5,
                                   epoch_seconds=1.0, params=1000, epochs=2,
                                   extra={"train_seconds": 0.1 + 0.2, "peak_gpu_mem_mb": 1234.5})
    old_path = results / "runs/d/two/old/seed0/metrics.json"
    for key in ("config", "gmacs", "inference_images_per_second", "latency_ms", "num_classes", "pretrained",
                "checkpoint_bytes", "chance_acc", "balanced_acc", "macro_f1"):
        del old[key]
    old_path.write_text(json.dumps(old))
    history = results / "runs/d/two/new/seed0/history.csv"
    lines = history.read_text().splitlines()
    lines[2] = "2,nan,0.1,inf,0.5,1e-05,0.30000000000000004,12"
    history.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    summary_path, history_path = _aggregate(results)
    raw = summary_path.read_bytes()
    assert raw.count(b"\r\n") == 3 and b"\n" not in raw.replace(b"\r\n", b"")
    header, rows = _read(summary_path)
    by_model = {r["model"]: r for r in rows}
    assert by_model["new"]["train_seconds"] == "0.30000000000000004"
    assert by_model["new"]["checkpoint_bytes"] == str(new["checkpoint_bytes"]) and by_model["old"]["checkpoint_bytes"] == ""
    assert by_model["new"]["peak_gpu_mem_mb"] == "1234.5"
    for column in ("optimizer", "lr", "gmacs", "num_classes", "chance_acc", "uniform_acc", "balanced_acc",
                   "macro_f1", "pretrained"):
        assert by_model["old"][column] == "", column
    assert by_model["new"]["device"] == "cpu (x86_64, 2 threads)"
    assert b'"cpu (x86_64, 2 threads)"' in raw  # quoted, as the csv module quotes a comma
    written = history_path.read_bytes().decode()
    assert "d,two,new,0,2,nan,0.1,inf,0.5,1e-05,0.30000000000000004,12\r\n" in written


def test_a_history_column_not_described_is_refused_naming_the_file(tmp_path):
    results = tmp_path / "results"
    synthetic_runs.write_run(results / "runs/d/two/m/seed0", "d", "two", "m", 0, accuracy=0.5, epoch_seconds=1.0,
                             params=1000, epochs=2)
    history = results / "runs/d/two/m/seed0/history.csv"
    lines = history.read_text().splitlines()
    history.write_text("\n".join([lines[0] + ",momentum"] + [line + ",0.9" for line in lines[1:]]) + "\n")
    with pytest.raises(ValueError, match=r"history\.csv: column 'momentum' is not a history\.csv column"):
        _aggregate(results)


def _readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def test_the_readme_pandas_example_runs_and_pivots_test_accuracy(tables, tmp_path, capsys):
    example = next(b for b in _readme_python_blocks() if "pivot_table" in b and "summary.csv" in b)
    workdir = tmp_path / "study"
    shutil.copytree(tables["results"], workdir / "results/demo", ignore=shutil.ignore_patterns("runs"))  # its paths
    names: dict = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        exec(compile(example, "README.md", "exec"), names)  # noqa: S102 - the README's own example
    pivot = names["accuracy"]
    _, rows = _read(tables["summary"])
    for model in synthetic_runs.MODELS:
        for split in ("two", "three"):
            accs = [float(r["test_acc"]) for r in rows if r["model"] == model and r["split"] == split]
            assert pivot.loc[model, ("mean", split)] == pytest.approx(statistics.mean(accs))
    assert "custom_cnn" in capsys.readouterr().out


def test_the_report_tables_show_columns_of_the_one_table():
    """The report's tables pick columns of cnncompare/columns.py by name and give
    them labels; the unit a cell is shown in follows from the column's type and unit."""
    from cnncompare.report import tables as report_tables

    report_only = {c.name for c in columns.REPORT}
    for shown in report_tables.METRIC_COLUMNS + report_tables.COST_COLUMNS:
        assert shown.column is columns.column(shown.column.name)
        assert shown.source() in (*columns.SUMMARY_COLUMNS, None)
        assert shown.source() or shown.column.name in report_only
    kinds = {c.name: c.kind for c in columns.SUMMARY}
    assert (kinds["test_acc"], kinds["test_loss"], kinds["checkpoint_bytes"], kinds["params_total"],
            kinds["peak_rss_mb"], kinds["latency_ms"], kinds["device"]) == (
        "acc", "loss", "bytes", "count", "mb", "ms", "text")
    assert columns.METRIC_KEYS[0] == "dataset" and columns.METRIC_KEYS[-1] == "device"
