"""The transfer family: what each mode trains, fine-tuning's two phases and their resume, the base
from a saved model or a Keras Applications architecture, and each bad base named before any epoch."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from dlpipe.config.schema import ConfigError, parse_family, with_overrides
from dlpipe.data.loading import load_splits
from dlpipe.families import check_fits_data, get_family, prepare_family
from dlpipe.models.transfer_base import BaseModelNotFoundError, saved_model_file
from dlpipe.training.backup import TrainingBackup
from dlpipe.training.fit import fit_model
from tests.conftest import block_config, image_spec, load_project_params, tabular_spec
from tests.families.conftest import assert_rejected_naming_the_key, shrunk_block

PARAMS = load_project_params("base")
BLOCK = PARAMS["transfer"]


@pytest.fixture(scope="module")
def source_file(tmp_path_factory):
    """A small saved cnn (conv, batch norm, conv, dense head) for 28x28x1 images."""
    config = block_config(
        "cnn",
        {
            "family": "cnn",
            "conv": {"num_blocks": 2, "filters": 4, "batch_norm": True},
            "dense": {"units": 8},
        },
    )
    model = get_family("cnn").build(image_spec(), config)
    path = tmp_path_factory.mktemp("source") / "model.keras"
    model.save(path)
    return str(path)


def _config(tmp_path, source: str, **overrides):
    block = shrunk_block(BLOCK, tmp_path, epochs=None)
    block = with_overrides(
        block,
        {
            "model.base.model": source,
            "model.base.cut_layer": "flatten",
            "model.base.train_if_missing": None,
            "tuning.enabled": False,
            "tuning.search_space": [],
            "learning_curve.enabled": False,
            **overrides,
        },
    )
    return parse_family("transfer", block)


def _weighted(base):
    return [layer for layer in base.layers if layer.weights]


def test_frozen_trains_only_the_head_on_the_pretrained_features(tmp_path, source_file):
    config = _config(tmp_path, source_file, **{"model.mode": "frozen", "training.epochs": 2})
    splits, spec = load_splits(config.dataset, config.seed)
    source = keras.models.load_model(source_file)
    model, history = fit_model(config, splits, spec, epochs=2, callbacks=[])
    base = model.get_layer("base")
    assert not base.trainable and len(history["loss"]) == 2
    for layer in _weighted(base):  # batch-norm statistics included: inference mode throughout
        for kept, pretrained in zip(
            layer.get_weights(), source.get_layer(layer.name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(kept, pretrained)
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {"dense1", "predictions"}


def test_fine_tune_trains_the_head_then_the_top_of_the_base(tmp_path, source_file):
    config = _config(
        tmp_path, source_file, **{"model.fine_tune.head_epochs": 2, "model.fine_tune.unfreeze_layers": 1}
    )
    family = get_family("transfer")
    phases = family.phases(config, 5)
    assert [(phase.name, phase.epochs) for phase in phases] == [("head", 2), ("fine_tune", 3)]
    assert phases[1].learning_rate_factor == config.model.fine_tune.lr_factor
    model = family.build(image_spec(), config)
    phases[0].prepare(model)
    assert not model.get_layer("base").trainable_weights
    phases[1].prepare(model)
    base = model.get_layer("base")
    trainable = {layer.name for layer in base.layers if layer.trainable and layer.weights}
    assert trainable == {"block2_conv1"}  # the top weighted layer; batch norm stays frozen
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in base.layers)


def test_scratch_is_the_same_architecture_with_fresh_weights(tmp_path, source_file):
    config = _config(tmp_path, source_file, **{"model.mode": "scratch"})
    model = get_family("transfer").build(image_spec(), config)
    source = keras.models.load_model(source_file)
    base = model.get_layer("base")
    assert base.trainable
    assert [layer.name for layer in base.layers] == [
        layer.name for layer in source.layers[: len(base.layers)]
    ]
    conv = base.get_layer("block1_conv1").get_weights()[0]
    assert conv.shape == source.get_layer("block1_conv1").get_weights()[0].shape
    assert not np.allclose(conv, source.get_layer("block1_conv1").get_weights()[0])


class _KilledAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"killed after epoch {epoch + 1}")


class _Watch(keras.callbacks.Callback):
    """Records each epoch run and which base layers train in it."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        base = self.model.get_layer("base")
        self.epochs.append(
            (epoch, sorted(layer.name for layer in base.layers if layer.trainable and layer.weights))
        )


