"""The seq2seq family and task: teacher-forced batches, greedy decoding from the model's own
outputs, attention over the real input letters, and bad values rejected before any node."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.data.loading import load_splits
from dlpipe.families import get_family
from dlpipe.tasks import get_task
from dlpipe.tasks.seq2seq import END_ID, PAD_ID, START_ID, UNKNOWN_ID, output_vocabulary
from dlpipe.training.fit import fit_model
from tests.conftest import load_project_params
from tests.families.conftest import assert_rejected_naming_the_key, shrunk_block

PARAMS = load_project_params("base")
BLOCK = PARAMS["seq2seq_attention"]
TASK = get_task("seq2seq")

BAD_VALUES = {
    "unknown attention type": ({"model.attention": "cosine"}, "seq2seq_attention.model.attention", "cosine"),
    "unknown cell": ({"model.cell": "simple_rnn"}, "seq2seq_attention.model.cell", "simple_rnn"),
    "zero units": ({"model.units": 0}, "seq2seq_attention.model.units", "0"),
    "loss the task does not take": (
        {"training.loss": "mean_squared_error"},
        "seq2seq_attention.training.loss",
        "sparse_categorical_crossentropy",
    ),
    "task the family cannot learn": ({"task": "classification"}, "seq2seq_attention.task", "seq2seq"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_value_is_rejected_naming_the_key(case):
    assert_rejected_naming_the_key("seq2seq_attention", BLOCK, *BAD_VALUES[case])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The attention block trained two epochs on 3,000 real words."""
    tmp_path = tmp_path_factory.mktemp("seq2seq")
    block = with_overrides(
        shrunk_block(BLOCK, tmp_path, epochs=2),
        {"dataset.train_limit": 3000, "training.batch_size": 64, "model.units": 64},
    )
    config = parse_family("seq2seq_attention", block)
    splits, spec = load_splits(config.dataset, config.seed)
    model, history = fit_model(config, splits, spec, epochs=2, callbacks=[])
    return splits, spec, model, history


def test_gradient_monitor_differentiates_the_teacher_forced_loss(trained):
    from dlpipe.training.fit import gradient_monitor

    splits, spec, model, _ = trained
    config = parse_family(
        "seq2seq_attention", with_overrides(BLOCK, {"training.gradient_monitor.enabled": True})
    )
    monitor = gradient_monitor(config, splits, spec, mlflow_run_id=None)
    monitor.set_model(model)
    norms = monitor.layer_gradient_norms()
    assert {"encoder", "decoder"} <= set(norms), norms
    assert all(np.isfinite(value) and value > 0 for value in norms.values()), norms


def test_targets_are_fed_one_step_late_and_padding_is_not_scored():
    spec = _spec(["AH", "K", "T"])
    encoded = TASK.encode_targets(np.array([b"K AH T", b"AH", b"K ZH"], dtype=object), spec, "")
    k, ah, t = (output_vocabulary(spec).index(token) for token in ("K", "AH", "T"))
    assert encoded.tolist() == [
        [k, ah, t, END_ID],
        [ah, END_ID, PAD_ID, PAD_ID],
        [k, UNKNOWN_ID, END_ID, PAD_ID],  # ZH: in no training target
    ]
    (strings, previous), targets = TASK.batch(tf.constant([b"cat", b"a", b"kzh"]), tf.constant(encoded), spec)
    assert previous.numpy().tolist() == [
        [START_ID, k, ah, t],
        [START_ID, ah, PAD_ID, PAD_ID],
        [START_ID, k, UNKNOWN_ID, PAD_ID],
    ]
    assert targets.numpy().tolist() == encoded.tolist()
    # A batch is cut to its longest target.
    (_, previous), targets = TASK.batch(tf.constant([b"a"]), tf.constant(encoded[1:2]), spec)
    assert targets.numpy().tolist() == [[ah, END_ID]] and previous.numpy().tolist() == [[START_ID, ah]]


def test_token_accuracy_leaves_padding_out(trained):
    splits, spec, model, history = trained
    scores = TASK.teacher_forced_scores(model, splits["x_val"], splits["y_val"], spec, batch_size=64)
    # Counted over padding too it would be about half; graph and eager runs may flip a near tie.
    assert history["val_token_accuracy"][-1] == pytest.approx(scores["test_token_accuracy"], abs=2e-3)
    assert history["val_loss"][-1] == pytest.approx(scores["test_loss"], rel=2e-2)  # per batch vs per token
    assert history["val_token_accuracy"][-1] > history["val_token_accuracy"][0]


