"""A sweep's choice rule for more than one objective (`select: {prefer, within}`):
checked at plan time naming the key, never given to a job, applied by the
report on validation figures only, stated beside the choice, never fed a time
measured on a busy machine; and the Pareto front of validation accuracy
against the rule's objective."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import REPO
from cnncompare.plan.config import config_problems
from cnncompare.plan.plan import make_plan
from cnncompare.report import selection
from cnncompare.report.pareto import front_of, pareto_figure
from cnncompare.report.study import Study
from cnncompare.report.sweep_report import sweep_section


def _config(**block) -> dict:
    return {"device": "cpu", "models": {"m": {"arch": "custom_cnn", "epochs": 2, **block}},
            "compare": {"datasets": ["digits"], "splits": ["three"], "models": ["m"], "seeds": [0]}}


# --- plan time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("block, expected", [
    ({"select": {"prefer": "train_time"}},
     "models.m.select: chooses among the variants of a sweep, and this block has no sweep"),
    ({"sweep": {"lr": [0.01, 0.1]}, "select": {"within": 2}}, "models.m.select: 'prefer' is a required property"),
    ({"sweep": {"lr": [0.01, 0.1]}, "select": {"prefer": "speed"}},
     "models.m.select.prefer: 'speed' is not one of: train_time, params, gmacs, images_per_s, latency"),
    ({"sweep": {"lr": [0.01, 0.1]}, "select": {"prefer": "params", "within": -1}},
     "models.m.select.within: -1 must be >= 0"),
    ({"sweep": {"lr": [0.01, 0.1]}, "select": {"prefer": "params", "within": 1, "by": "val"}},
     "models.m.select.by: unknown key; allowed keys: prefer, within"),
    ({"sweep": {"lr": [0.01, 0.1], "select": [{"prefer": "params"}]}},
     "models.m.sweep.select: select cannot be swept"),
])
def test_a_bad_select_names_the_key(block, expected):
    _, problems = config_problems(_config(**block))
    assert any(p.startswith(expected) for p in problems), problems


def test_the_rule_reaches_the_report_and_no_job():
    """within takes the schema's default; the variants' jobs get no select (changing the rule re-renders
    the report only), and the render rule's model texts carry it."""
    plan = make_plan(_config(sweep={"lr": [0.01, 0.1]}, select={"prefer": "params"}))
    assert all("select" not in plan.models[v].params for v in ("m.lr-0.01", "m.lr-0.1"))
    texts = plan.model_texts()
    assert texts["m.lr-0.1"]["sweep"]["select"] == {"prefer": "params", "within": 1.0}
    plain = make_plan(_config(sweep={"lr": [0.01, 0.1]})).model_texts()
    assert "select" not in plain["m.lr-0.1"]["sweep"]  # a sweep without a rule: texts as before


def test_every_objective_the_schema_allows_is_known_to_the_report():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    prefer = schema["$defs"]["model"]["properties"]["select"]["properties"]["prefer"]
    assert prefer["enum"] == list(selection.OBJECTIVES)
    assert "default" not in prefer  # an objective is always chosen by the user


# --- the choice ----------------------------------------------------------------------------------------


def _study(variants: list[tuple], rule: dict | None, seeds=(0,)) -> Study:
    """variants: (lr, val_acc, test_acc, train_seconds, params, extra row values)."""
    rows, models = [], {}
    for lr, val, test, seconds, params, extra in variants:
        name = f"m.lr-{lr}"
        models[name] = {"description": "", "reference": {}, "sweep": {
            "block": "m", "keys": ["lr"], "settings": {"lr": lr}, **({"select": rule} if rule else {})}}
        rows += [{"dataset": "digits", "split": "three", "model": name, "seed": seed, "status": "completed",
                  "val_acc": val, "test_acc": test, "val_size": 360, "train_seconds": seconds,
                  "params_total": params, **extra} for seed in seeds]
    return Study.of(rows, models=models)


VARIANTS = [  # the most accurate is slow; 0.1 is within a point and fast; 1.0 is fastest but 1.5 points down
    (0.01, 0.950, 0.930, 100.0, 5000, {}),
    (0.1, 0.945, 0.910, 40.0, 5000, {}),
    (0.03, 0.942, 0.940, 60.0, 5000, {}),
    (1.0, 0.935, 0.920, 10.0, 5000, {}),
]