@pytest.mark.parametrize(
    ("killed_after", "epochs_rerun"),
    [
        (4, [(4, ["block2_conv1"])]),
        (2, [(2, ["block2_conv1"]), (3, ["block2_conv1"]), (4, ["block2_conv1"])]),
    ],
    ids=["in the fine-tuning phase", "at the end of the head phase"],
)
def test_killed_in_the_second_phase_the_rerun_resumes_there(
    tmp_path, source_file, killed_after, epochs_rerun
):
    config = _config(
        tmp_path,
        source_file,
        **{"model.fine_tune.head_epochs": 2, "model.fine_tune.unfreeze_layers": 1, "training.epochs": 5},
    )
    splits, spec = load_splits(config.dataset, config.seed)

    def callbacks(*extra):
        stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
        backup = TrainingBackup(str(tmp_path / "backup"), stateful=[stopping], fingerprint="same")
        return [stopping, backup, *extra]

    with pytest.raises(KeyboardInterrupt):
        fit_model(config, splits, spec, epochs=5, callbacks=callbacks(_KilledAfterEpoch(killed_after - 1)))
    watch = _Watch()
    resumed = callbacks(watch)
    model, history = fit_model(config, splits, spec, epochs=5, callbacks=resumed)
    assert resumed[1].restored_epoch == killed_after
    # Only the epochs left run, with the base's top conv trainable in each; the history is whole.
    assert watch.epochs == epochs_rerun
    assert len(history["loss"]) == 5
    assert [layer.name for layer in model.get_layer("base").layers if layer.trainable and layer.weights] == [
        "block2_conv1"
    ]


def test_a_finished_fine_tuning_is_reused_not_trained_again(tmp_path, source_file, pipeline_run):
    """A run whose outputs failed to save: the rerun reuses the model of both phases."""
    config = _config(tmp_path, source_file, **{"model.fine_tune.head_epochs": 2, "training.epochs": 3})
    splits, spec = load_splits(config.dataset, config.seed)

    def backup():
        return TrainingBackup(str(tmp_path / "backup"), fingerprint="same", keep_finished=True)

    trained, history = fit_model(config, splits, spec, epochs=3, callbacks=[backup()])
    watch, again = _Watch(), backup()
    reused, history_again = fit_model(config, splits, spec, epochs=3, callbacks=[again, watch])
    assert again.finished_before and watch.epochs == []  # no epoch of either phase runs again
    assert history_again == history
    for kept, first in zip(reused.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, first)


def test_early_stopping_keeps_the_best_epoch_of_both_phases(tmp_path, source_file):
    config = _config(tmp_path, source_file, **{"model.fine_tune.head_epochs": 2, "training.epochs": 4})
    splits, spec = load_splits(config.dataset, config.seed)
    stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    model, history = fit_model(config, splits, spec, epochs=4, callbacks=[stopping])
    assert stopping.best == min(history["val_loss"])  # not only the fine-tuning phase's best
    assert stopping.best_epoch == int(np.argmin(history["val_loss"]))


def test_a_bad_base_is_named_before_any_epoch(tmp_path, source_file):
    spec = image_spec()
    with pytest.raises(BaseModelNotFoundError, match="model.base.model: no saved model at"):
        check_fits_data(_config(tmp_path, str(tmp_path / "nothing.keras")), spec)
    with pytest.raises(ValueError, match="model.base.cut_layer: 'conv9' is not a layer"):
        check_fits_data(_config(tmp_path, source_file, **{"model.base.cut_layer": "conv9"}), spec)
    with pytest.raises(ValueError, match="model.base: the base takes images of 1 channel"):
        check_fits_data(_config(tmp_path, source_file), image_spec((28, 28, 3)))
    with pytest.raises(ValueError, match="model.base: the base takes inputs of shape"):
        check_fits_data(_config(tmp_path, source_file), tabular_spec(features=4, num_classes=10))


