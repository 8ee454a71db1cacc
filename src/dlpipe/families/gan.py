"""The ``gan`` family: a deep convolutional GAN (DCGAN) of images.

The generator grows a latent vector into an image with transposed convolutions; the
discriminator, a strided convnet, tells real images from generated ones. They train against each
other, each with its own optimizer: ``discriminator_steps`` updates of the discriminator on a real
and a generated batch (real labels smoothed to ``1 - label_smoothing``), then one update of the
generator towards the discriminator calling its images real. Neither loss says how good the
images are, so every epoch ends by measuring it: the Fréchet distance between the features of
generated and of validation images, in the features of a classifier of the real images
(``evaluation.judge_model``, or one trained on the fly; ``val_frechet_distance``, which early
stopping and tuning watch).
"""

from __future__ import annotations

from typing import Literal

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops
from pydantic import Field

from dlpipe.config.common import PositiveInt, UnitFraction
from dlpipe.config.layers import ConvEncoderConfig, ModelConfigBase, UpsamplingGeneratorConfig
from dlpipe.config.training import OptimizerConfig
from dlpipe.families.registry import Family, register
from dlpipe.models.blocks import LayerOptions
from dlpipe.models.composed import ComposedModel
from dlpipe.models.deconv import check_encoder_fits, conv_encoder, decode_prior_draws, upsampling_generator
from dlpipe.models.preprocessing import pixel_scale
from dlpipe.training.optimizers import build_optimizer, compile_optimizer_only


class GanModelConfig(ModelConfigBase):
    family: Literal["gan"]
    latent_dim: PositiveInt = 64
    generator: UpsamplingGeneratorConfig = UpsamplingGeneratorConfig()
    discriminator: ConvEncoderConfig = ConvEncoderConfig(
        filters=[64, 128], kernel_size=4, activation="leaky_relu"
    )
    discriminator_dropout: UnitFraction = 0.3
    # The generator trains with `training.optimizer`; the discriminator with this one.
    discriminator_optimizer: OptimizerConfig = OptimizerConfig(learning_rate=2e-4, beta_1=0.5)
    discriminator_steps: PositiveInt = 1
    label_smoothing: UnitFraction = 0.1
    # When above 0, the images are drawn by an exponential moving average of the generator's
    # weights, updated after every generator step with this decay (ramped up over the first
    # steps), which smooths the step-to-step oscillation of adversarial training. Off by default:
    # over the few epochs a CPU run trains, the average lags the still-improving generator
    # (benchmark 15).
    ema_decay: float = Field(0.0, ge=0.0, lt=1.0)
    # Generated and validation images compared after every epoch, and how often a grid of
    # samples goes to the run's MLflow artifacts (`samples/`).
    frechet_examples: PositiveInt = 2000
    sample_grid_every: PositiveInt = 1