def test_the_fastest_variant_within_one_point_is_chosen_and_the_rule_is_stated():
    section = sweep_section(_study(VARIANTS, {"prefer": "train_time", "within": 1.0}))
    choice = section["choices"][0]
    assert choice["chosen"] == "m.lr-0.1"
    lines = choice["lines"]
    assert lines[0].startswith("m on digits (a sweep of 4 variants): validation accuracy of the three-split runs "
                               "and the select rule below pick m.lr-0.1 (validation 94.5%, one seed); its test "
                               "accuracy is 91.0%.")
    assert lines[1] == ("The select rule: the shortest training time among the variants within 1.0 point of the "
                        "best mean validation accuracy (95.0%, m.lr-0.01): of the 3 variants in that band, m.lr-0.1 "
                        "has the shortest training time (40.0 s); the most accurate, m.lr-0.01, has 100.0 s.")
    # The test set chose nothing: lr 0.03 has the best test accuracy and is not the choice.
    assert any(line.startswith("The highest test accuracy, 94.0%, belongs to m.lr-0.03") for line in lines)
    block = section["blocks"][0]
    assert block["chosen"] == "m.lr-0.1"
    # The table shows the objective beside the accuracies.
    assert block["table"]["header"][-2] == "training time (s, median epoch × epochs)"
    assert [r["cells"][-2]["text"] for r in block["table"]["rows"]] == ["100.0 s", "40.0 s", "60.0 s", "10.0 s"]
    assert "with the select rule: the shortest training time among the variants within 1.0 point" in block["note"]


def test_a_wider_band_reaches_the_fastest_and_a_zero_band_keeps_the_most_accurate():
    assert sweep_section(_study(VARIANTS, {"prefer": "train_time", "within": 2.0}))["choices"][0]["chosen"] == "m.lr-1.0"
    assert sweep_section(_study(VARIANTS, {"prefer": "train_time", "within": 0}))["choices"][0]["chosen"] == "m.lr-0.01"


def test_without_a_rule_the_choice_and_its_sentence_are_as_before():
    lines = sweep_section(_study(VARIANTS, None))["choices"][0]["lines"]
    assert lines[0].startswith("m on digits (a sweep of 4 variants): validation accuracy of the three-split runs "
                               "picks m.lr-0.01 (validation 95.0%")
    assert not any("select rule" in line for line in lines)


def test_a_time_from_a_busy_machine_is_never_used_to_choose():
    """lr 0.1 would win on time, but its only run was timed on a busy machine: nothing in the band is known to
    be faster than the most accurate variant, which is kept, and the sentence says why."""
    busy = [(lr, v, t, s, p, {"busy_machine": True} if lr == 0.1 else e) for lr, v, t, s, p, e in VARIANTS]
    choice = sweep_section(_study(busy, {"prefer": "train_time", "within": 1.0}))["choices"][0]
    assert choice["chosen"] == "m.lr-0.01"
    table = sweep_section(_study(busy, {"prefer": "train_time", "within": 1.0}))["blocks"][0]["table"]
    assert table["rows"][1]["cells"][-2]["text"] == "40.0 s (busy machine: not used)"
    assert any("In that band, m.lr-0.1 was measured on a busy machine only, and such figures are never used to "
               "choose; with nothing known to be better, the most accurate variant, m.lr-0.01, is kept." in line
               for line in choice["lines"]), choice["lines"]
    # Parameters are no time: the same flag does not stop a choice on them.
    fewer = [(lr, v, t, s, 1000 if lr == 0.1 else p, e) for lr, v, t, s, p, e in busy]
    assert sweep_section(_study(fewer, {"prefer": "params", "within": 1.0}))["choices"][0]["chosen"] == "m.lr-0.1"


def test_a_flagged_seed_is_left_out_of_its_variants_mean_time():
    """Two seeds: seed 1 of lr 0.1 ran on a busy machine (900 s); its mean is its seed 0's 40 s, and the
    sentence counts the run left out."""
    rows = _study(VARIANTS, {"prefer": "train_time", "within": 1.0}, seeds=(0, 1)).rows
    rows = [{**r, "train_seconds": 900.0, "busy_machine": True} if (r["model"], r["seed"]) == ("m.lr-0.1", 1) else r
            for r in rows]
    study = Study.of(rows, models=_study(VARIANTS, {"prefer": "train_time", "within": 1.0}).models)
    choice = sweep_section(study)["choices"][0]
    assert choice["chosen"] == "m.lr-0.1"
    assert "has the shortest training time (40.0 s)" in choice["lines"][1]
    assert choice["lines"][2] == ("1 run of the band had training time (s, median epoch × epochs) measured on a busy "
                                  "machine; it is left out of the means, never used to choose.")