BAD_VALUES = {
    "pretrained application without weights": (
        {"model.base": {"application": "MobileNetV3Small"}, "model.mode": "frozen"},
        "transfer.model.base.weights",
        "never downloads",
    ),
    "both kinds of base": (
        {"model.base.application": "MobileNetV3Small"},
        "transfer.model.base.model",
        "exactly one",
    ),
    "fine-tuning never reached": (
        {"training.epochs": 5, "model.fine_tune.head_epochs": 5},
        "transfer.training.epochs",
        "head_epochs (5)",
    ),
    "unknown mode": ({"model.mode": "thawed"}, "transfer.model.mode", "thawed"),
    "learning-curve arm with an unknown key": (
        {"learning_curve.arms": {"frozen": {"model.mdoe": "frozen"}}},
        "transfer.learning_curve.arms.frozen",
        "mdoe",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_value_is_rejected_naming_the_key(case):
    assert_rejected_naming_the_key("transfer", BLOCK, *BAD_VALUES[case])


def test_application_base_takes_local_weights_and_gray_images(tmp_path):
    weights = tmp_path / "mobilenet.weights.h5"
    pretrained = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None, pooling="avg", include_preprocessing=True
    )
    pretrained.save_weights(weights)

    def frozen_on(weights_file):
        return block_config(
            "transfer",
            {
                "family": "transfer",
                "mode": "frozen",
                "base": {"application": "MobileNetV3Small", "weights": str(weights_file)},
            },
        )

    model = get_family("transfer").build(image_spec(), frozen_on(weights))
    loaded = model.get_layer("base")
    assert loaded.input_shape[1:] == (32, 32, 3)  # 28x28x1 digits resized and repeated to RGB
    np.testing.assert_array_equal(loaded.get_weights()[0], pretrained.get_weights()[0])
    raw = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1)).astype("uint8")
    assert model.predict(raw, verbose=0).shape == (2, 10)
    with pytest.raises(BaseModelNotFoundError, match="model.base.weights: no weight file"):
        get_family("transfer").build(image_spec(), frozen_on(tmp_path / "none.h5"))


def test_a_missing_source_is_trained_first_from_its_block(tmp_path):
    project = {
        "cnn": shrunk_block(PARAMS["cnn"], tmp_path),
        "transfer": shrunk_block(PARAMS["transfer"], tmp_path, epochs=None),
    }
    config = parse_family("transfer", project["transfer"])
    assert config.model.base.model.startswith(str(tmp_path))  # never the project's own models
    splits, spec = load_splits(config.dataset, config.seed)
    prepare_family(config, spec, project)
    saved = saved_model_file(config.model.base.model)  # a version of the folder the base names
    assert saved.parent.parent == Path(config.model.base.model)
    check_fits_data(config, spec)
    with pytest.raises(ConfigError, match="model.base.train_if_missing.block: no parameter block 'cnn'"):
        prepare_family(
            parse_family(
                "transfer", with_overrides(project["transfer"], {"model.base.model": str(tmp_path / "x")})
            ),
            spec,
            {"transfer": project["transfer"]},
        )


def test_a_registered_mlflow_model_is_a_base(tmp_path, source_file, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        with mlflow.start_run():
            mlflow.tensorflow.log_model(
                keras.models.load_model(source_file), name="model", registered_model_name="dlpipe-cnn"
            )
        config = _config(tmp_path, "models:/dlpipe-cnn/1", **{"model.mode": "frozen"})
        model = get_family("transfer").build(image_spec(), config)
        source = keras.models.load_model(source_file)
        np.testing.assert_array_equal(
            model.get_layer("base").get_layer("block2_conv1").get_weights()[0],
            source.get_layer("block2_conv1").get_weights()[0],
        )
        with pytest.raises(BaseModelNotFoundError, match="model.base.model: cannot fetch MLflow model"):
            check_fits_data(_config(tmp_path, "models:/dlpipe-cnn/7"), image_spec())
    finally:
        mlflow.set_tracking_uri(None)
