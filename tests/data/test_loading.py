"""The data stage: real Fashion-MNIST through TFDS, seeded splits, clear errors when data is missing."""

from __future__ import annotations

import gzip
import time

import numpy as np
import pytest

from dlpipe.config.data import DatasetConfig
from dlpipe.data import loading, selection_reading
from dlpipe.data.builders.fashion_mnist_local import read_idx
from dlpipe.data.input_pipeline import make_dataset
from dlpipe.data.loading import DatasetUnavailableError, load_splits
from dlpipe.tasks import get_task


def test_splits_have_the_configured_sizes_and_real_content(fashion_splits):
    splits, info = fashion_splits
    assert info.num_classes == 10
    assert info.class_names[0] == "T-shirt/top"
    assert info.input_shape == [28, 28, 1]
    assert (info.modality, info.input_dtype, info.target) == ("image", "uint8", "class")
    assert (info.num_train, info.num_val, info.num_test) == (400, 40, 200)
    assert splits["x_train"].shape == (400, 28, 28, 1)
    assert splits["x_val"].shape == (40, 28, 28, 1)
    assert splits["x_test"].shape == (200, 28, 28, 1)
    assert splits["x_train"].dtype == np.uint8
    # Real images: not blank, and several classes in a small slice.
    assert splits["x_train"].mean() > 20
    assert len(np.unique(splits["y_train"])) == 10


def test_splits_are_seeded_and_disjoint(smoke_params):
    from tests.conftest import DATA_DIR

    config = DatasetConfig.model_validate({**smoke_params["cnn"]["dataset"], "data_dir": str(DATA_DIR)})
    first, _ = load_splits(config, seed=7)
    again, _ = load_splits(config, seed=7)
    other, _ = load_splits(config, seed=8)
    np.testing.assert_array_equal(first["x_train"], again["x_train"])
    assert not np.array_equal(first["x_train"], other["x_train"])
    train_rows = {row.tobytes() for row in first["x_train"]}
    assert not any(row.tobytes() in train_rows for row in first["x_val"])


def test_a_limited_run_reads_only_its_examples_and_gets_the_rows_a_full_read_would_select(
    smoke_params, monkeypatch
):
    from tests.conftest import DATA_DIR

    dataset = {**smoke_params["cnn"]["dataset"], "data_dir": str(DATA_DIR)}
    limited = DatasetConfig.model_validate(dataset)
    whole = DatasetConfig.model_validate({**dataset, "train_limit": None, "test_limit": None})
    decoded = []
    original = loading._split_dataset

    def counting(builder, split, kept, **args):
        decoded.append((split, None if kept is None else len(kept)))
        return original(builder, split, kept, **args)

    monkeypatch.setattr(loading, "_split_dataset", counting)
    small, _ = load_splits(limited, seed=3)
    # 400 training and 40 validation images from `train`, 200 from `test`: nothing else decoded.
    assert sorted(decoded) == [("test", 200), ("train", 440)]
    full, _ = load_splits(whole, seed=3)
    assert sorted(decoded[2:]) == [("test", None), ("train", None)]
    # The same seeded selection as reading everything: the limits keep a prefix of its order.
    np.testing.assert_array_equal(small["x_train"], full["x_train"][:400])
    np.testing.assert_array_equal(small["y_train"], full["y_train"][:400])
    np.testing.assert_array_equal(small["x_val"], full["x_val"][:40])
    rng = np.random.default_rng(3)
    rng.permutation(len(full["x_train"]) + len(full["x_val"]))
    test_rows = rng.permutation(len(full["x_test"]))[:200]
    np.testing.assert_array_equal(small["x_test"], full["x_test"][test_rows])
    np.testing.assert_array_equal(small["y_test"], full["y_test"][test_rows])
    # The smoke slice came through the fast path; a split of several shards (or another file
    # format) goes through TFDS's reader instead, to the same rows.
    builder = loading.get_builder(limited)
    assert selection_reading._single_shard_records(builder, "train") is not None
    monkeypatch.setattr(selection_reading, "_single_shard_records", lambda builder, split: None)
    through_tfds, _ = load_splits(limited, seed=3)
    for key in small:
        np.testing.assert_array_equal(through_tfds[key], small[key])


def test_missing_local_files_fail_fast_naming_dataset_and_places(tmp_path, monkeypatch):
    monkeypatch.delenv("DLPIPE_FASHION_MNIST_DIR", raising=False)
    empty = tmp_path / "nowhere"
    config = DatasetConfig(
        name="fashion_mnist_local", data_dir=str(tmp_path / "tfds"), source_dirs=[str(empty)]
    )
    started = time.monotonic()
    with pytest.raises(DatasetUnavailableError) as raised:
        load_splits(config, seed=0)
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert "fashion_mnist_local" in message
    assert str(empty) in message
    assert "apt-get install -y dataset-fashion-mnist" in message


