"""Every arm of an experiment trained once per seed, measured, kept and tracked as a nested run."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import keras
import mlflow
import numpy as np

from dlpipe.config.experiment import ExperimentConfig
from dlpipe.config.schema import FamilyConfig, parse_node_config
from dlpipe.data.loading import load_splits
from dlpipe.data.spec import DataSpec
from dlpipe.experiments import measures
from dlpipe.experiments.verdict import scalar_measures
from dlpipe.families import check_fits_data, prepare_family
from dlpipe.models.geometry import model_summary_text
from dlpipe.tracking import MlflowEpochLogger, try_tracking
from dlpipe.training.callbacks import early_stopping_callbacks
from dlpipe.training.fingerprint import configuration_fingerprint
from dlpipe.training.fit import fit_model, gradient_monitor, iterations_per_epoch, monitor_mode
from dlpipe.training.guards import TerminationGuard
from dlpipe.tuning.memory import forget_graphs_of_finished_models, release_memory

logger = logging.getLogger(__name__)

ARM_TAG = "dlpipe.arm"
EXPERIMENT_TAG = "dlpipe.experiment"
REUSED_TAG = "dlpipe.fit_reused"
# Raised whenever what a fit's record holds changes, so that records measured the old way are
# measured again instead of read back.
RECORD_FORMAT = 3


def run_arms(
    block: str, experiment: ExperimentConfig, parameters: dict[str, Any], parent_run_id: str | None
) -> list[dict[str, Any]]:
    """Train every arm once per seed; returns one record per fit (see ``fit_and_measure``).

    Each arm reads its own block's dataset, split with the block's seed (loaded once per distinct
    dataset and split seed); the seed of a fit sets the initial weights and the batch order, not
    the split. Every arm's data is checked against its family, and its family's preparation done,
    before the first arm trains. A fit already in ``experiment.store_dir`` (same configuration, same split
    contents, same fit seed) is read from there: a rerun after a failure trains only the fits
    that were missing.
    """
    loaded: dict[str, tuple[dict[str, np.ndarray], DataSpec, str]] = {}
    data_of_arm = {}
    # Every arm's data is loaded and checked, and its family prepared, before any arm trains: a
    # problem with the last arm costs no training time.
    for arm in experiment.arms:
        base = parameters[experiment.arm_block(arm)]
        unseeded = parse_node_config(base, overrides=experiment.arm_overrides(arm))
        data_key = f"{unseeded.dataset.model_dump_json()}|{unseeded.seed}"
        if data_key not in loaded:
            splits, spec = load_splits(unseeded.dataset, unseeded.seed)
            loaded[data_key] = (splits, spec, splits_digest(splits))
        check_fits_data(unseeded, loaded[data_key][1])
        prepare_family(unseeded, loaded[data_key][1], parameters)
        data_of_arm[arm] = loaded[data_key]
    records = []
    for arm, (splits, spec, digest) in data_of_arm.items():
        base = parameters[experiment.arm_block(arm)]
        for seed in experiment.seeds:
            config = parse_node_config(base, overrides={**experiment.arm_overrides(arm), "seed": seed})
            path = _store_path(block, arm, config, spec, digest, experiment)
            records.append(
                _stored_or_fitted(path, block, arm, config, splits, spec, experiment, parent_run_id)
            )
    return records


def splits_digest(splits: dict[str, np.ndarray]) -> str:
    """A short hash of the splits' contents: a fit is reused only on exactly the data it saw."""
    digest = hashlib.sha256()
    for key in sorted(splits):
        array = np.asarray(splits[key])
        digest.update(f"{key}|{array.dtype}|{array.shape}".encode())
        if array.dtype == object:  # strings: their text, not the pointers to them
            digest.update("\x00".join(map(str, array.ravel())).encode())
        else:
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _store_path(block, arm, config, spec, digest: str, experiment: ExperimentConfig) -> Path:
    target = experiment.target.model_dump_json() if experiment.target else ""
    key = _short_hash(f"{RECORD_FORMAT}|{configuration_fingerprint(config, spec)}|{digest}|{target}")
    return Path(experiment.store_dir) / block / f"{arm}-seed{config.seed}-{key}.json"


def _stored_or_fitted(
    path: Path, block, arm, config, splits, spec, experiment, parent_run_id
) -> dict[str, Any]:
    reused = path.is_file()
    if reused:
        record = json.loads(path.read_text())
        logger.info("Experiment %s: arm '%s' seed %d read from %s", block, arm, config.seed, path)
    else:
        record = fit_and_measure(arm, config, splits, spec, experiment)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record, default=_json_number))
        os.replace(temporary, path)  # a fit is kept whole or not at all
    if parent_run_id is not None:
        try_tracking("log the arm's run", log_arm_run, parent_run_id, block, record, reused=reused)
    return record


