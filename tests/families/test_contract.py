"""The contract every model family keeps, checked on every block of the project's parameters.

Each block is prepared as the data stage prepares it (a transfer block's source model trained
first, under the test's folder), built, trained one epoch on tiny real data, saved as a
``.keras`` file, reloaded, fed raw inputs (uint8 pixels, raw measurements, strings) and evaluated
by its task; a served task's model is also saved as dlpipe logs it to MLflow and answers raw
inputs after reloading with plain MLflow. A new family, or a new block of an existing one, is
checked here without a test of its own.
"""

from __future__ import annotations

import math

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from dlpipe.config.schema import parse_family
from dlpipe.data.input_pipeline import as_model_input
from dlpipe.data.loading import load_splits
from dlpipe.families import prepare_family, registered_families
from dlpipe.serving.served_model import save_served_model
from dlpipe.tasks import get_task
from dlpipe.tasks.base import predict
from dlpipe.training.fit import fit_model
from tests.conftest import load_project_params
from tests.families.conftest import shrunk_block

PARAMS = load_project_params("base")


def test_every_registered_family_has_a_block():
    families_with_blocks = {block["model"]["family"] for block in PARAMS.values()}
    assert set(registered_families()) <= families_with_blocks


@pytest.mark.parametrize("block", sorted(PARAMS))
def test_block_builds_trains_saves_and_predicts_from_raw_inputs(block, tmp_path):
    # The block's own epochs stay (a fine-tuning block checks they reach its second phase);
    # one epoch is trained below.
    config = parse_family(block, shrunk_block(PARAMS[block], tmp_path, epochs=None))
    splits, spec = load_splits(config.dataset, config.seed)
    prepare_family(config, spec, {name: shrunk_block(PARAMS[name], tmp_path) for name in PARAMS})
    model, history = fit_model(config, splits, spec, epochs=1, callbacks=[])
    assert len(history["loss"]) == 1 and math.isfinite(history["loss"][0])

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    raw = splits["x_test"][:16]
    assert raw.dtype == np.dtype(spec.input_dtype)  # as loaded: nothing scaled outside the model
    # Strings go in as a string tensor: Keras' array adapter refuses arrays of bytes objects.
    fed = tf.constant(raw) if raw.dtype == object else raw
    before = model.predict(fed, verbose=0)
    after = reloaded.predict(fed, verbose=0)
    if spec.target == "text":  # strings in, strings out
        assert after.dtype == object and after.shape == raw.shape
        np.testing.assert_array_equal(after, before)
    else:
        np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)
    # What the model computes in training, on a batch as its task feeds it (a decoder's
    # teacher-forced logits), is the same after reloading too.
    task = get_task(config.task)
    inputs, _ = task.batch(
        as_model_input(raw),
        task.encode_targets(splits["y_test"][:16], spec, config.training.loss),
        spec,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(inputs, training=False)),
        keras.ops.convert_to_numpy(model(inputs, training=False)),
        rtol=1e-5,
        atol=1e-5,
    )

    count = task.train_examples_for_evaluation(spec)
    evaluation = task.evaluate(
        reloaded,
        splits["x_test"],
        splits["y_test"],
        spec,
        config.training.loss,
        batch_size=16,
        train_sample=(splits["x_train"][:count], splits["y_train"][:count]) if count else None,
    )
    assert evaluation.metrics and all(math.isfinite(value) for value in evaluation.metrics.values())
    assert "test_loss" in evaluation.metrics
    assert evaluation.figures

    if task.served:
        # As logged to MLflow: loaded with plain MLflow, it answers raw inputs with the task's
        # predictions of the model itself.
        save_served_model(tmp_path / "mlflow_model", reloaded, spec, config.task, 16, splits["x_test"])
        served = mlflow.pyfunc.load_model(str(tmp_path / "mlflow_model")).predict(raw)
        expected = task.prediction_table(predict(reloaded, raw, 16), spec)
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(served, expected, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(np.asarray(served), expected)
