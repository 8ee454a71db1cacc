"""From what a builder holds to train/validation/test arrays and their :class:`DataSpec`."""

from __future__ import annotations

from collections import Counter

import numpy as np

from dlpipe.config.data import DatasetConfig
from dlpipe.data.spec import DataSpec

MODALITY_BY_RANK = {1: "tabular", 2: "sequence", 3: "image"}


def _pad_time(inputs: np.ndarray, length: int) -> np.ndarray:
    if inputs.shape[1] == length:
        return inputs
    padded = np.zeros((len(inputs), length, *inputs.shape[2:]), dtype=inputs.dtype)
    padded[:, : inputs.shape[1]] = inputs
    return padded


def split_selection(sizes: dict[str, int], config: DatasetConfig, seed: int) -> dict[str, np.ndarray | None]:
    """Which examples of the builder's splits (``sizes``: examples per split) make dlpipe's splits.

    Returns indices into the builder's ``train`` split for ``train`` and (when the builder has no
    validation split of its own) ``val``, and into its ``test`` split for ``test``; None means the
    whole split, in order. The validation split is the builder's own when it has one, else a seeded
    random ``validation_fraction`` of its ``train`` split; ``train_limit``/``test_limit`` keep a
    seeded random subset. Known before any example is read, so a limited run decodes only these.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(sizes["train"])
    val_idx = None
    if "validation" in sizes:
        train_idx = order
        if config.train_limit is not None:
            train_idx = train_idx[: config.train_limit]
    else:
        n_val = max(1, round(len(order) * config.validation_fraction))
        val_idx, train_idx = order[:n_val], order[n_val:]
        if config.train_limit is not None:
            train_idx = train_idx[: config.train_limit]
            val_idx = val_idx[: max(1, round(config.train_limit * config.validation_fraction))]
    test_idx = None
    if config.test_limit is not None:
        test_idx = rng.permutation(sizes["test"])[: config.test_limit]
    return {"train": train_idx, "val": val_idx, "test": test_idx}


def needed_examples(
    selection: dict[str, np.ndarray | None], sizes: dict[str, int]
) -> dict[str, np.ndarray | None]:
    """The sorted indices each builder split must be read for ``selection``; None: all of it."""
    from_train = np.unique(
        np.concatenate([i for i in (selection["train"], selection["val"]) if i is not None])
    )
    from_test = selection["test"]
    needed = {
        "train": from_train if len(from_train) < sizes["train"] else None,
        "test": np.sort(from_test) if from_test is not None and len(from_test) < sizes["test"] else None,
    }
    if "validation" in sizes:
        needed["validation"] = None
    return needed


def supervised_splits(
    read: dict[str, tuple], selection: dict[str, np.ndarray | None], needed: dict[str, np.ndarray | None]
) -> dict[str, np.ndarray]:
    """Train/validation/test arrays from what was read of the builder's splits.

    ``read[split]`` is ``(inputs, targets, lengths)`` of the sorted builder indices ``needed[split]``
    (None: the whole split), among which ``selection``'s indices are found.
    """

    def pick(split: str, indices: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        inputs, targets, _ = read[split]
        kept = needed[split]
        if indices is None:
            return inputs, targets
        rows = indices if kept is None else np.searchsorted(kept, indices)
        return inputs[rows], targets[rows]

    x_train, y_train = pick("train", selection["train"])
    if selection["val"] is None:
        x_val, y_val = pick("validation", None)
    else:
        x_val, y_val = pick("train", selection["val"])
    x_test, y_test = pick("test", selection["test"])
    arrays = {
        "x_train": x_train,
        "y_train": y_train,
        "x_val": x_val,
        "y_val": y_val,
        "x_test": x_test,
        "y_test": y_test,
    }
    if any(lengths is not None for _, _, lengths in read.values()):
        # Every split padded to the same length, so one array shape serves all of them.
        longest = max(arrays[key].shape[1] for key in ("x_train", "x_val", "x_test"))
        for key in ("x_train", "x_val", "x_test"):
            arrays[key] = _pad_time(arrays[key], longest)
    return arrays


def append_noise_steps(
    arrays: dict[str, np.ndarray], steps: int, scale: float, seed: int
) -> dict[str, np.ndarray]:
    """Every sequence followed by ``steps`` frames of seeded Gaussian noise around each channel's
    mean over the training frames (padding left out), with ``scale`` times its spread. The
    padding stays between the sequence and the noise, where the model's mask skips it."""
    frames = arrays["x_train"].reshape(-1, arrays["x_train"].shape[-1])
    frames = frames[np.any(frames != 0, axis=1)]
    mean, spread = frames.mean(axis=0), scale * frames.std(axis=0) + 1e-6
    rng = np.random.default_rng(seed)
    result = dict(arrays)
    for key in ("x_train", "x_val", "x_test"):
        inputs = arrays[key]
        noise = rng.normal(mean, spread, size=(len(inputs), steps, inputs.shape[-1])).astype(inputs.dtype)
        result[key] = np.concatenate([inputs, noise], axis=1)
    return result


