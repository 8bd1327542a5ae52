"""The results table, fit for a paper: one row per model, one column group per
data set and split (test accuracy as mean ± the half-width of its 95%
interval over seeds with n, trainable parameters, training time), and beside
them what a model block's `reference:` says was reported elsewhere. The same
table as Markdown and LaTeX text, which the page copies with a button."""

from __future__ import annotations

from cnncompare.protocols import protocol
from cnncompare.report.numbers import count, fmt, pct, percent, points, share, whole_seconds
from cnncompare.report.timing import BUSY_CPU_SHARE
from cnncompare.report.stats import describe, is_number, mean_interval
from cnncompare.report.study import Study
MEASURES = [("test acc. (%)", "acc"), ("trainable params", "params"), ("training (s)", "time")]


def accuracy_text(found: dict) -> str:
    """Test accuracy over seeds (mean_interval's figures): mean ± half-width of its interval (n);
    the interval's ends where it was cut at 0% or 100%; with two seeds their range, never an interval."""
    if found["mean"] is None:
        return "–"
    text = percent(found["mean"])
    if found["half"] is not None and found["clipped"]:
        return f"{text} [{percent(found['low'])}, {percent(found['high'])}] (n={found['n']})"
    if found["half"] is not None:
        return f"{text} ± {points(found['half'])} (n={found['n']})"
    if found["n"] > 1:
        return f"{text} (range {percent(found['min'])}–{percent(found['max'])}, n={found['n']})"
    return f"{text} (n={found['n']})"


def params_text(values: list) -> str:
    found = [v for v in values if is_number(v)]
    if not found:
        return "–"
    return fmt(found[0], "count") if len(set(found)) == 1 else count(describe(found)['mean'])


def reference_text(reference: dict) -> str:
    parts = []
    accuracy = reference.get("accuracy")
    if is_number(accuracy):
        parts.append(pct(accuracy))
    elif accuracy:
        parts.append(str(accuracy))
    if reference.get("training_time"):
        parts.append(str(reference["training_time"]))
    return "; ".join(parts)


def _applies(reference: dict | None, dataset: str) -> bool:
    return bool(reference) and bool(reference_text(reference)) and reference.get("dataset") in (None, "", dataset)


BUSY_MARK = "†"
BUSY_NOTE = (f"{BUSY_MARK} Timed on a busy machine (the training job got less than {share(BUSY_CPU_SHARE)} of its "
             "cores): the time says more about the machine than about the model.")


def time_cell(runs, data: dict) -> dict:
    """The mean training time, marked † when a run of it was timed on a busy machine (the flag that
    study.with_run_facts adds follows the time into the page, Markdown and LaTeX)."""
    text = whole_seconds(describe([r.get("train_seconds") for r in runs])["mean"])
    busy = sum(bool(r.get("busy_machine")) for r in runs)
    if not busy:
        return {"text": text, "data": data, "title": None}
    return {"text": f"{text} {BUSY_MARK}", "data": data, "busy": True,
            "title": f"{busy} of {len(runs)} run{'s' if len(runs) > 1 else ''} timed on a busy machine"}


