"""The ``rnn`` family: recurrent networks trained by backpropagation through time.

A stack of recurrent layers (simple RNN, LSTM or GRU; optionally bidirectional) reads a sequence
step by step; the last layer's final state goes through a dense head to the task's output. It
classifies sequences (padded variable-length ones are masked) or, with a dataset cut into
``dataset.windows``, forecasts a series (task ``regression``). Gradients flow back through every
step of the sequence, so the window or sequence length is the truncation length of BPTT; exploding
gradients through time are tamed by ``training.gradient_clipping``.
"""

from __future__ import annotations

from typing import Literal

import keras

from dlpipe.config.common import PositiveInt, UnitFraction
from dlpipe.config.layers import DenseConfig, ModelConfigBase
from dlpipe.families.registry import Family, register
from dlpipe.models.assembly import assemble_functional_model
from dlpipe.models.blocks import dense_stack

CELLS = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


class RnnModelConfig(ModelConfigBase):
    family: Literal["rnn"]
    cell: Literal["simple_rnn", "lstm", "gru"] = "lstm"
    num_layers: PositiveInt = 1
    units: PositiveInt = 64
    bidirectional: bool = False
    dropout: UnitFraction = 0.0  # on each layer's inputs
    recurrent_dropout: UnitFraction = 0.0  # on the state carried from step to step
    dense: DenseConfig = DenseConfig(num_layers=0)  # the head after the recurrent stack


def build_rnn(spec, config) -> keras.Model:
    """Recurrent layers (all but the last return their whole sequence), then the dense head."""
    model = config.model
    recurrent = CELLS[model.cell]

    def body(x, options):
        for index in range(model.num_layers):
            last = index == model.num_layers - 1
            layer = recurrent(
                model.units,
                return_sequences=not last,
                dropout=model.dropout,
                recurrent_dropout=model.recurrent_dropout,
                name=f"{model.cell}{index + 1}",
                **options(),
            )
            if model.bidirectional:
                layer = keras.layers.Bidirectional(layer, name=f"bidirectional{index + 1}")
            x = layer(x)
        return dense_stack(x, model.dense, options)

    return assemble_functional_model(spec, config, body)


def check_sequence_data(spec, config) -> None:
    if spec.modality != "sequence":
        raise ValueError(
            f"model.family: 'rnn' reads sequences of shape (time, channels); dataset '{spec.name}' "
            f"has {spec.modality} inputs of shape {spec.input_shape}"
        )


FAMILY = register(
    Family(
        name="rnn",
        model_schema=RnnModelConfig,
        tasks=("classification", "regression"),
        build=build_rnn,
        default_dataset="uea_local/japanese_vowels",
        check_data=check_sequence_data,
    )
)