def series_windows(values: np.ndarray, config: DatasetConfig) -> dict[str, np.ndarray]:
    """Cut a ``(time, channels)`` series into ``(window, target)`` examples, split in time order.

    Example ``t`` sees ``values[t - horizon - length + 1 : t - horizon + 1]`` and predicts channel 0
    at ``t``. Targets ``t`` in the last ``test_fraction`` of the series are the test split, the
    ``validation_fraction`` before them the validation split, all earlier ones the training split:
    no target of a later split is ever an input or target of an earlier one.
    """
    windows = config.windows
    total = len(values)
    test_start = total - max(1, round(total * windows.test_fraction))
    val_start = test_start - max(1, round(test_start * config.validation_fraction))
    first_target = windows.length + windows.horizon - 1
    if val_start <= first_target:
        raise ValueError(
            f"dataset.windows.length: windows of {windows.length} steps (horizon {windows.horizon}) "
            f"leave no training example in a series of {total} steps; use shorter windows"
        )
    arrays = {}
    for split, start, stop in (
        ("train", first_target, val_start),
        ("val", val_start, test_start),
        ("test", test_start, total),
    ):
        arrays[f"x_{split}"], arrays[f"y_{split}"] = _windows_with_targets(values, windows, start, stop)
    if config.train_limit is not None:
        arrays["x_train"], arrays["y_train"] = (
            arrays["x_train"][-config.train_limit :],
            arrays["y_train"][-config.train_limit :],
        )
    if config.test_limit is not None:
        arrays["x_test"], arrays["y_test"] = (
            arrays["x_test"][: config.test_limit],
            arrays["y_test"][: config.test_limit],
        )
    return arrays


def _windows_with_targets(values: np.ndarray, windows, first_target: int, end_target: int):
    """The examples whose target index lies in ``[first_target, end_target)``."""
    import keras

    lag = windows.length + windows.horizon - 1
    start = first_target - lag
    data = values[start : end_target - windows.horizon]
    targets = values[first_target:end_target, :1]
    dataset = keras.utils.timeseries_dataset_from_array(
        data, targets, sequence_length=windows.length, batch_size=None, shuffle=False
    )
    inputs, outputs = zip(*((x.numpy(), y.numpy()) for x, y in dataset), strict=True)
    return np.stack(inputs).astype(np.float32), np.stack(outputs).astype(np.float32)


def _channel_statistics(inputs: np.ndarray, padded: bool) -> tuple[list[float], list[float]]:
    values = inputs.reshape(-1, inputs.shape[-1]).astype(np.float64)
    if padded:
        values = values[np.any(values != 0, axis=-1)]  # padding steps are all-zero rows
    return values.mean(axis=0).tolist(), values.var(axis=0).tolist()


def _by_frequency(counts: Counter) -> list[str]:
    return [item for item, _ in sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))]


def _text_vocabularies(inputs: np.ndarray, targets: np.ndarray | None) -> dict:
    """The characters of the training strings, lower-cased as the models read them, and the
    whitespace-separated tokens of their targets, most frequent first, and the longest of each."""
    words = [value.decode("utf-8").lower() for value in inputs]
    description = {
        "input_characters": _by_frequency(Counter(character for word in words for character in word)),
        "max_input_length": max(len(word) for word in words),
    }
    if targets is not None:
        sequences = [value.decode("utf-8").split() for value in targets]
        description["target_tokens"] = _by_frequency(
            Counter(token for tokens in sequences for token in tokens)
        )
        description["max_target_length"] = max(len(tokens) for tokens in sequences)
    return description


def describe(
    config: DatasetConfig, arrays: dict[str, np.ndarray], *, builder, padded: bool, horizon: int | None
) -> DataSpec:
    """The :class:`DataSpec` of the loaded arrays; class labels become int64, values float32."""
    x_train = arrays["x_train"]
    text = x_train.dtype == object  # TFDS gives strings as bytes objects
    modality = "text" if text and x_train.ndim == 1 else MODALITY_BY_RANK.get(x_train.ndim - 1)
    if modality is None:
        raise ValueError(
            f"dataset.name: '{config.name}' has inputs of shape {list(x_train.shape[1:])}; "
            "dlpipe reads images (h, w, c), sequences (time, channels) and tabular (features)"
        )
    class_names: list[str] = []
    if builder is not None:
        import tensorflow_datasets as tfds

        target_feature = builder.info.features[builder.info.supervised_keys[1]]
        if isinstance(target_feature, tfds.features.ClassLabel):
            class_names = list(target_feature.names)
    text_targets = arrays["y_train"].dtype == object
    for key in ("y_train", "y_val", "y_test") if not text_targets else ():
        arrays[key] = arrays[key].astype(np.int64) if class_names else arrays[key].astype(np.float32)
        if not class_names and arrays[key].ndim == 1:
            arrays[key] = arrays[key][:, None]
    spec = {
        "name": str(config.name),
        "modality": modality,
        "input_shape": [None, x_train.shape[-1]] if padded else list(x_train.shape[1:]),
        "input_dtype": str(x_train.dtype),
        "target": "class" if class_names else "text" if text_targets else "value",
        "class_names": class_names,
        "num_train": len(x_train),
        "num_val": len(arrays["x_val"]),
        "num_test": len(arrays["x_test"]),
        "padded": padded,
        "forecast_horizon": horizon,
    }
    if modality == "text":
        spec.update(_text_vocabularies(x_train, arrays["y_train"] if text_targets else None))
    elif modality != "image":
        spec["input_mean"], spec["input_variance"] = _channel_statistics(x_train, padded)
    if not class_names and not text_targets:
        targets = arrays["y_train"].astype(np.float64)
        spec["target_mean"], spec["target_variance"] = (
            targets.mean(axis=0).tolist(),
            targets.var(axis=0).tolist(),
        )
    return DataSpec.model_validate(spec)
