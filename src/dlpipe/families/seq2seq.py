"""The ``seq2seq`` family: a recurrent encoder-decoder network, with or without attention.

The encoder (LSTM or GRU layers, each bidirectional when ``bidirectional``) reads the input
characters; its final states start the decoder, which predicts
the output tokens one at a time. In training the decoder is fed the true previous token (teacher
forcing); when decoding it is fed its own previous output (greedy decoding), never the target.

Without attention the encoder's final state is all the decoder knows of the input: a fixed-size
bottleneck that long inputs overflow. With attention every decoder step also reads a weighted
mean of all the encoder's outputs, the weights scored against the decoder's state: ``additive``
(Bahdanau: ``v . tanh(W1 query + W2 key)``) or ``dot`` (Luong: ``query . key``); the decoder
output and that context go through a tanh layer to the next-token logits (Luong's attentional
hidden state). The attention weights of each output step over the input are kept for plotting.

The saved model maps raw strings to raw strings: its ``predict`` splits and looks up the input
characters, decodes greedily and joins the output tokens.
"""

from __future__ import annotations

from typing import Literal

import keras
import tensorflow as tf
from keras import layers, ops
from pydantic import Field

from dlpipe.config.common import PositiveInt, UnitFraction
from dlpipe.config.layers import ModelConfigBase
from dlpipe.families.registry import Family, model_figures, register
from dlpipe.models.blocks import LayerOptions
from dlpipe.models.composed import ComposedModel
from dlpipe.models.preprocessing import character_ids
from dlpipe.tasks.seq2seq import END_ID, PAD_ID, START_ID, UNKNOWN_ID, output_vocabulary

CELLS = {"lstm": layers.LSTM, "gru": layers.GRU}


class Seq2SeqModelConfig(ModelConfigBase):
    family: Literal["seq2seq"]
    cell: Literal["lstm", "gru"] = "lstm"
    embedding_dim: PositiveInt = 32  # of input characters and of output tokens
    units: PositiveInt = 128  # per direction in the encoder; the decoder has as many as the encoder outputs
    num_layers: PositiveInt = 1  # in the encoder and in the decoder
    bidirectional: bool = True  # the encoder reads the input both ways
    attention: Literal["none", "additive", "dot"] = "none"
    dropout: UnitFraction = 0.0  # after each recurrent layer
    # Decoding stops after this many output tokens; None: 5 more than the longest training target.
    max_output_length: PositiveInt | None = Field(None, le=1000)


