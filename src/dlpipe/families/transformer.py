"""The ``transformer`` family: transformer encoder blocks over the characters of a string or the
patches of an image (a vision transformer), then a classifier.

The input becomes a sequence of ``width``-wide vectors: each character's embedding, or each
``patch_size`` x ``patch_size`` patch projected by a strided convolution (a linear map of its
pixels). Positions are added to them, ``learned`` (one trained vector per position) or
``sinusoidal`` (fixed sines and cosines of geometric frequencies, as in "Attention is all you
need"). Each of the ``depth`` blocks is pre-norm: ``x + MultiHeadAttention(LayerNorm(x))``, then
``x + FeedForward(LayerNorm(x))`` (``feed_forward`` units, GELU); padding characters are masked
out of the attention. The mean over positions (padding left out) goes to the task's output.
"""

from __future__ import annotations

import math
from typing import Literal

import keras
import numpy as np
from keras import layers, ops

from dlpipe.config.common import PositiveInt, UnitFraction
from dlpipe.config.layers import ModelConfigBase
from dlpipe.data.input_pipeline import as_model_input
from dlpipe.data.loading import declared_input_shape
from dlpipe.families.registry import Family, register
from dlpipe.models.blocks import LayerOptions
from dlpipe.models.preprocessing import character_ids, pixel_scale
from dlpipe.models.pretrained import load_pretrained_weights
from dlpipe.tasks import get_task

ATTENTION_EXAMPLES = 6  # test examples whose attention is plotted


class TransformerModelConfig(ModelConfigBase):
    family: Literal["transformer"]
    width: PositiveInt = 64  # of every position's vector (d_model)
    heads: PositiveInt = 4  # attention heads; each reads width / heads of the vector
    depth: PositiveInt = 2  # encoder blocks
    feed_forward: PositiveInt = 128  # hidden units of each block's feed-forward network
    dropout: UnitFraction = 0.1  # on attention weights, block outputs and before the output
    positions: Literal["learned", "sinusoidal"] = "learned"
    patch_size: PositiveInt = 4  # images: the side of the square patches; divides both image sides