def fit_and_measure(
    arm: str, config: FamilyConfig, splits, spec: DataSpec, experiment: ExperimentConfig
) -> dict[str, Any]:
    """Fit one arm's configuration and measure it.

    Returns:
        ``arm``, ``seed``, ``overrides``, ``curves`` (per-epoch metrics and seconds),
        ``updates_per_epoch``, ``gradient_norms`` (per layer, first epoch; when the arm enables
        ``training.gradient_monitor``), ``layers`` (the model summary with output shapes) and
        every measure of ``dlpipe.config.experiment.MEASURES`` plus the task's metrics on each split.
    """
    num_train = len(splits["x_train"])
    updates_per_epoch = iterations_per_epoch(config.training, num_train)
    recorder = measures.EpochRecorder()
    callbacks: list[keras.callbacks.Callback] = [TerminationGuard(), recorder]
    monitor = None
    if config.training.gradient_monitor.enabled:
        monitor = gradient_monitor(config, splits, spec, None)
        callbacks.append(monitor)
    callbacks += early_stopping_callbacks(
        config.training, monitor_mode(config, config.training.early_stopping.monitor)
    )
    keras.backend.clear_session()
    try:
        with forget_graphs_of_finished_models():
            model, _ = fit_model(config, splits, spec, epochs=config.training.epochs, callbacks=callbacks)
            scores = measures.split_scores(model, config, splits, spec)
            layers = model_summary_text(model)
            distinct = measures.distinct_units_fraction(model)
            parameters = model.count_params()
    finally:
        keras.backend.clear_session()
        release_memory()
    curves = recorder.curves()
    norms = measures.first_epoch_gradient_norms(monitor.history, updates_per_epoch) if monitor else {}
    epochs = len(curves.get("loss", []))
    to_target, reached = measures.epochs_to_target(curves, experiment.target, config)
    record = {
        "arm": arm,
        "seed": config.seed,
        "overrides": experiment.arm_overrides(arm),
        "curves": curves,
        "updates_per_epoch": updates_per_epoch,
        "gradient_norms": norms,
        "layers": layers,
        **scores,
        "epochs": epochs,
        "seconds": curves["seconds"][-1] if epochs else 0.0,
        "updates": epochs * updates_per_epoch,
        "parameters": parameters,
        "final_loss": curves["loss"][-1] if epochs else math.nan,
        "diverged": float(measures.diverged(curves, recorder)),
        "peak_loss": recorder.peak_loss if math.isfinite(recorder.peak_loss) else math.nan,
        "diverged_at_epoch": recorder.diverged_at_epoch or math.nan,
        "train_val_gap": measures.train_val_gap(scores, config),
        "epochs_to_target": to_target,
        "target_reached": reached,
        "distinct_units_fraction": distinct,
        **measures.gradient_measures(norms),
    }
    logger.info(
        "Experiment arm '%s' seed %d: %d epoch(s), %s",
        arm,
        config.seed,
        epochs,
        ", ".join(f"{k}={v:.4g}" for k, v in scores.items() if k.startswith("test_")),
    )
    return record


def log_arm_run(parent_run_id: str, block: str, record: dict[str, Any], *, reused: bool = False) -> str:
    """One finished nested run for a fit: its overrides and seed as parameters, its curves per
    epoch, its measures, and its layers' output shapes as ``layers.txt``; tagged
    ``dlpipe.fit_reused`` when the fit was read from the store, not trained by this run."""
    client = mlflow.MlflowClient()
    parent = client.get_run(parent_run_id)
    run = client.create_run(
        parent.info.experiment_id,
        run_name=f"{record['arm']} seed {record['seed']}",
        tags={
            "mlflow.parentRunId": parent_run_id,
            EXPERIMENT_TAG: block,
            ARM_TAG: record["arm"],
            **({REUSED_TAG: "true"} if reused else {}),
        },
    )
    run_id = run.info.run_id
    status = "FAILED"  # unless everything below is logged
    try:
        params = {"arm": record["arm"], "seed": record["seed"], **record["overrides"]}
        client.log_batch(run_id, params=[mlflow.entities.Param(k, str(v)[:6000]) for k, v in params.items()])
        epoch_logger = MlflowEpochLogger(run_id)
        curves = record["curves"]
        epochs = len(curves.get("loss", []))
        for epoch in range(epochs):
            epoch_logger.on_epoch_end(epoch, {key: values[epoch] for key, values in curves.items()})
        # NaN (a diverged model's loss) is kept: the compare view shows it. MLflow would store an
        # infinity as the largest float, so those are left out.
        measured = {k: v for k, v in scalar_measures(record).items() if not math.isinf(v)}
        now = int(time.time() * 1000)
        client.log_batch(
            run_id, metrics=[mlflow.entities.Metric(k, v, now, epochs) for k, v in measured.items()]
        )
        client.log_text(run_id, record["layers"], "layers.txt")
        status = "FINISHED"
    finally:
        client.set_terminated(run_id, status)
    return run_id


def _json_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in an experiment record")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]
