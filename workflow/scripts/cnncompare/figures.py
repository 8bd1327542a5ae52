"""The report's figures: matplotlib SVG text (written into the page and into
files for Snakemake's report) and PNG data URIs for image thumbnails.

Nothing here reads or writes files; report.py decides where figures go.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402

from cnncompare.stats import describe, pareto_front  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "figure.dpi": 100, "font.size": 9, "svg.hashsalt": "cnncompare"})
COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def svg(fig) -> str:
    buffer = io.StringIO()
    # No RDF metadata block: no date (the same data give the same page) and no
    # third-party namespace URIs in a page that must reference nothing outside.
    no_metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata=no_metadata)
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE


def png_data_uri(image: np.ndarray) -> str:
    """A uint8 H x W x 3 image as an RGB PNG data URI, at its own size (the page scales it)."""
    from PIL import Image  # matplotlib's own dependency

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="RGB").save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _epoch_stats(histories: list[list[dict]], column: str) -> tuple[list[int], list[float], list[float]]:
    """Per epoch: the mean over runs and its standard deviation (0 where one run reached that epoch)."""
    epochs = sorted({r["epoch"] for h in histories for r in h})
    means, stds = [], []
    for epoch in epochs:
        found = describe([r[column] for h in histories for r in h if r["epoch"] == epoch])
        means.append(found["mean"] if found["mean"] is not None else np.nan)
        stds.append(found["std"] or 0.0)
    return epochs, means, stds


def curves_figure(series: list[tuple[str, str, list[list[dict]]]], metric: str, ylabel: str) -> str:
    """Train (solid) and val (dashed) `metric` per epoch, one axis per data set.

    `series` holds (data set, label, histories): one history is drawn as a
    line, several (the seeds of one model) as their mean with a band of one
    standard deviation.
    """
    datasets = list(dict.fromkeys(dataset for dataset, _, _ in series)) or [""]
    fig, axes = plt.subplots(len(datasets), 1, figsize=(7.5, 3.6 * len(datasets)), squeeze=False)
    for ax, dataset in zip(axes[:, 0], datasets):
        for i, (_, label, histories) in enumerate(s for s in series if s[0] == dataset):
            color = COLORS[i % len(COLORS)]
            suffix = f" (mean of {len(histories)} seeds)" if len(histories) > 1 else ""
            for part, style in (("train", "-"), ("val", "--")):
                epochs, means, stds = _epoch_stats(histories, f"{part}_{metric}")
                ax.plot(epochs, means, color=color, linestyle=style, label=f"{label} {part}{suffix}")
                if len(histories) > 1:
                    low, high = np.subtract(means, stds), np.add(means, stds)
                    ax.fill_between(epochs, low, high, color=color, alpha=0.15, linewidth=0)
        if len(datasets) > 1:
            ax.set_title(dataset, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return svg(fig)


def run_panels(history: list[dict], title: str) -> str:
    """Small multiples of one run: train vs val accuracy, train vs val loss, learning rate."""
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 1.9))
    epochs = [r["epoch"] for r in history]
    for ax, metric in zip(axes, ("acc", "loss")):
        ax.plot(epochs, [r[f"train_{metric}"] for r in history], color=COLORS[0], label="train")
        ax.plot(epochs, [r[f"val_{metric}"] for r in history], color=COLORS[1], linestyle="--", label="val")
        ax.set_title("accuracy" if metric == "acc" else "loss", fontsize=8)
    axes[0].legend(fontsize=7)
    axes[2].plot(epochs, [r["lr"] for r in history], color=COLORS[2])
    axes[2].set_title("learning rate (end of epoch)", fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("epoch", fontsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title, fontsize=8, y=1.04)
    fig.tight_layout()
    return svg(fig)


def tradeoff_figure(points: list[dict], xlabel: str, log_x: bool = True) -> str:
    """Test accuracy (y) against a cost (x), one point per model (mean over its
    seeds, with standard-deviation bars), the Pareto front joined and ringed."""
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for i, p in enumerate(points):
        ax.errorbar(p["x"], p["y"], xerr=p.get("xerr") or None, yerr=p.get("yerr") or None, fmt="o",
                    color=COLORS[i % len(COLORS)], capsize=2, markersize=5)
        ax.annotate(p["label"], (p["x"], p["y"]), textcoords="offset points", xytext=(5, 4), fontsize=7)
    # Accuracies of different data sets are not comparable: one front per data set.
    for dataset in dict.fromkeys(p.get("dataset") for p in points):
        members = [p for p in points if p.get("dataset") == dataset]
        front = [members[i] for i in pareto_front([(p["x"], p["y"]) for p in members])]
        xs, ys = [p["x"] for p in front], [p["y"] for p in front]
        ax.step(xs, ys, where="post", color="#444", linewidth=1, alpha=0.6)
        ax.scatter(xs, ys, s=140, facecolors="none", edgecolors="#444", linewidths=1.2,
                   label="Pareto front" if dataset == points[0].get("dataset") else None)
    if points:
        ax.legend(fontsize=7, loc="lower right")
    if log_x and all(p["x"] > 0 for p in points):
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3, which="both")
    return svg(fig)


def confusion_figure(matrix: np.ndarray, classes: list[str], title: str) -> str:
    """The confusion matrix normalised per true class (rows sum to 1), each
    row labelled with its class's accuracy; cell values written up to 12 classes."""
    counts = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, counts, out=np.zeros(matrix.shape, dtype=float), where=counts > 0)
    n = len(classes)
    size = min(max(3.0, 0.25 * n + 1.4), 12)
    fig, ax = plt.subplots(figsize=(size + 0.8, size))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    accuracy = np.diag(normalised)
    ax.set_yticks(range(n), [f"{c} ({a:.0%})" for c, a in zip(classes, accuracy)], fontsize=7)
    ax.set_xticks(range(n), classes, fontsize=7, rotation=90)
    ax.set_ylabel("true class (its accuracy)")
    ax.set_xlabel("predicted class")
    ax.set_title(title, fontsize=8)
    if n <= 12:
        for i in range(n):
            for j in range(n):
                if normalised[i, j] >= 0.005:
                    ax.text(j, i, f"{normalised[i, j]:.2f}".lstrip("0"), ha="center", va="center", fontsize=6,
                            color="white" if normalised[i, j] > 0.5 else "#222")
    return svg(fig)