@keras.saving.register_keras_serializable(package="dlpipe")
class Seq2Seq(ComposedModel):
    """``encoder``: input character ids to ``[outputs, *final states]``; ``decoder``: ``[previous
    token ids, encoder outputs, input character ids, *initial states]`` to ``[logits, *final
    states]`` (and the attention weights last, when it attends).

    Called on ``(strings, previous token ids)`` it returns the next-token logits (teacher
    forcing); ``predict`` on raw strings (a string tensor) returns the decoded strings.
    """

    submodels = ("encoder", "decoder")

    def __init__(self, encoder, decoder, input_characters, output_tokens, max_output_length, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.input_characters = list(input_characters)
        self.output_tokens = list(output_tokens)
        self.max_output_length = int(max_output_length)
        # Ids: 0 pads, 1 is any character unseen in training, then the known characters.
        self.vectorize = character_ids(self.input_characters)
        self.emittable = tf.constant(
            [index not in (PAD_ID, START_ID, UNKNOWN_ID) for index in range(len(output_tokens))]
        )
        self.num_states = len(encoder.outputs) - 1
        self.attends = len(decoder.outputs) > 1 + self.num_states

    def call(self, inputs, training=False):
        strings, previous = inputs
        characters = self.characters(strings)
        encoded, *states = self.encoder(characters, training=training)
        # Masks are explicit here: the decoder masks the input characters itself, and the
        # logits' mask is the targets' padding (compute_mask), not one the attention layers
        # propagate; tf.identity leaves the tensors without Keras' implicit mask.
        encoded = tf.identity(encoded)
        return tf.identity(self.decoder([previous, encoded, characters, *states], training=training)[0])

    def characters(self, strings):
        """Character ids of raw strings, at least one position long: a batch of empty strings
        is one padding step, not a sequence of none (which recurrent layers cannot read)."""
        ids = self.vectorize(strings)
        return tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])

    def compute_mask(self, inputs, previous_mask=None):
        # Padding steps of the targets are neither in the loss nor in the token accuracy.
        return ops.not_equal(inputs[1], PAD_ID)

    def decode(self, strings):
        """Greedy decoding: ``(token ids (batch, steps), attention weights (batch, steps, input
        length) or None)``; ids after the end id are padding. Each step is fed the previous
        step's most likely token, starting from the start id; decoding stops when every
        sequence has ended or after ``max_output_length`` tokens."""
        characters = self.characters(tf.reshape(strings, [-1]))
        encoded, *states = self.encoder(characters, training=False)
        encoded = tf.identity(encoded)
        batch = tf.shape(characters)[0]
        previous = tf.fill([batch, 1], START_ID)
        finished = tf.zeros([batch], tf.bool)
        tokens = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
        weights = tf.TensorArray(tf.float32, size=0, dynamic_size=True)

        def step(index, previous, finished, states, tokens, weights):
            outputs = self.decoder([previous, encoded, characters, *states], training=False)
            # Padding, start and unknown are never outputs: only a token or the end.
            logits = tf.where(self.emittable, outputs[0][:, -1], tf.float32.min)
            token = tf.cast(tf.argmax(logits, axis=-1), tf.int32)
            token = tf.where(finished, PAD_ID, token)
            if self.attends:
                weights = weights.write(index, tf.cast(outputs[-1][:, -1], tf.float32))
            finished = finished | (token == END_ID)
            fed = tf.where(token == PAD_ID, END_ID, token)[:, None]  # an ended sequence idles
            return (
                index + 1,
                fed,
                finished,
                list(outputs[1 : 1 + self.num_states]),
                tokens.write(index, token),
                weights,
            )

        _, _, _, _, tokens, weights = tf.while_loop(
            lambda index, previous, finished, *_: (index < self.max_output_length) & ~tf.reduce_all(finished),
            step,
            (tf.constant(0), previous, finished, list(states), tokens, weights),
        )
        ids = tf.transpose(tokens.stack())
        attention = tf.transpose(weights.stack(), [1, 0, 2]) if self.attends else None
        return ids, attention

    def detokenize(self, ids):
        """The output strings of token ids: tokens up to the end id, joined by spaces."""
        vocabulary = tf.constant(self.output_tokens)
        kept = tf.cumsum(tf.cast(ids == END_ID, tf.int32), axis=1, exclusive=True) == 0
        kept &= (ids != END_ID) & (ids != PAD_ID)
        words = tf.ragged.boolean_mask(tf.gather(vocabulary, ids), kept)
        return tf.strings.reduce_join(words, axis=1, separator=" ")

    def predict_step(self, data):
        strings, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.detokenize(self.decode(strings)[0])

    def evaluation_figures(self, inputs, targets, spec) -> dict:
        """Heat maps of the attention of each decoded token over the input letters, for the
        longest test inputs among the first hundred (none without attention)."""
        if not self.attends:
            return {}
        from dlpipe.evaluation.attention_plots import longest_strings, plot_attention_maps

        chosen = longest_strings(inputs)
        ids, attention = self.decode(tf.constant(inputs[chosen]))
        maps = []
        for row, index in enumerate(chosen):
            letters = list(inputs[index].decode("utf-8"))
            tokens = [self.output_tokens[token] for token in ids[row].numpy() if token != PAD_ID]
            maps.append((letters, tokens, attention[row, : len(tokens), : len(letters)].numpy()))
        return {"attention_maps": plot_attention_maps(maps)}

    def get_config(self):
        return {
            **super().get_config(),
            "input_characters": self.input_characters,
            "output_tokens": self.output_tokens,
            "max_output_length": self.max_output_length,
        }


def _recurrent(model, units: int, options, name: str):
    return CELLS[model.cell](units, return_sequences=True, return_state=True, name=name, **options())