@pytest.mark.parametrize("network", ["host does not resolve", "name lookup hangs"])
def test_stock_dataset_without_network_fails_within_seconds(network, tmp_path, monkeypatch, request):
    # A host that can never resolve stands in for a machine without network; a lookup that never
    # returns, for one whose resolver is configured but unreachable.
    monkeypatch.setattr(loading, "DOWNLOAD_PROBE", "https://download.invalid/")
    if network == "name lookup hangs":
        request.getfixturevalue("hanging_name_lookup")
    config = DatasetConfig(name="mnist", data_dir=str(tmp_path / "tfds"), network_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(DatasetUnavailableError, match=r"'mnist' is not prepared in .*tfds"):
        load_splits(config, seed=0)
    assert time.monotonic() - started < 15


def test_unknown_dataset_name_is_rejected(tmp_path):
    config = DatasetConfig(name="fashon_mnist", data_dir=str(tmp_path))
    with pytest.raises(DatasetUnavailableError, match="dataset.name: 'fashon_mnist'"):
        load_splits(config, seed=0)


def test_truncated_idx_file_is_reported(tmp_path):
    good = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    header = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in good.shape)
    path = tmp_path / "images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(header + good.tobytes())
    np.testing.assert_array_equal(read_idx(path), good)
    with gzip.open(path, "wb") as handle:
        handle.write(header + good.tobytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_input_pipeline_batches_raw_pixels_and_one_hot_encodes(tiny_splits):
    splits, info = tiny_splits
    task = get_task("classification")
    common = dict(batch_size=32, training=True, seed=1)
    sparse = make_dataset(
        splits["x_train"],
        task.encode_targets(splits["y_train"], info, "sparse_categorical_crossentropy"),
        **common,
    )
    images, labels = next(iter(sparse))
    assert images.shape == (32, 28, 28, 1) and images.dtype.name == "float32"
    # Raw pixel values: the model's own Rescaling layer scales them (see tests/models).
    pixels = images.numpy()
    assert pixels.min() >= 0.0 and pixels.max() <= 255.0 and pixels.max() > 1.0
    np.testing.assert_array_equal(pixels, np.round(pixels))  # whole uint8 values, not rescaled
    assert labels.shape == (32,)
    dense = make_dataset(
        splits["x_train"],
        task.encode_targets(splits["y_train"], info, "categorical_crossentropy"),
        **common,
    )
    _, one_hot = next(iter(dense))
    assert one_hot.shape == (32, 10)
    np.testing.assert_allclose(one_hot.numpy().sum(axis=1), 1.0)


def test_noise_steps_follow_each_sequence_after_its_padding_and_images_refuse_them():
    from tests.conftest import DATA_DIR

    common = {"name": "uea_local/japanese_vowels", "data_dir": str(DATA_DIR), "validation_fraction": 0.2}
    plain, _ = load_splits(DatasetConfig.model_validate(common), seed=3)
    with_noise = DatasetConfig.model_validate({**common, "noise_steps": 12, "noise_scale": 0.1})
    noisy, spec = load_splits(with_noise, seed=3)
    frames = plain["x_train"].shape[1]
    assert noisy["x_train"].shape == (plain["x_train"].shape[0], frames + 12, plain["x_train"].shape[2])
    assert spec.input_shape == [None, plain["x_train"].shape[2]]  # still masked: lengths vary
    for key in ("x_train", "x_val", "x_test"):
        np.testing.assert_array_equal(noisy[key][:, :frames], plain[key])  # sequence and padding kept
        assert np.all(np.any(noisy[key][:, frames:] != 0, axis=-1))  # no noise frame looks like padding
    real = plain["x_train"].reshape(-1, plain["x_train"].shape[-1])
    real = real[np.any(real != 0, axis=1)]
    noise = noisy["x_train"][:, frames:].reshape(-1, real.shape[1])
    np.testing.assert_allclose(noise.std(axis=0), 0.1 * real.std(axis=0), rtol=0.1)
    again, _ = load_splits(with_noise, seed=3)
    np.testing.assert_array_equal(again["x_test"], noisy["x_test"])

    images = {"name": "fashion_mnist_local", "data_dir": str(DATA_DIR), "train_limit": 50, "noise_steps": 5}
    expected = r"dataset\.noise_steps: 5 .*sequences.*fashion_mnist_local"
    with pytest.raises(DatasetUnavailableError, match=expected):
        load_splits(DatasetConfig.model_validate(images), seed=3)
