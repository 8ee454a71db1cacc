"""The trained model's dataset (dlpipe.io.KerasModelDataset): what a load returns."""

import keras
import numpy as np

from dlpipe.io import KerasModelDataset


def _model(units: int) -> keras.Model:
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(units)(inputs))


def test_loads_of_an_unchanged_file_read_it_once_and_a_rewritten_file_is_read_again(tmp_path):
    dataset = KerasModelDataset(filepath=str(tmp_path / "model.keras"))
    dataset.save(_model(3))

    first = dataset.load()
    assert dataset.load() is first  # the same file: not read again
    assert first.count_params() == 4 * 3 + 3

    dataset.save(_model(5))
    again = dataset.load()
    assert again is not first
    assert again.count_params() == 4 * 5 + 5
    assert again.predict(np.ones((1, 4)), verbose=0).shape == (1, 5)