def build_encoder(model, vocabulary_size: int, options) -> keras.Model:
    """Character ids → ``[outputs, *final states of every layer]``; a bidirectional layer's
    forward and backward states are concatenated."""
    characters = keras.Input((None,), dtype="int32", name="characters")
    x = layers.Embedding(vocabulary_size, model.embedding_dim, mask_zero=True, name="character_embedding")(
        characters
    )
    states = []
    for index in range(model.num_layers):
        layer = _recurrent(model, model.units, options, f"encoder_{model.cell}{index + 1}")
        if model.bidirectional:
            x, *both = layers.Bidirectional(layer, name=f"encoder_bidirectional{index + 1}")(x)
            half = len(both) // 2  # forward states, then backward ones
            states += [layers.Concatenate()([both[i], both[half + i]]) for i in range(half)]
        else:
            x, *layer_states = layer(x)
            states += layer_states
        if model.dropout:
            x = layers.Dropout(model.dropout)(x)
    return keras.Model(characters, [x, *states], name="encoder")


def build_decoder(model, vocabulary_size: int, encoder: keras.Model, options) -> keras.Model:
    """``[previous token ids, encoder outputs, character ids, *initial states]`` → ``[logits,
    *final states, (attention weights)]``."""
    width = encoder.outputs[0].shape[-1]
    previous = keras.Input((None,), dtype="int32", name="previous_tokens")
    encoded = keras.Input((None, width), name="encoder_outputs")
    characters = keras.Input((None,), dtype="int32", name="characters")
    initial = [
        keras.Input((width,), name=f"initial_state{index + 1}") for index in range(len(encoder.outputs) - 1)
    ]
    per_layer = len(initial) // model.num_layers
    x = layers.Embedding(vocabulary_size, model.embedding_dim, mask_zero=True, name="token_embedding")(
        previous
    )
    states = []
    for index in range(model.num_layers):
        layer = _recurrent(model, width, options, f"decoder_{model.cell}{index + 1}")
        x, *layer_states = layer(x, initial_state=initial[index * per_layer : (index + 1) * per_layer])
        states += layer_states
        if model.dropout:
            x = layers.Dropout(model.dropout)(x)
    extra = []
    if model.attention != "none":
        input_mask = ops.not_equal(characters, PAD_ID)
        if model.attention == "additive":
            query = layers.Dense(width, use_bias=False, name="attention_query")(x)
            keys = layers.Dense(width, use_bias=False, name="attention_keys")(encoded)
            context, weights = layers.AdditiveAttention(name="attention")(
                [query, encoded, keys], mask=[None, input_mask], return_attention_scores=True
            )
        else:
            context, weights = layers.Attention(score_mode="dot", name="attention")(
                [x, encoded], mask=[None, input_mask], return_attention_scores=True
            )
        x = layers.Dense(width, activation="tanh", name="attentional_state", **options())(
            layers.Concatenate()([x, context])
        )
        extra = [weights]
    logits = layers.Dense(vocabulary_size, dtype="float32", name="next_token_logits", **options())(x)
    return keras.Model([previous, encoded, characters, *initial], [logits, *states, *extra], name="decoder")


def build_seq2seq(spec, config) -> Seq2Seq:
    model = config.model
    options = LayerOptions(model)
    tokens = output_vocabulary(spec)
    encoder = build_encoder(model, len(spec.input_characters) + 2, options)  # + padding, unknown
    decoder = build_decoder(model, len(tokens), encoder, options)
    seq2seq = Seq2Seq(
        encoder,
        decoder,
        spec.input_characters,
        tokens,
        model.max_output_length or (spec.max_target_length or 0) + 5,
        name="seq2seq",
    )
    seq2seq((tf.constant(["ab"]), tf.constant([[START_ID]])))  # build before the traced train step
    return seq2seq


FAMILY = register(
    Family(
        name="seq2seq",
        model_schema=Seq2SeqModelConfig,
        tasks=("seq2seq",),
        build=build_seq2seq,
        default_dataset="cmudict_local",
        supports_pretrained=False,
        evaluation_figures=model_figures,
    )
)