def test_a_higher_is_better_objective_takes_the_highest():
    rates = [(lr, v, t, s, p, {"inference_images_per_second": r})
             for (lr, v, t, s, p, _), r in zip(VARIANTS, (900.0, 1500.0, 1200.0, 5000.0))]
    choice = sweep_section(_study(rates, {"prefer": "images_per_s", "within": 1.0}))["choices"][0]
    assert choice["chosen"] == "m.lr-0.1"
    assert "has the highest inference throughput (1,500 images/s)" in choice["lines"][1]


def test_a_band_of_one_says_so():
    lines = sweep_section(_study(VARIANTS, {"prefer": "train_time", "within": 0.1}))["choices"][0]["lines"]
    assert lines[1] == ("The select rule: the shortest training time among the variants within 0.1 points of the best "
                        "mean validation accuracy (95.0%, m.lr-0.01): it is the only variant in that band (100.0 s).")


def test_a_tie_on_the_objective_goes_to_the_higher_validation_accuracy():
    same = [(lr, v, t, s, 5000, e) for lr, v, t, s, _, e in VARIANTS]
    assert sweep_section(_study(same, {"prefer": "params", "within": 1.0}))["choices"][0]["chosen"] == "m.lr-0.01"


# --- the Pareto front ----------------------------------------------------------------------------------


def _entries(points: list[tuple], busy=()) -> list[dict]:
    """points: (name, parameters, validation accuracy); `busy` names have only a flagged time."""
    study = _study([(name, val, val, params, params, {"busy_machine": True} if name in busy else {})
                    for name, params, val in points], {"prefer": "train_time", "within": 1.0})
    return [b for b in sweep_section(study)["blocks"]][0], study


def test_the_front_of_a_set_whose_front_is_known():
    """Cost (training seconds) against validation accuracy: B beats C and E; D, A and B are the front."""
    block, _ = _entries([("A", 10, 0.90), ("B", 20, 0.95), ("C", 30, 0.93), ("D", 5, 0.80), ("E", 20, 0.94)])
    pareto = [f for f in block["figures"] if f["key"] == "pareto"][0]
    assert pareto["front"] == ["m.lr-D", "m.lr-A", "m.lr-B"]
    svg = pareto["svg"]
    assert re.search(r'class="front" data-front="m.lr-D\|m.lr-A\|m.lr-B"', svg)
    assert len(re.findall(r'class="point"', svg)) == 5
    assert "<title>chosen: m.lr-B</title>" in svg  # the fastest within a point of 95%: B itself
    assert "training time (s, median epoch × epochs)" in svg and "validation accuracy" in svg


def test_a_busy_figure_is_drawn_hollow_and_kept_off_the_front():
    """D would be on the front (fastest), but its time is flagged: hollow, labelled, not on the front."""
    block, _ = _entries([("A", 10, 0.90), ("B", 20, 0.95), ("D", 5, 0.80)], busy=("D",))
    pareto = [f for f in block["figures"] if f["key"] == "pareto"][0]
    assert pareto["front"] == ["m.lr-A", "m.lr-B"]
    assert re.search(r'data-model="m.lr-D" data-busy="true"><circle class="point busy"', pareto["svg"])
    assert "busy machine: not used" in pareto["svg"]


def test_a_higher_is_better_front_runs_the_other_way():
    entries = [{"variant": v, "settings": {"lr": 1}, "eligible": True, "val": {"mean": acc},
                "cost": {"mean": rate, "n": 1, "flagged": 0, "flagged_mean": None}}
               for v, rate, acc in (("a", 100.0, 0.9), ("b", 200.0, 0.85), ("c", 150.0, 0.8))]
    assert [e["variant"] for e in front_of(entries, {"prefer": "images_per_s", "within": 1.0})] == ["b", "a"]
    svg = pareto_figure("m", "digits", "three", entries, entries[0], {"prefer": "images_per_s", "within": 1.0})["svg"]
    assert "inference images/s" in svg


def test_a_sweep_without_a_rule_draws_no_front():
    block = sweep_section(_study(VARIANTS, None))["blocks"][0]
    assert [f["key"] for f in block["figures"]] == ["lr"]