@keras.saving.register_keras_serializable(package="dlpipe")
class Gan(ComposedModel):
    """``generator``: latent vectors to images in [0, 1]; ``discriminator``: images in [0, 1] to
    a logit of being real. Called on raw images it returns the discriminator's probability that
    they are real. Reports ``d_loss``, ``g_loss`` and their sum ``loss``."""

    submodels = ("generator", "discriminator")

    def __init__(
        self,
        generator,
        discriminator,
        raw_pixel_max: float = 255.0,
        label_smoothing: float = 0.1,
        discriminator_steps: int = 1,
        seed=None,
        ema_decay: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.raw_pixel_max = raw_pixel_max
        self.label_smoothing = label_smoothing
        self.discriminator_steps = discriminator_steps
        self.seed = seed
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.discriminator_optimizer = None  # set by compile_gan
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.ema_decay = ema_decay
        # Saved and backed up with the model's other weights.
        self.generator_average = None
        if ema_decay:
            self.generator_average = keras.models.clone_model(generator)
            self.generator_average.set_weights(generator.get_weights())
            self.generator_average.trainable = False
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "d_loss", "g_loss")}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        images = ops.cast(inputs, "float32") / self.raw_pixel_max
        return ops.sigmoid(self.discriminator(images, training=training))

    def _latent(self, batch):
        return keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)

    def _discriminator_loss(self, real, training: bool):
        fake = self.generator(self._latent(ops.shape(real)[0]), training=training)
        real_logits = self.discriminator(real, training=training)
        fake_logits = self.discriminator(fake, training=training)
        real_labels = ops.full_like(real_logits, 1.0 - self.label_smoothing)
        return ops.mean(ops.binary_crossentropy(real_labels, real_logits, from_logits=True)) + ops.mean(
            ops.binary_crossentropy(ops.zeros_like(fake_logits), fake_logits, from_logits=True)
        )

    def _generator_loss(self, batch, training: bool):
        fake_logits = self.discriminator(
            self.generator(self._latent(batch), training=training), training=training
        )
        return ops.mean(ops.binary_crossentropy(ops.ones_like(fake_logits), fake_logits, from_logits=True))

    def _report(self, d_loss, g_loss):
        for name, value in (("loss", d_loss + g_loss), ("d_loss", d_loss), ("g_loss", g_loss)):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        if self.discriminator_optimizer is None:
            raise RuntimeError(
                "the Gan has no discriminator optimizer: compile it with "
                "dlpipe.families.gan.compile_gan before training it (a reloaded .keras file too)"
            )
        _, real, _ = keras.utils.unpack_x_y_sample_weight(data)  # the images in [0, 1]
        # Each replica's gradients are summed across replicas: scale as Keras' own step does.
        replicas = self.distribute_strategy.num_replicas_in_sync
        discriminator_weights = self.discriminator.trainable_weights
        for _ in range(self.discriminator_steps):
            with tf.GradientTape() as tape:
                d_loss = self._discriminator_loss(real, training=True)
                penalized = (d_loss + _penalties(self.discriminator)) / replicas
            gradients = tape.gradient(penalized, discriminator_weights)
            self.discriminator_optimizer.apply(gradients, discriminator_weights)
        generator_weights = self.generator.trainable_weights
        with tf.GradientTape() as tape:
            g_loss = self._generator_loss(ops.shape(real)[0], training=True)
            penalized = (g_loss + _penalties(self.generator)) / replicas
        self.optimizer.apply(tape.gradient(penalized, generator_weights), generator_weights)
        if self.generator_average is not None:
            self._update_average()
        return self._report(d_loss, g_loss)

    def _update_average(self):
        # The decay ramps up over the first steps, (1 + t) / (10 + t) after t generator steps, so
        # the average soon forgets the random initial weights (as tf.train.ExponentialMovingAverage
        # with num_updates).
        steps = ops.cast(self.optimizer.iterations, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + steps) / (10.0 + steps))
        for average, weight in zip(self.generator_average.weights, self.generator.weights, strict=True):
            average.assign(decay * average + (1.0 - decay) * weight)

    def test_step(self, data):
        _, real, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self._report(
            self._discriminator_loss(real, False), self._generator_loss(ops.shape(real)[0], False)
        )

    def generate(self, count: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
        """``count`` images in [0, 1] from latent vectors drawn with ``seed``, by the generator's
        moving average when the model keeps one."""
        generator = self.generator_average if self.generator_average is not None else self.generator
        return decode_prior_draws(generator, count, seed, batch_size)

    def get_config(self):
        return {
            **super().get_config(),
            "raw_pixel_max": self.raw_pixel_max,
            "label_smoothing": self.label_smoothing,
            "discriminator_steps": self.discriminator_steps,
            "seed": self.seed,
            "ema_decay": self.ema_decay,
        }


def _penalties(player: keras.Model):
    """The L1/L2 kernel penalties of one player's layers (``model.regularization``)."""
    return ops.sum(ops.stack(player.losses)) if player.losses else 0.0


def build_gan(spec, config) -> Gan:
    model = config.model
    options = LayerOptions(model)
    generator = upsampling_generator(model.latent_dim, spec.input_shape, model.generator, options)

    real = keras.Input(tuple(spec.input_shape), name="images_in_0_1")
    x = conv_encoder(real, model.discriminator, options, prefix="discriminator")
    x = layers.Flatten()(x)
    if model.discriminator_dropout:
        x = layers.Dropout(model.discriminator_dropout)(x)
    logit = layers.Dense(1, dtype="float32", name="real_logit", **options())(x)
    discriminator = keras.Model(real, logit, name="discriminator")

    gan = Gan(
        generator,
        discriminator,
        pixel_scale(spec),
        model.label_smoothing,
        model.discriminator_steps,
        seed=config.seed,
        ema_decay=model.ema_decay,
        name="gan",
    )
    gan(keras.ops.zeros((1, *spec.input_shape)))
    return gan


def compile_gan(model: Gan, config, learning_rate) -> None:
    """The generator's optimizer is the model's; the discriminator's is its own. Both are built
    at once, so a training backup can restore both states."""
    compile_optimizer_only(model, config, learning_rate)
    model.discriminator_optimizer = build_optimizer(
        config.model.discriminator_optimizer, None, config.training.gradient_clipping
    )
    model.optimizer.build(model.generator.trainable_variables)
    model.discriminator_optimizer.build(model.discriminator.trainable_variables)


def check_data(spec, config) -> None:
    if spec.target != "class":
        raise ValueError(
            f"dataset.name: the gan is measured while it trains by a classifier of the real images, "
            f"which needs class labels; dataset '{spec.name}' has none"
        )
    check_encoder_fits(spec.input_shape, config.model.discriminator, "model.discriminator")
    generator = config.model.generator
    factor = generator.upsampling_factor
    for axis, size in zip(("height", "width"), spec.input_shape[:2], strict=True):
        if size % factor:
            raise ValueError(
                f"model.generator: {len(generator.filters)} transposed convolutions of stride "
                f"{generator.stride} multiply the first map's size by {factor}, which does not divide the "
                f"images' {axis} {size}; change model.generator.filters or stride"
            )


def training_callbacks(config, *, splits, spec, mlflow_run_id=None, **fit) -> list:
    from dlpipe.tasks import get_task
    from dlpipe.tasks.generation import judge_and_held_out
    from dlpipe.training.generation_monitor import FrechetDistanceMonitor

    # The same judge as the evaluation's: the same saved classifier, or trained on the same images.
    count = get_task(config.task).train_examples_for_evaluation(spec)
    judge_sample, _ = judge_and_held_out((splits["x_train"][:count], splits["y_train"][:count]))
    return [
        FrechetDistanceMonitor(
            judge_sample,
            splits["x_val"],
            spec,
            count=config.model.frechet_examples,
            grid_every=config.model.sample_grid_every,
            mlflow_run_id=mlflow_run_id,
            judge_model=config.evaluation.judge_model,
        )
    ]


FAMILY = register(
    Family(
        name="gan",
        model_schema=GanModelConfig,
        tasks=("generation",),
        build=build_gan,
        compile=compile_gan,
        default_dataset="fashion_mnist_local",
        # Both players' losses are binary cross-entropies on the discriminator's logits.
        losses=("binary_crossentropy",),
        default_loss="binary_crossentropy",
        extra_metrics={
            **{f"{prefix}{term}": "minimize" for term in ("d_loss", "g_loss") for prefix in ("", "val_")},
            "val_frechet_distance": "minimize",
        },
        main_metric="val_frechet_distance",
        supports_pretrained=False,
        check_data=check_data,
        callbacks=training_callbacks,
    )
)
