"""Fashion-MNIST as a TFDS dataset built from local IDX files (no download).

The Debian package ``dataset-fashion-mnist`` installs the four IDX files of Fashion-MNIST in
``/usr/share/datasets/fashion-mnist``. This builder reads them from the first source directory that
holds all four and prepares a regular TFDS dataset (``train``: 60,000, ``test``: 10,000 images of
28x28x1 uint8, 10 classes) in the configured ``data_dir``, so it loads with ``tfds.load`` like any
stock dataset.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

# Re-exported here: other modules import SourceFilesNotFoundError from this module.
from dlpipe.data.builders.sources import SourceFilesNotFoundError

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
SOURCE_DIR_ENV = "DLPIPE_FASHION_MNIST_DIR"
DEFAULT_SOURCE_DIRS = ("data/01_raw/fashion-mnist", "/usr/share/datasets/fashion-mnist")


def find_source_dir(source_dirs: Sequence[str] | None = None) -> Path:
    """Return the first directory holding all four IDX files.

    ``$DLPIPE_FASHION_MNIST_DIR`` is searched first, then ``source_dirs`` in order.
    """
    candidates = [os.environ[SOURCE_DIR_ENV]] if os.environ.get(SOURCE_DIR_ENV) else []
    candidates += list(source_dirs or DEFAULT_SOURCE_DIRS)
    needed = [name for pair in IDX_FILES.values() for name in pair]
    for candidate in candidates:
        directory = Path(candidate).expanduser()
        if all((directory / name).is_file() for name in needed):
            return directory
    raise SourceFilesNotFoundError(
        "Dataset 'fashion_mnist_local': the Fashion-MNIST IDX files "
        f"({', '.join(needed)}) were not found. Looked in: {', '.join(map(str, candidates))}. "
        "Fix it one of these ways: install them with `sudo apt-get install -y dataset-fashion-mnist` "
        f"(Debian/Ubuntu); put the four files in one of those directories, or set {SOURCE_DIR_ENV} "
        "or `dataset.source_dirs` to where they are; or use a stock TFDS name such as "
        "`dataset.name: fashion_mnist` on a machine that is online."
    )


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file into an array with the shape its header declares."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    header_end = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header_end != expected:
        raise ValueError(
            f"{path}: truncated or corrupt IDX file: header declares shape {shape} "
            f"({expected} bytes) but {len(data) - header_end} bytes follow"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_end).reshape(shape)


class FashionMnistLocal(tfds.core.GeneratorBasedBuilder):
    """Fashion-MNIST read from local IDX files (see module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Built from the IDX files of Debian's dataset-fashion-mnist."}

    def __init__(self, *, source_dirs: Sequence[str] | None = None, **kwargs):
        self._source_dirs = list(source_dirs) if source_dirs else None
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description="Fashion-MNIST (Zalando Research, MIT licence), from local IDX files.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(names=CLASS_NAMES),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://github.com/zalandoresearch/fashion-mnist",
        )

    def _split_generators(self, dl_manager):
        source = find_source_dir(self._source_dirs)
        return {
            split: self._generate_examples(source / images, source / labels)
            for split, (images, labels) in IDX_FILES.items()
        }

    def _generate_examples(self, images_path: Path, labels_path: Path) -> Iterator:
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if len(images) != len(labels):
            raise ValueError(
                f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels"
            )
        for index, (image, label) in enumerate(zip(images, labels, strict=True)):
            yield index, {"image": image[..., None], "label": int(label)}
