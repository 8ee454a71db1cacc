"""Load a dataset through tensorflow-datasets into seeded train/validation/test splits."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from dlpipe.config.data import DatasetConfig
from dlpipe.data.selection_reading import kept_examples
from dlpipe.data.spec import DataSpec
from dlpipe.http_probe import NoAnswer, http_status

logger = logging.getLogger(__name__)

# Stock TFDS builders download from Google Cloud Storage or the dataset's home: without network
# tfds.load stalls for minutes before failing, so dlpipe checks reachability first. An HTTPS
# request, not a bare TCP connect: some sandboxes accept any TCP connection and answer nothing.
DOWNLOAD_PROBE = "https://storage.googleapis.com/"
OWN_BUILDERS = "dlpipe.data.builders"


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

    dlpipe's own builders (``dlpipe.data.builders``) prepare offline from local source files
    found in ``config.source_dirs``; stock builders download, when the network answers.

    Raises:
        DatasetUnavailableError: unknown name, missing local files, or no network for a download.
    """
    import tensorflow_datasets as tfds

    import dlpipe.data.builders  # noqa: F401  (registers dlpipe's own builders with TFDS)
    from dlpipe.data.builders.sources import SourceFilesNotFoundError

    if not config.name:
        raise DatasetUnavailableError("dataset.name: no dataset named and the family has no default")
    data_dir = Path(config.data_dir).expanduser()
    try:
        builder_class = tfds.builder_cls(config.name.split("/")[0].split(":")[0])
    except tfds.core.registered.DatasetNotFoundError as err:
        raise DatasetUnavailableError(
            f"dataset.name: '{config.name}' is not a TensorFlow Datasets name. Use one of dlpipe's "
            "offline datasets (see docs/families.md) or a stock TFDS name such as 'mnist' or "
            f"'cifar10' on a machine that is online. TFDS said: {str(err).splitlines()[0]}"
        ) from None
    own = builder_class.__module__.startswith(OWN_BUILDERS)
    kwargs: dict[str, Any] = {"source_dirs": config.source_dirs} if own else {}
    try:
        builder = tfds.builder(config.name, data_dir=str(data_dir), **kwargs)
    except (tfds.core.registered.DatasetNotFoundError, ValueError) as err:
        raise DatasetUnavailableError(
            f"dataset.name: '{config.name}' cannot be built: {str(err).splitlines()[0]}"
        ) from None

    if builder.is_prepared():
        return builder
    if own:
        logger.info("Preparing '%s' from local files into %s (once)", config.name, data_dir)
    elif not _network_reachable(config.network_timeout_s):
        raise DatasetUnavailableError(
            f"Dataset '{config.name}' is not prepared in {data_dir} and this machine cannot reach "
            f"the download server ({DOWNLOAD_PROBE}, waited {config.network_timeout_s:g} s). "
            "Run once on a machine that is online (the files are then kept in dataset.data_dir), "
            "copy a prepared TFDS data directory into dataset.data_dir, or use one of dlpipe's "
            "offline datasets such as `dataset.name: fashion_mnist_local`."
        )
    try:
        builder.download_and_prepare()
    except SourceFilesNotFoundError as err:
        raise DatasetUnavailableError(str(err)) from None
    return builder


def declared_input_shape(config: DatasetConfig) -> tuple | None:
    """The input shape the dataset's TFDS builder declares (``(28, 28, 1)``), read without
    preparing or loading anything; None when the name is not a TFDS name or has no inputs."""
    import tensorflow_datasets as tfds

    import dlpipe.data.builders  # noqa: F401  (registers dlpipe's own builders with TFDS)

    try:
        info = tfds.builder(config.name, data_dir=str(Path(config.data_dir).expanduser())).info
        return tuple(info.features[info.supervised_keys[0]].shape)
    except Exception:  # unknown or unreadable names are reported by the data stage itself
        return None


def _damaged(builder, split: str, err: Exception) -> DatasetUnavailableError:
    shards = sorted(str(p) for p in Path(builder.data_dir).glob(f"*{split}.*"))
    return DatasetUnavailableError(
        f"Dataset '{builder.name}', split '{split}': the prepared files are damaged "
        f"({type(err).__name__}: {str(err).splitlines()[0]}). Files: {shards}. "
        f"Delete {builder.data_dir} and run again to rebuild it."
    )


def _split_dataset(builder, split: str, kept: np.ndarray | None, **as_dataset_args):
    """The split as TFDS reads it, or only its examples ``kept`` (sorted indices; see
    :func:`dlpipe.data.selection_reading.kept_examples`) as ``(input, target)`` pairs."""
    if kept is None:
        return builder.as_dataset(split=split, **as_dataset_args)
    dataset = kept_examples(builder, split, kept)
    # As TFDS does for batch_size=-1: the whole selection as tensors.
    return (
        dataset.batch(len(kept)).get_single_element() if as_dataset_args.get("batch_size") == -1 else dataset
    )


def _read_examples(builder, split: str, kept: np.ndarray | None = None, **as_dataset_args) -> list:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    try:
        return list(tfds.as_numpy(_split_dataset(builder, split, kept, **as_dataset_args)))
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError, tf.errors.NotFoundError) as err:
        raise _damaged(builder, split, err) from None