def test_greedy_decoding_feeds_the_model_its_own_outputs(trained):
    splits, spec, model, _ = trained
    words = splits["x_test"][:64]
    ids, _ = model.decode(tf.constant(words))
    ids = ids.numpy()
    # Fed its own decoded tokens as the previous ones, the teacher-forced model predicts the same
    # tokens at every step up to the end: the step-by-step decoder and the whole-sequence one agree.
    previous = np.concatenate([np.full((len(ids), 1), START_ID), ids[:, :-1]], axis=1)
    previous[ids == PAD_ID] = PAD_ID
    logits = model((tf.constant(words), tf.constant(previous, tf.int32)), training=False).numpy()
    scored = ids != PAD_ID
    np.testing.assert_array_equal(logits.argmax(-1)[scored], ids[scored])
    # The decoded strings are those tokens, joined, up to the end token.
    vocabulary = output_vocabulary(spec)
    strings = model.predict(tf.constant(words), verbose=0)
    for row, decoded in zip(ids, strings, strict=True):
        kept = [vocabulary[token] for token in row[: list(row).index(END_ID)]] if END_ID in row else None
        if kept is not None:
            assert decoded.decode() == " ".join(kept)
    tokens = {token for value in strings for token in value.decode().split()}
    assert tokens and tokens <= set(spec.target_tokens), "outputs are phonemes, nothing else"


def test_attention_weights_cover_the_input_letters_only(trained):
    splits, _, model, _ = trained
    words = np.array([b"a", b"cat", b"pronunciation"], dtype=object)
    ids, attention = model.decode(tf.constant(words))
    attention = attention.numpy()
    for row, word in enumerate(words):
        steps = int(np.sum(ids[row].numpy() != PAD_ID))
        weights = attention[row, :steps]
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
        assert np.all(weights[:, len(word) :] < 1e-6), "no weight on padding after the word"


def test_evaluation_scores_decoded_words_by_edit_distance(trained):
    splits, spec, model, _ = trained
    inputs, targets = splits["x_test"][:200], splits["y_test"][:200]
    evaluation = TASK.evaluate(model, inputs, targets, spec, "sparse_categorical_crossentropy", 64)
    decoded = [value.decode().split() for value in model.predict(tf.constant(inputs), verbose=0)]
    references = [value.decode().split() for value in targets]
    wrong = [out != ref for out, ref in zip(decoded, references, strict=True)]
    assert evaluation.metrics["test_word_error_rate"] == pytest.approx(np.mean(wrong))
    lengths = np.array([len(word) for word in inputs])
    longest = lengths >= evaluation.report["longest_inputs_from_length"]
    assert evaluation.metrics["test_word_error_rate_longest"] == pytest.approx(
        np.mean(np.array(wrong)[longest])
    )
    assert sum(row["count"] for row in evaluation.report["by_input_length"]) == len(inputs)
    assert set(evaluation.figures) == {"error_rate_by_length"}
    own = get_family("seq2seq").evaluation_figures(model, inputs, targets, spec)
    assert set(own) == {"attention_maps"}


def _spec(tokens):
    from dlpipe.data.spec import DataSpec

    return DataSpec(
        name="words",
        modality="text",
        input_shape=[],
        input_dtype="object",
        target="text",
        num_train=3,
        num_val=1,
        num_test=1,
        input_characters=list("acktzh"),
        target_tokens=tokens,
        max_input_length=3,
        max_target_length=3,
    )


def test_reloaded_model_decodes_odd_raw_strings(trained, tmp_path):
    splits, spec, model, _ = trained
    path = tmp_path / "seq2seq.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    odd = ["", "ABANDON", "abandon", "zq9ß", "a" * 60]
    decoded = [value.decode() for value in reloaded.predict(tf.constant(odd), verbose=0)]
    assert decoded[1] == decoded[2], "upper case reads as lower case"
    for value in decoded:
        assert set(value.split()) <= set(spec.target_tokens)
        assert len(value.split()) < model.max_output_length
    assert reloaded.predict(tf.constant([""]), verbose=0).shape == (1,)  # a batch of empty strings
