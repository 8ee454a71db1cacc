"""Fisher's iris flowers as a TFDS dataset, from scikit-learn's bundled copy (no download).

``sklearn.datasets.load_iris`` ships the 150 flowers (4 measurements in cm: sepal length, sepal
width, petal length, petal width; 50 of each species) inside scikit-learn, a dependency of dlpipe.
The ``train``/``test`` split is fixed: ``train_test_split(test_size=1/3, stratify=species,
random_state=0)`` gives 100 train / 50 test flowers, stratified by species in both configs.

Configs (``tfds.builder("iris_local/<config>")``):

- ``all``: 3 classes, ``setosa``, ``versicolor``, ``virginica``.
- ``setosa_vs_rest``: 2 classes, ``other`` (0) and ``setosa`` (1), the linearly separable task of
  the classic perceptron examples; same flowers and split as ``all``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

SPECIES = ("setosa", "versicolor", "virginica")
TEST_SIZE = 1 / 3
SPLIT_SEED = 0


@dataclasses.dataclass(eq=False)
class IrisConfig(tfds.core.BuilderConfig):
    """Which labels the flowers get."""

    class_names: tuple[str, ...] = SPECIES


class IrisLocal(tfds.core.GeneratorBasedBuilder):
    """Iris from scikit-learn's bundled copy (see module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "From sklearn.datasets.load_iris, fixed stratified 100/50 split."}
    BUILDER_CONFIGS = [
        IrisConfig(name="all", description="The three species.", class_names=SPECIES),
        IrisConfig(
            name="setosa_vs_rest",
            description="Binary: setosa (1) against versicolor and virginica (0).",
            class_names=("other", "setosa"),
        ),
    ]

    def __init__(self, *, source_dirs: Sequence[str] | None = None, **kwargs):
        # Accepted for a uniform interface with dlpipe's other builders; the data ships in sklearn.
        del source_dirs
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=(
                "Fisher's (1936) iris data, 150 flowers of 3 species (50 each), 4 measurements in "
                "cm (sepal length, sepal width, petal length, petal width). From the UCI Machine "
                "Learning Repository (CC BY 4.0) as bundled in scikit-learn (load_iris). Fixed "
                "split: sklearn train_test_split(test_size=1/3, stratify=species, random_state=0), "
                "100 train / 50 test, the same flowers in every config."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "input": tfds.features.Tensor(shape=(4,), dtype=np.float32),
                    "target": tfds.features.ClassLabel(names=list(self.builder_config.class_names)),
                }
            ),
            supervised_keys=("input", "target"),
            homepage="https://archive.ics.uci.edu/dataset/53/iris",
            citation=(
                "@article{fisher1936iris, title={The use of multiple measurements in taxonomic "
                "problems}, author={Fisher, Ronald A.}, journal={Annals of Eugenics}, volume={7}, "
                "number={2}, pages={179--188}, year={1936}}"
            ),
        )

    def _split_generators(self, dl_manager):
        from sklearn.datasets import load_iris
        from sklearn.model_selection import train_test_split

        iris = load_iris()
        if tuple(iris.target_names) != SPECIES:
            raise ValueError(f"load_iris() species are {list(iris.target_names)}, expected {list(SPECIES)}")
        rows = np.arange(len(iris.target))
        train_rows, test_rows = train_test_split(
            rows, test_size=TEST_SIZE, stratify=iris.target, random_state=SPLIT_SEED
        )
        return {
            "train": self._generate_examples(iris.data, iris.target, np.sort(train_rows)),
            "test": self._generate_examples(iris.data, iris.target, np.sort(test_rows)),
        }

    def _generate_examples(self, features: np.ndarray, species: np.ndarray, rows: np.ndarray) -> Iterator:
        binary = self.builder_config.name == "setosa_vs_rest"
        for row in rows:
            name = SPECIES[species[row]]
            if binary:
                name = "setosa" if name == "setosa" else "other"
            # Keyed by the flower's row in load_iris(), so every example can be traced back.
            yield int(row), {"input": features[row].astype(np.float32), "target": name}
