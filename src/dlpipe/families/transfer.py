"""The ``transfer`` family: a pretrained base and a new head, frozen, fine-tuned or from scratch.

The base is a model an earlier dlpipe run saved, cut at a named layer (``model.base.model``,
``cut_layer``), or a Keras Applications architecture with weights from a local file
(``application``, ``weights``). The model adapts the dataset's raw images to the base (resize,
one channel repeated to three), so it takes the target's raw inputs like every dlpipe model.

Modes:

- ``frozen``: feature extraction; the base runs in inference mode and only the head trains.
- ``fine_tune``: two phases in one training: the head first (``fine_tune.head_epochs``), then the
  top ``fine_tune.unfreeze_layers`` weighted layers of the base too, recompiled with the learning
  rate times ``fine_tune.lr_factor``. Batch normalization stays in inference mode and frozen.
- ``scratch``: the same architecture with fresh random weights, all of it trained: the baseline
  that says what the pretrained weights bought.
"""

from __future__ import annotations

import functools
import logging
from typing import Literal

import keras
from pydantic import Field, model_validator

from dlpipe.config.common import PositiveInt, Strict
from dlpipe.config.layers import DenseConfig, ModelConfigBase
from dlpipe.families.registry import Family, TrainingPhase, register
from dlpipe.models.blocks import LayerOptions, dense_stack
from dlpipe.models.transfer_base import (
    APPLICATIONS,
    MLFLOW_URI_SCHEMES,
    BaseModelNotFoundError,
    adapt_input,
    application_base,
    application_input_size,
    cut,
    load_saved_base,
    saved_model_file,
)
from dlpipe.tasks import get_task

logger = logging.getLogger(__name__)

BASE_LAYER = "base"


class SourceTrainingConfig(Strict):
    """The parameter block whose model is trained first when ``model.base.model`` holds none."""

    block: str
    epochs: PositiveInt | None = None  # when left out, the block's own training.epochs


class TransferBaseConfig(Strict):
    # A saved dlpipe model: a .keras file, a Kedro versioned folder (its latest version, e.g.
    # data/06_models/cnn/model.keras) or an MLflow model URI (models:/<name>/<version>).
    model: str | None = None
    # Where the saved model is cut: its features are this layer's output. Default: the input of
    # its last layer.
    cut_layer: str | None = None
    # Or a Keras Applications architecture, with its weights (without the top) from a local file.
    application: Literal[tuple(APPLICATIONS)] | None = None  # type: ignore[valid-type]
    weights: str | None = None
    input_size: PositiveInt | None = None  # the side images are resized to for an application
    train_if_missing: SourceTrainingConfig | None = None

    @model_validator(mode="after")
    def _one_kind_of_base(self) -> TransferBaseConfig:
        if (self.model is None) == (self.application is None):
            raise ValueError("model: give either a saved model or an application, exactly one")
        if self.model is None:
            for key in ("cut_layer", "train_if_missing"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key}: only for a saved model base (model), not an application")
        else:
            for key in ("weights", "input_size"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key}: only for an application base, not a saved model")
            if self.train_if_missing is not None and self.model.startswith(MLFLOW_URI_SCHEMES):
                raise ValueError(
                    f"train_if_missing: a source is trained into a local folder, not into the MLflow "
                    f"model '{self.model}'; name a folder such as data/06_models/cnn/model.keras"
                )
        return self


class FineTuneConfig(Strict):
    head_epochs: PositiveInt = 3  # the first phase: only the new head trains
    unfreeze_layers: PositiveInt = 2  # weighted layers of the base unfrozen in the second, from the top
    lr_factor: float = Field(0.1, gt=0.0, le=1.0)  # the second phase's learning rate, relative


class TransferModelConfig(ModelConfigBase):
    family: Literal["transfer"]
    base: TransferBaseConfig
    mode: Literal["frozen", "fine_tune", "scratch"] = "fine_tune"
    head: DenseConfig = DenseConfig(units=128, dropout=0.3)
    fine_tune: FineTuneConfig = FineTuneConfig()


def build_base(spec, config) -> keras.Model:
    """The block's base: pretrained (loaded, cut) for ``frozen`` and ``fine_tune``, the same
    architecture with fresh weights for ``scratch``."""
    base_config = config.model.base
    scratch = config.model.mode == "scratch"
    if base_config.application is not None:
        size = application_input_size(base_config.application, base_config.input_size, spec)
        return application_base(base_config.application, None if scratch else base_config.weights, size)
    base = load_saved_base(base_config.model, base_config.cut_layer)
    return keras.models.clone_model(base) if scratch else base


def build_transfer(spec, config) -> keras.Model:
    """raw images → adaptation → base → (flatten) → dense head → the task's output."""
    model_config = config.model
    base = build_base(spec, config)
    base.trainable = model_config.mode == "scratch"
    inputs = keras.Input(shape=tuple(spec.input_shape), dtype="float32", name="inputs")
    x = adapt_input(inputs, spec, tuple(base.input_shape[1:]))
    # A pretrained base always runs in inference mode: its batch normalization keeps the
    # statistics it learned, and its dropout is off, in both phases.
    x = base(x, training=None if model_config.mode == "scratch" else False)
    if len(x.shape) > 2:
        x = keras.layers.Flatten(name="flatten_features")(x)
    options = LayerOptions(model_config)
    x = dense_stack(x, model_config.head, options)
    outputs = get_task(config.task).output_head(x, spec, config.training.loss, **options())
    return keras.Model(inputs, outputs, name="transfer")


