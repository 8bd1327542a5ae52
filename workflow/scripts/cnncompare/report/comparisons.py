"""Paired comparisons of the models of one (data set, split), from each run's
predictions.csv and summary.csv alone, through scipy, so a reader can redo each
number:

- per seed both models ran (the same split, so the same test images): McNemar's
  exact test, a two-sided binomial test on the images exactly one of the two got
  right (Dietterich 1998 recommends it for one training run each), and the
  accuracy difference with a paired bootstrap interval over the test images;
- with several seeds: the per-seed differences, their mean (with a bootstrap
  interval over seeds from three shared seeds on; fewer are shown one by one),
  and the probability that A beats B over all pairs of their seeds;
- Holm's step-down correction over all pairs of the setting; a pair is told
  apart when its adjusted p is below ALPHA.

A pair's p with several shared seeds is the largest of its per-seed p's (an
intersection-union test: the difference must hold in every seed), and a pair
whose seeds disagree on the sign is never told apart.

Torch-free; it runs in the report's job (render_report), never in Snakemake's
process: the plan wing does not import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Callable

import numpy as np
from scipy import stats as scipy_stats

from cnncompare.report.stats import MIN_SEEDS_FOR_INTERVAL

ALPHA = 0.05  # a pair is told apart when its Holm-adjusted p is below this
LEVEL = 0.95  # every interval of this module
BOOTSTRAP_RESAMPLES = 9999  # scipy.stats.bootstrap's default
BOOTSTRAP_BATCH = 500  # resamples drawn at once: 500 x 10,000 test images stay small in memory
BOOTSTRAP_SEED = 0  # fixed, so the same files give the same report


# --- the statistics ------------------------------------------------------------------------------------


def mcnemar(a_right: np.ndarray, b_right: np.ndarray) -> dict:
    """McNemar's exact test: {"a_only", "b_only", "p"}. a_only: images A got right and B wrong.
    Two models that agree on every image have no discordant image: p = 1."""
    a_right, b_right = np.asarray(a_right, bool), np.asarray(b_right, bool)
    a_only, b_only = int(np.sum(a_right & ~b_right)), int(np.sum(~a_right & b_right))
    return {"a_only": a_only, "b_only": b_only, "p": _exact_p(a_only, b_only)}


@lru_cache(maxsize=None)
def _exact_p(a_only: int, b_only: int) -> float:
    """Two-sided binomial p of a_only successes in a_only + b_only tries at 0.5. Cached: the
    overview's study (chosen sweep variants only) tests the same pairs again."""
    discordant = a_only + b_only
    return float(scipy_stats.binomtest(a_only, discordant, 0.5).pvalue) if discordant else 1.0


