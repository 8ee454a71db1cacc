"""Sequence to sequence: a string in, a string of whitespace-separated tokens out.

The model learns with teacher forcing: it is fed the input string and the target tokens shifted
one step (a start token first), and predicts each next token. Evaluation never shows it the
targets: the model decodes from its own outputs (its ``predict`` maps raw strings to raw strings),
and the decoded strings are scored by edit distance.

Token ids: 0 pads, 1 starts and 2 ends a sequence, 3 stands for any token no training target
holds, then the training targets' tokens from the data description, most frequent first (see
:func:`output_vocabulary`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from dlpipe.data.spec import DataSpec
from dlpipe.evaluation.edit_distance import edit_distance
from dlpipe.tasks.base import Evaluation, Task, predict

PAD_ID, START_ID, END_ID, UNKNOWN_ID = 0, 1, 2, 3
START, END, UNKNOWN = "<start>", "<end>", "<unknown>"
LONGEST_SHARE = 0.1  # "the longest inputs": the longest tenth of the test split
ERROR_EXAMPLES = 25  # wrong outputs listed in the report


def output_vocabulary(spec: DataSpec) -> list[str]:
    """The output token of every id: padding (the empty string), start, end, unknown, then the
    training targets' tokens."""
    return ["", START, END, UNKNOWN, *(spec.target_tokens or [])]


class SequenceToSequence(Task):
    name = "seq2seq"
    losses = ("sparse_categorical_crossentropy",)
    default_loss = "sparse_categorical_crossentropy"
    # The share of target tokens predicted right under teacher forcing (padding left out).
    metrics = {"token_accuracy": "maximize"}
    main_metric = "val_loss"
    extra_test_metrics = {
        "test_word_error_rate": "minimize",
        "test_token_error_rate": "minimize",
        "test_word_error_rate_longest": "minimize",
        "test_token_error_rate_longest": "minimize",
        "test_token_accuracy": "maximize",
    }

    def check_data(self, spec: DataSpec, loss: str) -> None:
        if spec.modality != "text" or spec.target != "text":
            raise ValueError(
                f"dataset.name: '{spec.name}' has {spec.modality} inputs and {spec.target} targets; "
                "the seq2seq task maps strings to strings of tokens (e.g. cmudict_local)"
            )

    def encode_targets(self, targets: np.ndarray, spec: DataSpec, loss: str) -> np.ndarray:
        """Token ids of each target followed by the end id, right-padded with zeros; a token no
        training target holds is the unknown id (which the model never learns to output)."""
        ids = {token: index for index, token in enumerate(output_vocabulary(spec)) if index > UNKNOWN_ID}
        sequences = [value.decode("utf-8").split() for value in targets]
        encoded = np.zeros((len(sequences), max(map(len, sequences), default=0) + 1), dtype=np.int32)
        for row, tokens in enumerate(sequences):
            encoded[row, : len(tokens)] = [ids.get(token, UNKNOWN_ID) for token in tokens]
            encoded[row, len(tokens)] = END_ID
        return encoded

    def batch(self, inputs, encoded_targets, spec: DataSpec):
        """``((strings, previous tokens), next tokens)``, cut to the batch's longest target: the
        previous tokens are the targets one step late, the start id first, zero where the
        target is padding."""
        length = tf.reduce_max(tf.reduce_sum(tf.cast(encoded_targets != PAD_ID, tf.int32), axis=1))
        targets = encoded_targets[:, :length]
        start = tf.fill([tf.shape(targets)[0], 1], tf.constant(START_ID, targets.dtype))
        previous = tf.concat([start, targets[:, :-1]], axis=1)
        return (inputs, tf.where(targets != PAD_ID, previous, tf.zeros_like(previous))), targets

    def compile_loss(self, loss: str):
        # The model outputs logits; padding steps count for nothing.
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID)

    def compile_metrics(self, loss: str) -> list:
        # Masked by the model's output mask (padding steps are not scored).
        return [keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")]

    def evaluate(
        self,
        model,
        inputs,
        targets,
        spec: DataSpec,
        loss: str,
        batch_size: int,
        train_sample=None,
        settings=None,
    ) -> Evaluation:
        """Decode every test input, score the outputs against the targets by edit distance, and
        the teacher-forced loss and token accuracy."""
        from dlpipe.evaluation.sequence_plots import plot_error_by_length

        decoded = [value.decode("utf-8").split() for value in predict(model, inputs, batch_size)]
        references = [value.decode("utf-8").split() for value in targets]
        lengths = np.array([len(value.decode("utf-8")) for value in inputs])
        distances = np.array([edit_distance(ref, hyp) for ref, hyp in zip(references, decoded, strict=True)])
        reference_lengths = np.array([len(ref) for ref in references])
        longest = lengths >= np.quantile(lengths, 1 - LONGEST_SHARE)

        def rates(selected) -> tuple[float, float]:
            """Word error rate (outputs with any error) and token error rate (edits over
            reference tokens) of the selected examples."""
            chosen = distances[selected]
            return float(np.mean(chosen > 0)), float(chosen.sum() / max(1, reference_lengths[selected].sum()))

        everything = np.ones(len(lengths), dtype=bool)
        metrics = self.teacher_forced_scores(model, inputs, targets, spec, batch_size)
        for suffix, selected in (("", everything), ("_longest", longest)):
            word, token = rates(selected)
            metrics[f"test_word_error_rate{suffix}"] = word
            metrics[f"test_token_error_rate{suffix}"] = token
        by_length = []
        for length in np.unique(lengths):
            word, token = rates(lengths == length)
            by_length.append(
                {
                    "length": int(length),
                    "count": int(np.sum(lengths == length)),
                    "sequence_error_rate": word,
                    "token_error_rate": token,
                }
            )
        wrong = np.flatnonzero(distances > 0)[:ERROR_EXAMPLES]
        report = {
            **metrics,
            "num_test": len(inputs),
            "longest_inputs_from_length": int(lengths[longest].min()),
            "num_longest": int(longest.sum()),
            "by_input_length": by_length,
            "errors": [
                {
                    "input": inputs[index].decode("utf-8"),
                    "target": " ".join(references[index]),
                    "output": " ".join(decoded[index]),
                }
                for index in wrong
            ],
        }
        figures = {"error_rate_by_length": plot_error_by_length(by_length)}
        return Evaluation(metrics=metrics, report=report, figures=figures)

    def teacher_forced_scores(self, model, inputs, targets, spec: DataSpec, batch_size: int) -> dict:
        """``test_loss`` (cross-entropy per target token) and ``test_token_accuracy`` with the
        targets fed as previous tokens, as in training, each a mean over every target token of
        the split (Keras' ``val_loss`` averages the batches' means instead); computed directly,
        since a reloaded model may be compiled under another strategy or not at all."""
        data = self.evaluation_batches(inputs, targets, spec, batch_size)
        total_loss = correct = count = 0.0
        for features, next_tokens in data:
            logits = model(features, training=False)
            scored = keras.ops.convert_to_numpy(next_tokens) != PAD_ID
            losses = keras.ops.convert_to_numpy(
                keras.losses.sparse_categorical_crossentropy(next_tokens, logits, from_logits=True)
            )
            predicted = keras.ops.convert_to_numpy(keras.ops.argmax(logits, axis=-1))
            total_loss += float(losses[scored].sum())
            correct += float((predicted == keras.ops.convert_to_numpy(next_tokens))[scored].sum())
            count += float(scored.sum())
        return {"test_loss": total_loss / max(1.0, count), "test_token_accuracy": correct / max(1.0, count)}
