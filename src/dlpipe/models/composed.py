"""A Keras model made of named sub-models, saved and reloaded with them."""

from __future__ import annotations

from typing import ClassVar

import keras


class ComposedModel(keras.Model):
    """Base of a model whose parts are Keras models held as attributes named in ``submodels``
    (an encoder and a decoder, a generator and a discriminator). Its config holds each part
    serialized under its name beside the subclass's own values, and ``from_config`` rebuilds the
    parts before calling ``__init__`` with them."""

    submodels: ClassVar[tuple[str, ...]] = ()

    def get_config(self):
        parts = {name: keras.saving.serialize_keras_object(getattr(self, name)) for name in self.submodels}
        return {**super().get_config(), **parts}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls.submodels:
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)