def _difference_of_means(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def paired_bootstrap(a_right: np.ndarray, b_right: np.ndarray, level: float = LEVEL,
                     resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """The `level` percentile-bootstrap interval of accuracy(A) - accuracy(B), the test images
    resampled in pairs (scipy.stats.bootstrap, paired=True). Percentile rather than BCa: the
    per-image differences take three values only, where BCa's acceleration is unstable.
    Models that agree on every image get a zero-width interval (nothing varies to resample)."""
    a, b = np.asarray(a_right, float), np.asarray(b_right, float)
    if np.array_equal(a, b):
        return 0.0, 0.0
    found = scipy_stats.bootstrap((a, b), _difference_of_means, paired=True, vectorized=True,
                                  confidence_level=level, n_resamples=resamples, method="percentile",
                                  batch=BOOTSTRAP_BATCH, random_state=np.random.default_rng(seed))
    return float(found.confidence_interval.low), float(found.confidence_interval.high)


def mean_bootstrap(values: list[float], level: float = LEVEL, resamples: int = BOOTSTRAP_RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """The percentile-bootstrap interval of a mean (per-seed differences resampled); None for
    fewer than MIN_SEEDS_FOR_INTERVAL values."""
    if len(values) < MIN_SEEDS_FOR_INTERVAL:
        return None
    if len(set(values)) == 1:
        return float(values[0]), float(values[0])
    found = scipy_stats.bootstrap((np.asarray(values, float),), np.mean, vectorized=True, confidence_level=level,
                                  n_resamples=resamples, method="percentile",
                                  random_state=np.random.default_rng(seed))
    return float(found.confidence_interval.low), float(found.confidence_interval.high)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p's, in the order given: the k-th smallest of m is multiplied by
    m - k + 1, made non-decreasing along that order, and capped at 1."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [1.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def beats_probability(a_values: list[float], b_values: list[float]) -> float | None:
    """P(A beats B): the share of (seed of A, seed of B) pairs where A's accuracy is higher, ties half."""
    if not a_values or not b_values:
        return None
    wins = sum((a > b) + 0.5 * (a == b) for a in a_values for b in b_values)
    return wins / (len(a_values) * len(b_values))


# --- the report's comparisons ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedComparison:
    """Two runs of one seed on the same test images."""

    seed: int
    a_right: np.ndarray = field(repr=False)
    b_right: np.ndarray = field(repr=False)

    @cached_property
    def test(self) -> dict:
        return mcnemar(self.a_right, self.b_right)

    @property
    def images(self) -> int:
        return len(self.a_right)

    @property
    def diff(self) -> float:
        return float(np.mean(self.a_right) - np.mean(self.b_right))

    @cached_property
    def interval(self) -> tuple[float, float]:
        """Computed when first read: the overview needs only the tests."""
        return paired_bootstrap(self.a_right, self.b_right)


@dataclass(eq=False)
class Pair:
    """Group A (the higher mean test accuracy) against group B of one setting."""

    a: object  # study.Group
    b: object
    seeds: list[SeedComparison]
    why_unpaired: str = ""  # when `seeds` is empty: why no test ran
    p_adjusted: float | None = None  # set by compare_setting, over the setting's pairs

    @property
    def a_values(self) -> list[float]:
        return [v for v in self.a.values("test_acc") if v is not None]

    @property
    def b_values(self) -> list[float]:
        return [v for v in self.b.values("test_acc") if v is not None]

    @property
    def diff(self) -> float:
        """The mean of the per-seed paired differences; unpaired, the difference of the means."""
        if self.seeds:
            return float(np.mean([s.diff for s in self.seeds]))
        return float(np.mean(self.a_values) - np.mean(self.b_values))

    @property
    def p(self) -> float | None:
        """McNemar's p of the one shared seed; with several, the largest (the difference must hold in
        each); 1 when the seeds disagree on which model is better; None when nothing was paired."""
        if not self.seeds:
            return None
        if self.seeds_disagree:
            return 1.0
        return max(s.test["p"] for s in self.seeds)

    @property
    def seeds_disagree(self) -> bool:
        """Whether A is better on some shared seeds and B on others."""
        return len({np.sign(s.diff) for s in self.seeds if s.diff}) > 1

    @cached_property
    def seed_interval(self) -> tuple[float, float] | None:
        """The bootstrap interval over seeds of the mean paired difference (3 or more shared seeds)."""
        return mean_bootstrap([s.diff for s in self.seeds])

    @property
    def interval(self) -> tuple[float, float] | None:
        """The interval the report shows: over seeds from three shared seeds, over test images for one."""
        if len(self.seeds) >= MIN_SEEDS_FOR_INTERVAL:
            return self.seed_interval
        if len(self.seeds) == 1:
            return self.seeds[0].interval
        return None

    @property
    def interval_kind(self) -> str:
        if len(self.seeds) >= MIN_SEEDS_FOR_INTERVAL:
            return f"bootstrap over {len(self.seeds)} seeds"
        if len(self.seeds) == 1:
            return f"paired bootstrap over {self.seeds[0].images:,} test images"
        return ""

    @property
    def beats(self) -> float | None:
        return beats_probability(self.a_values, self.b_values)

    @property
    def told_apart(self) -> bool:
        return self.p_adjusted is not None and self.p_adjusted < ALPHA


@dataclass(eq=False)
class SettingComparison:
    """Every pair of the models of one (data set, split), A before B by mean test accuracy."""

    dataset: str
    split: str
    groups: list  # study.Group, best first
    pairs: list[Pair]

    @property
    def best(self):
        return self.groups[0]

    @property
    def tied_with_best(self) -> list:
        """The groups the data cannot tell apart from the best (its pairs not told apart)."""
        return [p.b for p in self.pairs if p.a is self.best and not p.told_apart]


def right_answers(predictions: dict | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(index, right) of a run's predictions.csv as read by report_data.read_predictions."""
    if predictions is None:
        return None
    return predictions["index"], predictions["true"] == predictions["predicted"]


def compare_pair(a, b, predictions_of: Callable[[dict], dict | None]) -> Pair:
    """A and B on each seed both ran whose predictions cover the same test images."""
    a_runs = {int(r["seed"]): r for r in a.runs}
    b_runs = {int(r["seed"]): r for r in b.runs}
    shared = [s for s in a_runs if s in b_runs]
    seeds, why = [], ""
    for seed in shared:
        found_a, found_b = right_answers(predictions_of(a_runs[seed])), right_answers(predictions_of(b_runs[seed]))
        if found_a is None or found_b is None:
            why = "a run has no predictions.csv"
            continue
        if not np.array_equal(found_a[0], found_b[0]):
            why = f"seed {seed}'s predictions are not of the same test images"
            continue
        seeds.append(SeedComparison(seed, found_a[1], found_b[1]))
    if not shared:
        why = "no seed in common"
    return Pair(a, b, seeds, "" if seeds else why)


def compare_setting(dataset: str, split: str, groups: list, predictions_of) -> SettingComparison:
    """Every pair of `groups` (completed runs of one setting), Holm-corrected together."""
    ranked = sorted(groups, key=lambda g: g.mean("test_acc"), reverse=True)
    pairs = [compare_pair(a, b, predictions_of) for i, a in enumerate(ranked) for b in ranked[i + 1:]]
    tested = [p for p in pairs if p.p is not None]
    for pair, adjusted in zip(tested, holm([p.p for p in tested])):
        pair.p_adjusted = adjusted
    return SettingComparison(dataset, split, ranked, pairs)


def compare_study(completed, predictions_of) -> dict[tuple[str, str], SettingComparison]:
    """(data set, split) -> its comparison, for each setting of the completed study with two or more models."""
    found = {}
    for dataset, split in completed.settings:
        groups = [g for g in completed.groups_in(dataset, split) if g.mean("test_acc") is not None]
        if len(groups) > 1:
            found[(dataset, split)] = compare_setting(dataset, split, groups, predictions_of)
    return found


# One line per method, as the report states it.
METHODS = [
    "McNemar's exact test: a two-sided binomial test (scipy.stats.binomtest, p = 0.5) on the test images "
    "exactly one of the two models got right, per seed both ran; with several shared seeds a pair's p is the "
    "largest of its seeds' (the difference must hold in each), and 1 when the seeds disagree on the sign.",
    f"Holm's step-down correction over all pairs of a data set and split; a pair is told apart when its "
    f"adjusted p is below {ALPHA}.",
    f"Accuracy difference on one seed: {LEVEL:.0%} percentile bootstrap over the test images, resampled in "
    f"pairs (scipy.stats.bootstrap, paired=True, {BOOTSTRAP_RESAMPLES:,} resamples, seed {BOOTSTRAP_SEED}).",
    f"Over seeds: the mean of the per-seed paired differences, with a {LEVEL:.0%} percentile bootstrap over "
    f"the seeds from {MIN_SEEDS_FOR_INTERVAL} shared seeds on; with fewer, each seed's difference.",
    "P(A beats B): the share of (seed of A, seed of B) pairs in which A's test accuracy is higher, ties "
    "counted half.",
    f"One run's test accuracy: the {LEVEL:.0%} Wilson interval over its test images "
    "(scipy.stats.binomtest(...).proportion_ci).",
]
