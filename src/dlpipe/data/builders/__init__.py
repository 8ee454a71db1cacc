"""TFDS builders of dlpipe's own, for real datasets that install offline."""

from dlpipe.data.builders.fashion_mnist_local import FashionMnistLocal

__all__ = ["FashionMnistLocal"]
