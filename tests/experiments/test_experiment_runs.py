"""Experiments on real (smoke-sized) data: the verdict follows the arms, a rerun reuses the fits."""

from __future__ import annotations

import math

import pytest

from dlpipe.config.experiment import ExperimentBlock
from dlpipe.experiments import fits
from dlpipe.experiments.fits import run_arms
from dlpipe.experiments.verdict import json_safe, judge
from tests.experiments.conftest import experiment_params


def _judged(all_smoke_params, values):
    experiment = ExperimentBlock.model_validate(values).experiment
    records = run_arms("experiment_initialization", experiment, all_smoke_params, None)
    return records, judge(records, experiment)


def test_changing_an_arm_changes_the_verdict(all_smoke_params, tmp_path):
    """Zeros keep the hidden units identical; an arm called zeros that starts from Glorot weights
    does not, and the verdict says the claim no longer held, naming the condition."""
    values = experiment_params(all_smoke_params, "experiment_initialization", tmp_path)
    records, verdict = _judged(all_smoke_params, values)
    assert verdict["held"] is True, verdict["conclusion"]
    zeros = [r for r in records if r["arm"] == "zeros"]
    assert zeros and all(r["distinct_units_fraction"] == pytest.approx(1 / 64) for r in zeros)

    values["experiment"]["arms"]["zeros"] = {"model.initializer.name": "glorot_uniform"}
    _, changed = _judged(all_smoke_params, values)
    assert changed["held"] is False
    failed = [c for c in changed["conditions"] if not c["held"]]
    assert [c["measure"] for c in failed][:1] == ["distinct_units_fraction"]
    assert "distinct_units_fraction of zeros (1) is not below 0.05" in changed["conclusion"]


def test_a_rerun_reads_finished_fits_instead_of_training_them_again(all_smoke_params, tmp_path, monkeypatch):
    values = experiment_params(
        all_smoke_params,
        "experiment_initialization",
        tmp_path,
        arms={
            "zeros": {"model.initializer.name": "zeros"},
            "he_normal": {"model.initializer.name": "he_normal"},
        },
        verdict=[{"arm": "zeros", "measure": "distinct_units_fraction", "below": 0.05}],
    )
    experiment = ExperimentBlock.model_validate(values).experiment
    first = run_arms("experiment_initialization", experiment, all_smoke_params, None)

    def no_training(*args, **kwargs):
        raise AssertionError("a stored fit was trained again")

    monkeypatch.setattr(fits, "fit_and_measure", no_training)
    again = run_arms("experiment_initialization", experiment, all_smoke_params, None)
    assert [r["final_loss"] for r in again] == [r["final_loss"] for r in first]

    changed = ExperimentBlock.model_validate(
        {**values, "experiment": {**values["experiment"], "seeds": [7]}}
    ).experiment
    with pytest.raises(AssertionError, match="trained again"):  # a new seed is a new fit
        run_arms("experiment_initialization", changed, all_smoke_params, None)
    resplit = {**all_smoke_params, "mlp": {**all_smoke_params["mlp"], "seed": 43}}
    with pytest.raises(AssertionError, match="trained again"):  # the block's seed splits other data
        run_arms("experiment_initialization", experiment, resplit, None)


def test_every_arm_is_checked_against_its_data_even_when_it_shares_it(
    all_smoke_params, tmp_path, monkeypatch
):
    values = experiment_params(all_smoke_params, "experiment_cnn_vs_mlp", tmp_path)
    experiment = ExperimentBlock.model_validate(values).experiment
    checked = []
    monkeypatch.setattr(fits, "check_fits_data", lambda config, spec: checked.append(config.model.family))

    def fit(arm, config, *args):
        checked.append(f"fit {arm}")  # every check comes before the first fit
        return {"arm": arm, "seed": config.seed}

    monkeypatch.setattr(fits, "fit_and_measure", fit)
    store = lambda block, arm, config, *_: tmp_path / f"{arm}-{config.seed}.json"  # noqa: E731
    monkeypatch.setattr(fits, "_store_path", store)
    run_arms("experiment_cnn_vs_mlp", experiment, all_smoke_params, None)
    fits_of = {arm: [f"fit {arm}"] * len(experiment.seeds) for arm in ("cnn", "mlp")}
    assert checked == ["cnn", "mlp", *fits_of["cnn"], *fits_of["mlp"]]


def test_a_diverging_arm_is_a_finding_with_its_epoch_not_an_error(all_smoke_params, tmp_path):
    values = experiment_params(
        all_smoke_params,
        "experiment_gradient_clipping",
        tmp_path,
        arms={
            "none": {},
            "global_norm": {"training.gradient_clipping": {"mode": "global_norm", "threshold": 1.0}},
        },
    )
    values["experiment"]["verdict"] = [{"arm": "none", "measure": "diverged", "above": 0.5}]
    experiment = ExperimentBlock.model_validate(values).experiment
    records = run_arms("experiment_gradient_clipping", experiment, all_smoke_params, None)
    unclipped = next(r for r in records if r["arm"] == "none")
    assert unclipped["diverged"] == 1.0
    verdict = json_safe(judge(records, experiment))
    assert verdict["held"] is True
    clipped = next(r for r in records if r["arm"] == "global_norm")
    assert clipped["diverged"] == 0.0 and all(math.isfinite(v) for v in clipped["curves"]["loss"])
