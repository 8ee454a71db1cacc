"""Load a dataset through tensorflow-datasets into seeded train/validation/test splits."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from dlpipe.config.schema import DatasetConfig
from dlpipe.http_probe import NoAnswer, http_status

logger = logging.getLogger(__name__)

LOCAL_DATASETS = {"fashion_mnist_local"}
# Stock TFDS builders download from Google Cloud Storage or the dataset's home: without network
# tfds.load stalls for minutes before failing, so dlpipe checks reachability first. An HTTPS
# request, not a bare TCP connect: some sandboxes accept any TCP connection and answer nothing.
DOWNLOAD_PROBE = "https://storage.googleapis.com/"


class DatasetUnavailableError(RuntimeError):
    """The dataset cannot be loaded here; the message says where dlpipe looked and how to fix it."""


def _network_reachable(timeout_s: float) -> bool:
    try:
        http_status(DOWNLOAD_PROBE, timeout_s)  # any status, even an error, means it answered
    except NoAnswer:
        return False
    return True


def get_builder(config: DatasetConfig):
    """Return the TFDS builder for ``config.name``, prepared in ``config.data_dir`` if needed.

    Raises:
        DatasetUnavailableError: unknown name, missing local files, or no network for a download.
    """
    import tensorflow_datasets as tfds

    import dlpipe.data.builders  # noqa: F401  (registers dlpipe's own builders with TFDS)

    data_dir = Path(config.data_dir).expanduser()
    kwargs: dict[str, Any] = {}
    if config.name in LOCAL_DATASETS:
        kwargs["source_dirs"] = config.source_dirs
    try:
        builder = tfds.builder(config.name, data_dir=str(data_dir), **kwargs)
    except tfds.core.registered.DatasetNotFoundError as err:
        raise DatasetUnavailableError(
            f"dataset.name: '{config.name}' is not a TensorFlow Datasets name. Use "
            "'fashion_mnist_local' (offline) or a stock TFDS name such as 'mnist' or 'cifar10'. "
            f"TFDS said: {str(err).splitlines()[0]}"
        ) from None

    if builder.is_prepared():
        return builder
    if config.name in LOCAL_DATASETS:
        from dlpipe.data.builders.fashion_mnist_local import (
            SourceFilesNotFoundError,
            find_source_dir,
        )

        try:
            source = find_source_dir(config.source_dirs)
        except SourceFilesNotFoundError as err:
            raise DatasetUnavailableError(str(err)) from None
        logger.info("Preparing '%s' from %s into %s (once)", config.name, source, data_dir)
    elif not _network_reachable(config.network_timeout_s):
        raise DatasetUnavailableError(
            f"Dataset '{config.name}' is not prepared in {data_dir} and this machine cannot reach "
            f"the download server ({DOWNLOAD_PROBE}, waited {config.network_timeout_s:g} s). "
            "Run once on a machine that is online (the files are then kept in dataset.data_dir), "
            "copy a prepared TFDS data directory into dataset.data_dir, or use the offline "
            "dataset `dataset.name: fashion_mnist_local`."
        )
    builder.download_and_prepare()
    return builder


def _read_split(builder, split: str) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    try:
        images, labels = tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True, batch_size=-1))
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError, tf.errors.NotFoundError) as err:
        shards = sorted(str(p) for p in Path(builder.data_dir).glob(f"*{split}.*"))
        raise DatasetUnavailableError(
            f"Dataset '{builder.name}', split '{split}': the prepared files are damaged "
            f"({type(err).__name__}: {str(err).splitlines()[0]}). Files: {shards}. "
            f"Delete {builder.data_dir} and run again to rebuild it."
        ) from None
    return images, labels


def load_splits(config: DatasetConfig, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load train/validation/test arrays and the dataset's description.

    The validation split is a seeded random ``validation_fraction`` of TFDS's ``train`` split;
    ``test`` is TFDS's ``test`` split. ``train_limit``/``test_limit`` keep a seeded random subset.
    """
    builder = get_builder(config)
    missing = {"train", "test"} - set(builder.info.splits.keys())
    if missing:
        raise DatasetUnavailableError(
            f"dataset.name: '{config.name}' has splits {sorted(builder.info.splits.keys())}; "
            f"dlpipe needs 'train' and 'test' (missing {sorted(missing)})"
        )
    x_full, y_full = _read_split(builder, "train")
    x_test, y_test = _read_split(builder, "test")

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_full))
    n_val = max(1, round(len(order) * config.validation_fraction))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if config.train_limit is not None:
        train_idx = train_idx[: config.train_limit]
        val_idx = val_idx[: max(1, round(config.train_limit * config.validation_fraction))]
    if config.test_limit is not None:
        test_idx = rng.permutation(len(x_test))[: config.test_limit]
        x_test, y_test = x_test[test_idx], y_test[test_idx]

    splits = {
        "x_train": x_full[train_idx],
        "y_train": y_full[train_idx].astype(np.int64),
        "x_val": x_full[val_idx],
        "y_val": y_full[val_idx].astype(np.int64),
        "x_test": x_test,
        "y_test": y_test.astype(np.int64),
    }
    label_feature = builder.info.features[builder.info.supervised_keys[1]]
    info = {
        "name": config.name,
        "num_classes": int(label_feature.num_classes),
        "class_names": list(label_feature.names),
        "input_shape": list(splits["x_train"].shape[1:]),
        "num_train": len(splits["x_train"]),
        "num_val": len(splits["x_val"]),
        "num_test": len(splits["x_test"]),
    }
    logger.info(
        "Loaded %s: %d train, %d validation, %d test, input %s, %d classes",
        config.name,
        info["num_train"],
        info["num_val"],
        info["num_test"],
        info["input_shape"],
        info["num_classes"],
    )
    return splits, info