@keras.saving.register_keras_serializable(package="dlpipe")
class PositionEncoding(layers.Layer):
    """Adds a vector per position to a ``(batch, positions, width)`` input: trained ones
    (``learned``) or ``sin(p / 10000^(2i/width))`` and ``cos(...)`` (``sinusoidal``). Keeps the
    input's mask."""

    def __init__(self, length: int, width: int, kind: str = "learned", **kwargs):
        super().__init__(**kwargs)
        self.length, self.width, self.kind = length, width, kind
        self.supports_masking = True

    def build(self, input_shape):
        if self.kind == "learned":
            self.table = self.add_weight(
                shape=(self.length, self.width),
                initializer=keras.initializers.RandomNormal(stddev=0.02),
                name="positions",
            )
        else:
            positions = np.arange(self.length)[:, None]
            rates = np.exp(-math.log(10_000.0) * np.arange(0, self.width, 2) / self.width)
            table = np.zeros((self.length, self.width), dtype="float32")
            table[:, 0::2] = np.sin(positions * rates)
            table[:, 1::2] = np.cos(positions * rates)[:, : self.width // 2]
            self.table = ops.convert_to_tensor(table)

    def call(self, inputs):
        return inputs + ops.cast(self.table[: ops.shape(inputs)[1]], inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "length": self.length, "width": self.width, "kind": self.kind}


def embed_text(spec, model, options):
    """Raw strings → character vectors (padding masked), one position per character, padded to
    the longest string of the batch and cut at the longest training string."""
    strings = keras.Input((), dtype="string", name="strings")
    characters = character_ids(spec.input_characters)(strings)
    characters = characters[:, : spec.max_input_length]  # no position beyond those trained
    vectors = layers.Embedding(
        len(spec.input_characters) + 2, model.width, mask_zero=True, name="character_embedding"
    )(characters)
    return strings, vectors, ops.not_equal(characters, 0), spec.max_input_length


def embed_patches(spec, model, options):
    """Raw pixels → one vector per patch, a linear map of its pixels."""
    height, width, _ = spec.input_shape
    pixels = keras.Input(tuple(spec.input_shape), name="pixels")
    x = layers.Rescaling(1.0 / pixel_scale(spec), name="rescaling")(pixels)
    x = layers.Conv2D(
        model.width, model.patch_size, strides=model.patch_size, name="patch_embedding", **options()
    )(x)
    count = (height // model.patch_size) * (width // model.patch_size)
    return pixels, layers.Reshape((count, model.width), name="patches")(x), None, count


def encoder_block(x, mask, model, options, index: int):
    """A pre-norm transformer encoder block: self-attention, then the feed-forward network, each
    added to its input."""
    y = layers.LayerNormalization(epsilon=1e-6, name=f"block{index}_attention_norm")(x)
    # The weights are an output of the layer's node too, for attention_weights() to read.
    y, _ = layers.MultiHeadAttention(
        model.heads, model.width // model.heads, dropout=model.dropout, name=f"block{index}_attention"
    )(y, y, query_mask=mask, value_mask=mask, return_attention_scores=True)
    x = layers.Add(name=f"block{index}_attention_residual")([x, layers.Dropout(model.dropout)(y)])
    y = layers.LayerNormalization(epsilon=1e-6, name=f"block{index}_feed_forward_norm")(x)
    y = layers.Dense(model.feed_forward, activation="gelu", name=f"block{index}_feed_forward", **options())(y)
    y = layers.Dense(model.width, name=f"block{index}_feed_forward_out", **options())(
        layers.Dropout(model.dropout)(y)
    )
    return layers.Add(name=f"block{index}_feed_forward_residual")([x, layers.Dropout(model.dropout)(y)])


def mean_over_positions(x, mask):
    """The mean of the vectors over the positions the mask keeps (all when there is no mask); a
    zero vector for an empty string rather than 0 / 0."""
    if mask is None:
        return layers.GlobalAveragePooling1D(name="mean_over_positions")(x)
    kept = ops.expand_dims(ops.cast(mask, x.dtype), -1)
    return ops.sum(x * kept, axis=1) / ops.maximum(ops.sum(kept, axis=1), 1.0)


def build_transformer(spec, config) -> keras.Model:
    model = config.model
    options = LayerOptions(model)
    embed = embed_text if spec.modality == "text" else embed_patches
    inputs, x, mask, length = embed(spec, model, options)
    x = PositionEncoding(length, model.width, model.positions, name="positions")(x)
    x = layers.Dropout(model.dropout)(x)
    for index in range(1, model.depth + 1):
        x = encoder_block(x, mask, model, options, index)
    x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = mean_over_positions(x, mask)
    x = layers.Dropout(model.dropout)(x)
    outputs = get_task(config.task).output_head(x, spec, config.training.loss, **options())
    transformer = keras.Model(inputs, outputs, name="transformer")
    if model.initializer.name == "pretrained":
        load_pretrained_weights(transformer, model.initializer.pretrained_model)
    return transformer


def attention_weights(model: keras.Model, inputs) -> np.ndarray:
    """The last block's attention weights on raw ``inputs``, averaged over heads: ``(examples,
    positions, positions)``, each row summing to one over the positions it may attend to."""
    last = [layer for layer in model.layers if isinstance(layer, layers.MultiHeadAttention)][-1]
    probe = keras.Model(model.inputs, last.output[1])
    return probe.predict(as_model_input(inputs), verbose=0).mean(axis=1)


def evaluation_figures(model: keras.Model, inputs, targets, spec) -> dict:
    """Heat maps of the last block's attention for a few test examples: over the characters of
    the longest of the first hundred words, or from each image patch to the others."""
    from dlpipe.evaluation.attention_plots import longest_strings, plot_attention_maps, plot_patch_attention

    if spec.modality == "text":
        chosen = longest_strings(inputs, ATTENTION_EXAMPLES)
        weights = attention_weights(model, np.asarray(inputs[chosen]))
        maps = []
        for row, index in enumerate(chosen):
            letters = list(inputs[index].decode("utf-8"))
            maps.append((letters, letters, weights[row, : len(letters), : len(letters)]))
        title = "Last block's attention between the letters (test words)"
        return {"attention_maps": plot_attention_maps(maps, title, ("attended letter", "letter"))}
    weights = attention_weights(model, inputs[:ATTENTION_EXAMPLES])
    return {"attention_maps": plot_patch_attention(inputs[:ATTENTION_EXAMPLES], weights.mean(axis=1))}


def check_config(config) -> None:
    model = config.model
    if model.width % model.heads:
        raise ValueError(
            f"model.heads: {model.heads} heads do not divide model.width {model.width}; each head "
            "reads width / heads of every vector"
        )
    # The image size the dataset declares, known before anything is loaded (check_data checks
    # the loaded data again).
    shape = declared_input_shape(config.dataset)
    if shape is not None and len(shape) == 3:
        check_patches_tile(model.patch_size, shape, config.dataset.name)


def check_patches_tile(patch: int, image_shape, dataset: str) -> None:
    height, width = image_shape[:2]
    if height % patch or width % patch:
        raise ValueError(
            f"model.patch_size: {patch} does not divide the {height}x{width} images of "
            f"'{dataset}'; expected a divisor of both sides"
        )


def check_data(spec, config) -> None:
    if spec.modality == "image":
        check_patches_tile(config.model.patch_size, spec.input_shape, spec.name)
    elif spec.modality != "text":
        raise ValueError(
            f"dataset.name: the transformer family reads strings or images; '{spec.name}' has "
            f"{spec.modality} inputs"
        )


FAMILY = register(
    Family(
        name="transformer",
        model_schema=TransformerModelConfig,
        tasks=("classification",),
        build=build_transformer,
        default_dataset="wordlists_local",
        check_config=check_config,
        check_data=check_data,
        evaluation_figures=evaluation_figures,
    )
)
