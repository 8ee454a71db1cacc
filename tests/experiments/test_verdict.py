"""The verdict is computed from the fits' numbers: means over seeds, compared as configured."""

from __future__ import annotations

import json
import math

from dlpipe.config.experiment import ExperimentConfig
from dlpipe.experiments.verdict import json_safe, judge


def _experiment(**verdict_condition) -> ExperimentConfig:
    return ExperimentConfig(
        claim="dropout narrows the gap",
        block="mlp",
        seeds=[1, 2],
        arms={"none": {}, "dropout": {"model.dense.dropout": 0.5}},
        verdict=[{"arm": "dropout", "measure": "train_val_gap", **verdict_condition}],
    )


def _records(none_gaps, dropout_gaps):
    return [
        {"arm": arm, "seed": seed, "train_val_gap": gap}
        for arm, gaps in (("none", none_gaps), ("dropout", dropout_gaps))
        for seed, gap in zip((1, 2), gaps, strict=True)
    ]


def test_the_claim_holds_on_means_over_seeds_and_the_numbers_are_reported():
    verdict = judge(_records([0.15, 0.13], [0.02, 0.08]), _experiment(below="none"))
    assert verdict["held"] is True
    condition = verdict["conditions"][0]
    assert condition["value"] == 0.05 and condition["reference_value"] == 0.14
    assert verdict["arms"]["dropout"]["measures"]["train_val_gap"]["per_seed"] == {"1": 0.02, "2": 0.08}
    assert verdict["arms"]["dropout"]["overrides"] == {"model.dense.dropout": 0.5}
    assert "train_val_gap of dropout (0.05) is below none's 0.14 in every seed" in verdict["conclusion"]
    assert condition["seeds_agree"] is True


def test_a_claim_held_only_on_average_says_that_the_seeds_overlap():
    verdict = judge(_records([0.15, 0.05], [0.02, 0.12]), _experiment(below="none"))
    assert verdict["held"] is True and verdict["conditions"][0]["seeds_agree"] is False
    assert "below none's 0.1 on average (the seeds' ranges overlap)" in verdict["conclusion"]


def test_a_margin_the_difference_does_not_clear_makes_the_claim_fail_plainly():
    verdict = judge(_records([0.15, 0.13], [0.12, 0.12]), _experiment(below="none", margin=0.05))
    assert verdict["held"] is False
    assert verdict["conclusion"].startswith("The claim did not hold on this data: ")
    assert "is not below none's 0.14 by more than 0.05" in verdict["conclusion"]


def test_a_threshold_and_a_missing_value_are_judged_and_written_as_strict_json():
    held = judge(_records([0.1, 0.1], [0.3, 0.5]), _experiment(above=0.35))
    assert held["held"] is True
    broken = judge(_records([0.1, 0.1], [math.nan, 0.5]), _experiment(above=0.35))
    assert broken["held"] is False  # a seed without a number cannot support the claim
    json.dumps(json_safe(broken), allow_nan=False)


def test_the_report_shows_claim_outcome_and_every_arms_numbers(tmp_path):
    from dlpipe.experiments.report import report

    assert report(tmp_path).startswith("No experiment has run yet")
    verdict = judge(_records([0.15, 0.13], [0.02, 0.08]), _experiment(below="none"))
    (tmp_path / "experiment_dropout").mkdir()
    (tmp_path / "experiment_dropout" / "verdict.json").write_text(json.dumps(json_safe(verdict)))
    text = report(tmp_path)
    assert text.startswith("### `experiment_dropout`: held\n\n> dropout narrows the gap")
    assert verdict["conclusion"] in text
    assert "| arm | train_val_gap |" in text
    assert "| dropout | 0.05 (0.02 to 0.08) |" in text and "| none | 0.14 (0.13 to 0.15) |" in text
