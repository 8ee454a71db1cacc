"""The registry of model families: what each family declares, and how to find it by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dlpipe.tasks import get_task

if TYPE_CHECKING:
    import keras

    from dlpipe.config.schema import FamilyConfig
    from dlpipe.data.spec import DataSpec

_FAMILIES: dict[str, Family] = {}


@dataclass(frozen=True)
class TrainingPhase:
    """One phase of a fit: ``epochs`` epochs after ``prepare(model)`` has set what trains.

    Each phase is compiled anew (a fresh optimizer for the weights that now train), with the
    configured learning rate times ``learning_rate_factor`` and its schedule spread over the
    phase's own epochs. ``prepare`` sets the whole trainable state, whatever came before: a resumed
    run enters its phase directly.
    """

    name: str
    epochs: int
    learning_rate_factor: float = 1.0
    prepare: Callable[[keras.Model], None] | None = None


@dataclass(frozen=True)
class Family:
    """A model family: everything the shared stages need to know about it.

    ``build(spec, config)`` returns the uncompiled model, its preprocessing and the task's output
    included (it is called inside the distribution strategy's scope). ``compile(model, config,
    learning_rate)`` compiles it; when left out, the task's loss and metrics with the configured
    optimizer (see :func:`dlpipe.training.optimizers.compile_for_task`).
    """

    name: str
    model_schema: type  # the pydantic schema of the `model` section, with `family: Literal[name]`
    # The tasks its models can learn; a block picks one with its `task` key, the first by default.
    tasks: tuple[str, ...]
    build: Callable[[DataSpec, FamilyConfig], keras.Model]
    default_dataset: str
    compile: Callable[..., None] | None = None
    # Losses of the family's own, when it does not train with the task's, and metrics its models
    # report besides the task's (named as in the history: ``updates``, ``val_kl_loss``).
    losses: tuple[str, ...] | None = None
    default_loss: str | None = None
    extra_metrics: dict[str, str] = field(default_factory=dict)
    # What early stopping and tuning watch when a block does not say, if not the task's.
    main_metric: str | None = None
    # Raise ValueError naming the key: ``check_config`` when a block's values do not fit the
    # family (run while parameters are validated, before any node), ``check_data`` when the
    # loaded data does not (run before any training).
    check_config: Callable[[FamilyConfig], None] | None = None
    check_data: Callable[[DataSpec, FamilyConfig], None] | None = None
    # Keras callbacks of the family's own, added first to every fit of its models (tuning and
    # training): ``callbacks(config, splits=..., spec=..., mlflow_run_id=...)``.
    callbacks: Callable[..., list] | None = None
    # Work on the trained model once its final weights are in place, at the end of every fit
    # whose model is kept (not a tuning trial's): ``after_training(model, config, train_inputs)``
    # with the raw training inputs of that fit (the VAE fits the density it draws new images from).
    after_training: Callable[..., None] | None = None
    # Whether ``model.initializer.name: pretrained`` can copy a saved model's weights in.
    supports_pretrained: bool = True
    # Figures of the family's own beside the task's, from the trained model and the raw test
    # split: ``evaluation_figures(model, inputs, targets, spec) -> {name: figure}``.
    evaluation_figures: Callable[..., dict] | None = None
    # Training in phases (the head first, then part of a pretrained base): ``phases(config,
    # epochs) -> [TrainingPhase, ...]`` whose epochs add up to ``epochs``; one phase when left out.
    phases: Callable[..., list[TrainingPhase]] | None = None
    # Work the family's models need done once before any of them is built, run by the data stage
    # after the data checks: ``prepare(config, spec, project_params)``, where ``project_params``
    # holds every parameter block of the project (e.g. to train a model that another block
    # defines, when none is saved yet).
    prepare: Callable[..., None] | None = None

    def monitored_metrics(self, task: str) -> dict[str, str]:
        """Every metric this family's fits on ``task`` report, training and ``val_``, with its
        direction."""
        return get_task(task).monitored_metrics(self.extra_metrics)


def model_figures(model, inputs, targets, spec) -> dict:
    """``Family.evaluation_figures`` of a family whose model draws its own figures with its
    ``evaluation_figures(inputs, targets, spec)`` method."""
    return model.evaluation_figures(inputs, targets, spec)


def register(family: Family) -> Family:
    """Add ``family`` to the registry (once per name); returns it."""
    existing = _FAMILIES.get(family.name)
    if existing is not None and existing is not family:
        raise ValueError(f"model family {family.name!r} is registered twice")
    for task in family.tasks:
        get_task(task)  # an unknown task fails at import, not at the first run
    _FAMILIES[family.name] = family
    return family


def registered() -> dict[str, Family]:
    return dict(_FAMILIES)