def results_table(study: Study) -> dict:
    """The table as cells (for the page) and as Markdown and LaTeX; beside the
    results, what each model's `reference:` says was reported elsewhere."""
    references = {m: (b or {}).get("reference") or {} for m, b in study.models.items()}
    done = study.completed
    models, datasets, settings = study.model_names, study.datasets, study.settings
    ref_datasets = [d for d in datasets if any(_applies(references.get(m), d) for m in models)]

    groups, columns = [], []
    for dataset, split in settings:
        groups.append({"title": f"{dataset}, {protocol(split).label}", "span": len(MEASURES),
                       "data": {"data-dataset": dataset, "data-split": split}})
        columns += [{"title": title, "data": {"data-dataset": dataset, "data-split": split}} for title, _ in MEASURES]
    for dataset in ref_datasets:
        groups.append({"title": f"{dataset}, reported", "span": 1, "data": {"data-dataset": dataset}})
        columns.append({"title": "reported elsewhere", "data": {"data-dataset": dataset}})

    body = []
    for model in models:
        cells = []
        for dataset, split in settings:
            group = done.group_of(dataset, split, model)
            runs = group.runs if group else ()
            data = {"data-dataset": dataset, "data-split": split}
            accs = [r["test_acc"] for r in runs]
            cells += [
                {"text": accuracy_text(group.accuracy if group else mean_interval([])), "data": data,
                 "title": ", ".join(repr(a) for a in accs) or None},
                {"text": params_text([r.get("params_trainable") for r in runs]), "data": data, "title": None},
                time_cell(runs, data),
            ]
        for dataset in ref_datasets:
            reference = references.get(model) or {}
            applies = _applies(reference, dataset)
            cells.append({"text": reference_text(reference) if applies else "", "data": {"data-dataset": dataset},
                          "title": reference.get("source") if applies else None})
        body.append({"model": model, "cells": cells, "data": {"data-model": model}})

    sources = [{"model": m, "source": references[m].get("source") or "", "text": reference_text(references[m])}
               for m in models if any(_applies(references.get(m), d) for d in ref_datasets)]
    table = {"groups": groups, "columns": columns, "rows": body, "sources": sources,
             "busy": any(c.get("busy") for row in body for c in row["cells"])}
    table["markdown"] = to_markdown(table)
    table["latex"] = to_latex(table)
    return table


NOTE = ("Test accuracy: mean over seeds ± half-width of its 95% interval (Student's t, from 3 seeds on; its ends "
        "in brackets where it was cut at 0% or 100%; with 2 seeds their range instead), n seeds. "
        "Two splits: the epoch was chosen on the test set itself (the study's protocol), so that figure is "
        "biased upwards.")


def _flat_headers(table: dict) -> list[str]:
    headers = []
    for group in table["groups"]:
        span = [c for c in table["columns"][len(headers):len(headers) + group["span"]]]
        headers += [f"{group['title']}: {c['title']}" for c in span]
    return headers


def to_markdown(table: dict) -> str:
    headers = ["model", *_flat_headers(table)]

    def line(cells):
        return "| " + " | ".join(one_line(c).replace("|", "\\|") for c in cells) + " |"

    lines = [line(headers), "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    lines += [line([row["model"], *(c["text"] or "" for c in row["cells"])]) for row in table["rows"]]
    lines += ["", NOTE] + ([BUSY_NOTE] if table.get("busy") else [])
    lines += [one_line(f"Reported for {s['model']}: {s['text']} ({s['source']}).") for s in table["sources"]]
    return "\n".join(lines) + "\n"


def one_line(text) -> str:
    """`text` with its line breaks (\\n, \\r, and Unicode's) as spaces: a newline ends a LaTeX
    comment (the next line would be live LaTeX), a blank line ends a tabular's cell with an
    error, and a Markdown table row is one line."""
    return " ".join(str(text).splitlines())


def latex_escape(text) -> str:
    # Backslashes wait aside, and braces are escaped before the replacements that hold braces.
    out = one_line(text).replace("\\", "\0")
    for char, repl in (("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"), ("_", r"\_"), ("{", r"\{"),
                       ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}")):
        out = out.replace(char, repl)
    return (out.replace("\0", r"\textbackslash{}").replace("±", r"$\pm$").replace("–", "--")
            .replace(BUSY_MARK, r"\dag{}"))


def to_latex(table: dict) -> str:
    spans = [g["span"] for g in table["groups"]]
    spec = "l" + "".join(" " + "r" * s for s in spans)
    top, rules, start = ["model"], [], 2
    for group in table["groups"]:
        top.append(rf"\multicolumn{{{group['span']}}}{{c}}{{{latex_escape(group['title'])}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{start + group['span'] - 1}}}")
        start += group["span"]
    lines = [
        "% needs \\usepackage{booktabs}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(top) + r" \\",
        " ".join(rules),
        " & ".join(["", *(latex_escape(c["title"]) for c in table["columns"])]) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join([latex_escape(row["model"]), *(latex_escape(c["text"]) for c in row["cells"])]) + r" \\"
              for row in table["rows"]]
    lines += [r"\bottomrule", r"\end{tabular}", "% " + NOTE] + (["% " + BUSY_NOTE] if table.get("busy") else [])
    lines += ["% " + one_line(f"Reported for {s['model']}: {s['text']} ({s['source']}).") for s in table["sources"]]
    return "\n".join(lines) + "\n"
