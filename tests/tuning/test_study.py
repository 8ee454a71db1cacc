"""Tuning: the objective reuses fit_model; studies continue; failures don't stop the study."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from dlpipe.config.schema import parse_family
from dlpipe.config.tuning import PrunerConfig, SamplerConfig, SearchParameter
from dlpipe.pipelines.tuning.nodes import TUNING_FIGURES, plot_tuning_results, tune_hyperparameters
from dlpipe.tuning import memory, trial_runner
from dlpipe.tuning import study as study_module
from dlpipe.tuning.search_space import create_pruner, create_sampler, suggest


def test_suggest_respects_types_ranges_and_log_scale():
    space = [
        SearchParameter(path="model.dense.units", type="int", low=16, high=64, step=16),
        SearchParameter(path="training.optimizer.learning_rate", type="float", low=1e-4, high=1e-2, log=True),
        SearchParameter(path="model.dense.activation", type="categorical", choices=["relu", "tanh"]),
    ]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = suggest(trial, space)
        assert values["model.dense.units"] in {16, 32, 48, 64}
        assert 1e-4 <= values["training.optimizer.learning_rate"] <= 1e-2
        assert values["model.dense.activation"] in {"relu", "tanh"}
        study.tell(trial, 0.0)
    distribution = study.trials[0].distributions["training.optimizer.learning_rate"]
    assert distribution.log


@pytest.mark.parametrize("name", ["tpe", "random", "cmaes", "qmc"])
def test_every_sampler_is_available(name):
    assert isinstance(create_sampler(SamplerConfig(name=name)), optuna.samplers.BaseSampler)


@pytest.mark.parametrize(
    "name, kind",
    [
        ("median", optuna.pruners.MedianPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
        ("successive_halving", optuna.pruners.SuccessiveHalvingPruner),
        ("none", optuna.pruners.NopPruner),
    ],
)
def test_every_pruner_is_available(name, kind):
    assert isinstance(create_pruner(PrunerConfig(name=name), max_epochs=3), kind)


def test_tuning_runs_trials_and_a_rerun_continues_the_study(cnn_params, fashion_splits):
    splits, spec = fashion_splits
    info = spec.model_dump(mode="json")  # as the catalog hands it to the node
    best, trials = tune_hyperparameters(splits, info, [], cnn_params)
    assert len(trials) == 2
    assert set(best) == {entry["path"] for entry in cnn_params["tuning"]["search_space"]}
    best_again, trials_again = tune_hyperparameters(splits, info, [], cnn_params)
    assert len(trials_again) == 4  # same study, two more trials
    assert list(trials_again["number"]) == [0, 1, 2, 3]
    figures = plot_tuning_results(trials_again, cnn_params)
    assert len(figures) == len(TUNING_FIGURES) and all(figure.axes for figure in figures)
    # Drawn from the study, not a placeholder: the contour's axes are the two tuned parameters.
    contour_axes = figures[-1].axes[0]
    tuned = {entry["path"] for entry in cnn_params["tuning"]["search_space"]}
    assert {contour_axes.get_xlabel(), contour_axes.get_ylabel()} <= tuned


def test_interrupted_run_is_finished_not_restarted(cnn_params, fashion_splits):
    """A trial left RUNNING by a killed process is marked FAIL and the run tops up to its target."""
    splits, info = fashion_splits
    config = parse_family("cnn", cnn_params)
    study = study_module.open_study(config)
    study.set_user_attr(study_module.TARGET_ATTR, 2)
    study.set_user_attr(study_module.OPEN_ATTR, True)
    study.ask()  # the trial the killed process was running
    finished = study_module.run_study(config, splits, info)
    states = [t.state for t in finished.trials]
    assert states[0] == TrialState.FAIL
    assert finished.trials[0].user_attrs[study_module.STALE_ATTR] is True
    assert len([s for s in states if s.is_finished()]) == 3  # the stale one + 2 counted trials


def test_a_failing_trial_is_recorded_and_the_study_goes_on(cnn_params, fashion_splits, monkeypatch):
    splits, info = fashion_splits
    real_fit = trial_runner.fit_model

    def fit_that_diverges_for_wide_heads(config, *args, **kwargs):
        if config.model.dense.units == 64:
            raise FloatingPointError("loss became NaN at epoch 1, batch 3")
        return real_fit(config, *args, **kwargs)

    monkeypatch.setattr(trial_runner, "fit_model", fit_that_diverges_for_wide_heads)
    cnn_params["tuning"]["n_trials"] = 4
    cnn_params["tuning"]["sampler"] = {"name": "random", "seed": 1}
    cnn_params["tuning"]["pruner"] = {"name": "none"}  # only the injected failure may end a trial early
    cnn_params["tuning"]["search_space"] = [
        {"path": "model.dense.units", "type": "categorical", "choices": [64, 16]}
    ]
    study = study_module.run_study(parse_family("cnn", cnn_params), splits, info)
    states = {t.number: (t.params["model.dense.units"], t.state) for t in study.trials}
    assert len(states) == 4
    assert {units for units, _ in states.values()} == {64, 16}
    for units, state in states.values():
        assert state == (TrialState.FAIL if units == 64 else TrialState.COMPLETE)
    assert study.best_trial.params["model.dense.units"] == 16


def _traced_step_gradients() -> set[str]:
    registry = memory._gradient_registry()
    assert registry is not None, "TensorFlow's gradient registry moved: trials would leak memory again"
    return {name for name in registry if name.startswith("CustomGradient-")}


def test_finished_trials_leave_no_traced_graph_behind(cnn_params, fashion_splits):
    """Each traced training step registers a gradient function holding its whole graph.

    The study drops those of finished trials; kept, they made memory grow with every trial.
    """
    splits, spec = fashion_splits
    info = spec.model_dump(mode="json")
    before = _traced_step_gradients()
    _, trials = tune_hyperparameters(splits, info, [], cnn_params)
    assert len(trials) == 2
    assert _traced_step_gradients() <= before


def test_forgetting_trial_graphs_leaves_other_models_trainable(tiny_splits):
    import keras
    import numpy as np

    splits, _ = tiny_splits
    x, y = splits["x_train"].astype(np.float32) / 255.0, splits["y_train"]

    def small_model():
        model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Flatten(), keras.layers.Dense(10)])
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    kept = small_model()
    kept.fit(x, y, batch_size=32, epochs=1, verbose=0)
    registered_outside = _traced_step_gradients()
    assert registered_outside, "training registered no gradient function: nothing to check"
    with memory.forget_graphs_of_finished_models():
        small_model().fit(x, y, batch_size=32, epochs=1, verbose=0)
        assert _traced_step_gradients() > registered_outside
    assert _traced_step_gradients() == registered_outside
    history = kept.fit(x, y, batch_size=32, epochs=1, verbose=0)  # its traced step still has its gradient
    assert np.isfinite(history.history["loss"][0])


def test_configured_values_are_those_the_search_space_can_sample():
    from dlpipe.tuning.search_space import configured_values

    space = [
        SearchParameter(path="model.dense.units", type="int", low=16, high=64, step=16),
        SearchParameter(path="model.dense.dropout", type="float", low=0.1, high=0.5),
        SearchParameter(path="model.dense.activation", type="categorical", choices=["relu", "tanh"]),
        SearchParameter(path="training.optimizer.learning_rate", type="float", low=1e-4, high=1e-2),
    ]
    config = {
        "model": {"dense": {"units": 40, "dropout": 0.3, "activation": "tanh"}},
        "training": {"optimizer": {"learning_rate": 0.1}},
    }
    # 40 is off the step of 16 and 0.1 above the range: the sampler picks those.
    assert configured_values(space, config) == {"model.dense.dropout": 0.3, "model.dense.activation": "tanh"}
    config["model"]["dense"]["units"] = 48
    assert configured_values(space, config)["model.dense.units"] == 48


def test_a_new_study_starts_from_the_configured_values_once(cnn_params, fashion_splits):
    from dlpipe.config.schema import with_overrides
    from dlpipe.tuning.search_space import configured_values

    splits, spec = fashion_splits
    config = parse_family("cnn", cnn_params)
    defaults = configured_values(config.tuning.search_space, config.model_dump())
    assert defaults  # the project's cnn defaults lie in its search space
    study = study_module.run_study(config, splits, spec)
    first = study.trials[0]
    assert first.params == {**first.params, **defaults}
    assert first.user_attrs[study_module.WARM_START_ATTR] is True
    again = study_module.run_study(config, splits, spec)  # continued: no second warm start
    assert [t.user_attrs.get(study_module.WARM_START_ATTR, False) for t in again.trials] == [True] + [
        False
    ] * 3

    cold = parse_family(
        "cnn",
        with_overrides(
            cnn_params,
            {
                "tuning.warm_start": False,
                "tuning.storage_path": f"{cnn_params['tuning']['storage_path']}.cold",
            },
        ),
    )
    assert study_module.WARM_START_ATTR not in study_module.run_study(cold, splits, spec).trials[0].user_attrs


def test_a_warm_start_trial_cut_short_by_a_kill_is_queued_again(cnn_params, fashion_splits):
    splits, spec = fashion_splits
    config = parse_family("cnn", cnn_params)
    study = study_module.open_study(config)
    study.enqueue_trial({"model.dense.units": 64}, user_attrs={study_module.WARM_START_ATTR: True})
    study.ask()  # the warm trial starts, and its process dies: it is left RUNNING
    finished = study_module.run_study(config, splits, spec)
    killed, *rest = finished.trials
    assert killed.state == TrialState.FAIL and killed.user_attrs[study_module.STALE_ATTR]
    warm = [t for t in rest if t.user_attrs.get(study_module.WARM_START_ATTR)]
    assert len(warm) == 1 and warm[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