def _check_count(builder, split: str, read: int, kept: np.ndarray | None) -> None:
    # The selection maps rows by the split's recorded size: files that hold another number of
    # examples would shift every row silently.
    expected = builder.info.splits[split].num_examples if kept is None else len(kept)
    if read != expected:
        raise DatasetUnavailableError(
            f"Dataset '{builder.name}', split '{split}': read {read} examples where its description "
            f"promises {expected}. Delete {builder.data_dir} and run again to rebuild it."
        )


def read_supervised_split(
    builder, split: str, kept: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(inputs, targets, lengths)`` of a split, or of its examples ``kept`` (sorted indices;
    None: all). Inputs of varying length are right-padded with zeros to the longest of those read
    (so a limited run pads to its own longest example), and ``lengths`` holds each example's true
    length (None when fixed)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    input_key = builder.info.supervised_keys[0]
    shape = builder.info.features[input_key].shape
    if None not in shape:
        try:
            inputs, targets = tfds.as_numpy(
                _split_dataset(builder, split, kept, as_supervised=True, batch_size=-1)
            )
        except (tf.errors.DataLossError, tf.errors.OutOfRangeError, tf.errors.NotFoundError) as err:
            raise _damaged(builder, split, err) from None
        _check_count(builder, split, len(inputs), kept)
        return inputs, targets, None
    examples = _read_examples(builder, split, kept, as_supervised=True)
    _check_count(builder, split, len(examples), kept)
    lengths = np.array([len(x) for x, _ in examples])
    first = examples[0][0]
    inputs = np.zeros((len(examples), lengths.max(), *first.shape[1:]), dtype=first.dtype)
    for index, (x, _) in enumerate(examples):
        inputs[index, : len(x)] = x
    return inputs, np.array([y for _, y in examples]), lengths


def read_series(builder) -> np.ndarray:
    """The whole series of a time-series dataset (split ``train``, kept in time order), as
    ``(time, channels)`` float32 values."""
    if not builder.info.disable_shuffling:
        raise DatasetUnavailableError(
            f"dataset.windows: '{builder.name}' does not keep its examples in order (its builder "
            "shuffles), so it cannot be cut into time windows"
        )
    examples = _read_examples(builder, "train")
    times = np.array([example["time"] for example in examples])
    if np.any(np.diff(times) <= 0):
        raise DatasetUnavailableError(f"dataset '{builder.name}': its times are not increasing")
    return np.stack([example["values"] for example in examples]).astype(np.float32)


def load_splits(config: DatasetConfig, seed: int) -> tuple[dict[str, np.ndarray], DataSpec]:
    """Load train/validation/test arrays and the dataset's description.

    A supervised dataset: the validation split is the builder's own when it has one, else a
    seeded random ``validation_fraction`` of its ``train`` split; ``train_limit``/``test_limit``
    keep a seeded random subset. A time series (``dataset.windows`` set): windows split in time
    order (see :func:`dlpipe.data.splits.series_windows`).
    """
    from dlpipe.data import splits as splitting

    builder = get_builder(config)
    if config.windows is not None:
        if builder.info.supervised_keys is not None:
            raise DatasetUnavailableError(
                f"dataset.windows: '{config.name}' is a supervised dataset (inputs and targets), not "
                "a time series; remove dataset.windows or name a series dataset"
            )
        arrays = splitting.series_windows(read_series(builder), config)
        spec = splitting.describe(config, arrays, builder=None, padded=False, horizon=config.windows.horizon)
    else:
        if builder.info.supervised_keys is None:
            raise DatasetUnavailableError(
                f"dataset.name: '{config.name}' has no inputs and targets (no supervised keys); a "
                "time series needs `dataset.windows` to be cut into examples"
            )
        names = set(builder.info.splits.keys())
        missing = {"train", "test"} - names
        if missing:
            raise DatasetUnavailableError(
                f"dataset.name: '{config.name}' has splits {sorted(names)}; dlpipe needs 'train' "
                f"and 'test' (missing {sorted(missing)})"
            )
        sizes = {
            split: builder.info.splits[split].num_examples
            for split in ("train", "test", "validation")
            if split in names
        }
        selection = splitting.split_selection(sizes, config, seed)
        needed = splitting.needed_examples(selection, sizes)
        read = {split: read_supervised_split(builder, split, needed[split]) for split in sizes}
        arrays = splitting.supervised_splits(read, selection, needed)
        padded = any(lengths is not None for _, _, lengths in read.values())
        if config.noise_steps:
            if arrays["x_train"].ndim != 3:
                raise DatasetUnavailableError(
                    f"dataset.noise_steps: {config.noise_steps} noise frames are appended to "
                    f"sequences (time, channels); '{config.name}' has inputs of shape "
                    f"{arrays['x_train'].shape[1:]}"
                )
            arrays = splitting.append_noise_steps(arrays, config.noise_steps, config.noise_scale, seed)
        spec = splitting.describe(config, arrays, builder=builder, padded=padded, horizon=None)
    logger.info(
        "Loaded %s: %d train, %d validation, %d test, input %s, %s",
        config.name,
        spec.num_train,
        spec.num_val,
        spec.num_test,
        spec.input_shape,
        f"{spec.num_classes} classes" if spec.target == "class" else f"{spec.num_targets} target value(s)",
    )
    return arrays, spec