def freeze_base(model: keras.Model) -> None:
    model.get_layer(BASE_LAYER).trainable = False


def unfreeze_top(model: keras.Model, count: int) -> None:
    """Make the top ``count`` weighted layers of the base trainable, batch normalization left out."""
    base = model.get_layer(BASE_LAYER)
    base.trainable = True
    weighted = []
    for layer in base.layers:
        layer.trainable = False
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization):
            weighted.append(layer)
    for layer in weighted[-count:]:
        layer.trainable = True
    logger.info(
        "Fine-tuning the base's top %d of %d weighted layers: %s",
        min(count, len(weighted)),
        len(weighted),
        ", ".join(layer.name for layer in weighted[-count:]),
    )


def transfer_phases(config, epochs: int) -> list[TrainingPhase]:
    """``fine_tune``: the head for ``head_epochs``, then the top of the base for the rest;
    ``frozen`` and ``scratch``: one phase."""
    model_config = config.model
    if model_config.mode == "frozen":
        return [TrainingPhase("frozen", epochs, prepare=freeze_base)]
    if model_config.mode == "scratch":
        return [TrainingPhase("scratch", epochs)]
    tuning = model_config.fine_tune
    head_epochs = min(tuning.head_epochs, epochs)
    phases = [TrainingPhase("head", head_epochs, prepare=freeze_base)]
    if epochs > head_epochs:
        phases.append(
            TrainingPhase(
                "fine_tune",
                epochs - head_epochs,
                learning_rate_factor=tuning.lr_factor,
                prepare=functools.partial(unfreeze_top, count=tuning.unfreeze_layers),
            )
        )
    return phases


def check_transfer_config(config) -> None:
    """Values that do not fit together, found before any node runs (no file is read here: every
    block is validated by every run, whichever pipeline it runs)."""
    model = config.model
    if model.base.application is not None and model.mode != "scratch" and model.base.weights is None:
        raise ValueError(
            f"model.base.weights: mode '{model.mode}' needs {model.base.application}'s pretrained "
            "weights from a local file; dlpipe never downloads them. Name the file, or use mode "
            "'scratch'"
        )
    if model.mode != "fine_tune":
        return
    head_epochs = model.fine_tune.head_epochs
    fits = [("training.epochs", config.training.epochs)]
    if config.tuning.enabled:
        fits.append(("tuning.epochs", config.tuning.epochs))
    if config.learning_curve.enabled and config.learning_curve.epochs is not None:
        fits.append(("learning_curve.epochs", config.learning_curve.epochs))
    for key, epochs in fits:
        if epochs <= head_epochs:
            raise ValueError(
                f"{key}: {epochs} epoch(s) never reach fine-tuning, which starts after "
                f"model.fine_tune.head_epochs ({head_epochs}); expected more than {head_epochs}"
            )


def _source_to_train(base_config) -> bool:
    """Whether the saved base is missing and ``train_if_missing`` says how to train it."""
    if base_config.model is None or base_config.train_if_missing is None:
        return False
    try:
        saved_model_file(base_config.model)
    except BaseModelNotFoundError:
        return True
    return False


def check_transfer_data(spec, config) -> None:
    """The base exists and can take the dataset's images (built once, no epoch run). A saved
    base still missing with ``train_if_missing`` set is checked when it is trained (``prepare``)."""
    if not _source_to_train(config.model.base):
        build_transfer(spec, config)


def prepare_transfer(config, spec, project_params: dict) -> None:
    """Train and save the source model first when ``model.base.model`` holds none and
    ``train_if_missing`` names the block that trains it; then check the base fits the data."""
    base_config = config.model.base
    if not _source_to_train(base_config):
        return
    from dlpipe.training.source_model import train_and_save_block_model

    def base_fits(untrained_source: keras.Model) -> None:
        # The cut layer and the input adaptation, checked before the source's first epoch.
        adapt_input(
            keras.Input(shape=tuple(spec.input_shape)),
            spec,
            tuple(cut(untrained_source, base_config.cut_layer).input_shape[1:]),
        )

    source = base_config.train_if_missing
    train_and_save_block_model(
        source.block,
        project_params,
        key="model.base.train_if_missing.block",
        epochs=source.epochs,
        destination=base_config.model,
        work_dir=f"{config.training.backup_dir}/source",
        check=base_fits,
    )
    build_transfer(spec, config)  # the saved source, cut and adapted as every fit will


FAMILY = register(
    Family(
        name="transfer",
        model_schema=TransferModelConfig,
        tasks=("classification",),
        build=build_transfer,
        default_dataset="mnist_subset_local",
        check_config=check_transfer_config,
        check_data=check_transfer_data,
        supports_pretrained=False,
        phases=transfer_phases,
        prepare=prepare_transfer,
    )
)
