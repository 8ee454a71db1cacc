"""TFDS builders of dlpipe's own, for real datasets that install offline.

Importing this package registers every builder with TFDS, so ``tfds.builder(name, data_dir=...,
source_dirs=[...])`` finds it. Each builder accepts ``source_dirs`` (ignored where nothing is read)
and raises ``SourceFilesNotFoundError`` (``dlpipe.data.builders.sources``) naming what it looked for,
where, and how to get it (``make dataset``).
"""

from dlpipe.data.builders.cmudict_local import CmudictLocal
from dlpipe.data.builders.fashion_mnist_local import FashionMnistLocal
from dlpipe.data.builders.iris_local import IrisLocal
from dlpipe.data.builders.mnist_subset_local import MnistSubsetLocal
from dlpipe.data.builders.sources import SourceFilesNotFoundError
from dlpipe.data.builders.sunspots_local import SunspotsLocal
from dlpipe.data.builders.uea_local import UeaLocal
from dlpipe.data.builders.wordlists_local import WordlistsLocal
from dlpipe.data.builders.xor_points import XorPoints

__all__ = [
    "CmudictLocal",
    "FashionMnistLocal",
    "IrisLocal",
    "MnistSubsetLocal",
    "SourceFilesNotFoundError",
    "SunspotsLocal",
    "UeaLocal",
    "WordlistsLocal",
    "XorPoints",
]
