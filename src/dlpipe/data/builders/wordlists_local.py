"""Words of five languages as a TFDS classification dataset, read from Debian's word lists.

Debian's ``wamerican``, ``wfrench``, ``wngerman``, ``wspanish`` and ``witalian`` packages install
spell-checking word lists as UTF-8 text, one word per line, in ``/usr/share/dict/`` (``make
dataset`` installs them). Which language is a word written in? Each example is
``{"word": "schiffes", "language": "german"}``:

- words lowercased (German nouns would otherwise give themselves away by their capital) and made
  of letters only (English possessives and Italian elisions such as ``l'ubertà`` are left out);
- a word found in more than one list is left out: its language is ambiguous;
- ``WORDS_PER_LANGUAGE`` words drawn per language with a fixed seed, so the classes are balanced;
- split by word: a fixed 10 % of each language's words is the ``test`` split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from dlpipe.data.builders.sources import SourceFilesNotFoundError

WORD_LISTS = {  # language: (Debian package, file in /usr/share/dict)
    "english": ("wamerican", "american-english"),
    "french": ("wfrench", "french"),
    "german": ("wngerman", "ngerman"),
    "italian": ("witalian", "italian"),
    "spanish": ("wspanish", "spanish"),
}
DICT_DIR = "/usr/share/dict"
WORDS_PER_LANGUAGE = 20_000
TEST_FRACTION = 0.1
SAMPLE_SEED = 1929  # fixed: the words and the split never change between runs or machines


def read_word_list(text: str) -> set[str]:
    """The lowercased words of letters only in a word list's text."""
    return {word for word in (line.strip().lower() for line in text.splitlines()) if word.isalpha()}


def unambiguous_sample(words: dict[str, set[str]], per_language: int, seed: int) -> dict[str, list[str]]:
    """``per_language`` words of each language found in no other list, drawn with ``seed`` from
    the sorted words (so the draw does not depend on set order).

    Raises:
        ValueError: a language has fewer such words than ``per_language``.
    """
    counts = Counter(word for language_words in words.values() for word in language_words)
    rng = np.random.default_rng(seed)
    sample = {}
    for language in sorted(words):
        own = sorted(word for word in words[language] if counts[word] == 1)
        if len(own) < per_language:
            raise ValueError(f"{language}: {len(own)} words of its own, fewer than {per_language}")
        sample[language] = [own[index] for index in rng.choice(len(own), per_language, replace=False)]
    return sample


class WordlistsLocal(tfds.core.GeneratorBasedBuilder):
    """The language of a word, from Debian's word lists (see module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": f"{WORDS_PER_LANGUAGE} unambiguous words per language."}

    def __init__(self, *, source_dirs: Sequence[str] | None = None, **kwargs):
        # Debian's own directory is searched last, whatever else is named.
        self._source_dirs = [*(source_dirs or []), DICT_DIR]
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=(
                "Which of five languages a word is written in: lowercased words of letters only "
                "from Debian's word lists (wamerican, wfrench, wngerman, witalian, wspanish), "
                f"words in several lists left out, {WORDS_PER_LANGUAGE} per language, split by word."
            ),
            features=tfds.features.FeaturesDict(
                {"word": tfds.features.Text(), "language": tfds.features.ClassLabel(names=sorted(WORD_LISTS))}
            ),
            supervised_keys=("word", "language"),
            homepage="https://packages.debian.org/source/sid/scowl",
        )

    def _split_generators(self, dl_manager):
        words = {
            language: read_word_list(self._find(name).read_text("utf-8"))
            for language, (_, name) in WORD_LISTS.items()
        }
        sample = unambiguous_sample(words, WORDS_PER_LANGUAGE, SAMPLE_SEED)
        cut = round(WORDS_PER_LANGUAGE * TEST_FRACTION)
        return {
            "test": self._generate_examples({language: chosen[:cut] for language, chosen in sample.items()}),
            "train": self._generate_examples({language: chosen[cut:] for language, chosen in sample.items()}),
        }

    def _find(self, name: str) -> Path:
        for directory in self._source_dirs:
            path = Path(directory).expanduser() / name
            if path.is_file():
                return path
        packages = " ".join(package for package, _ in WORD_LISTS.values())
        raise SourceFilesNotFoundError(
            f"Word list '{name}' was not found in {self._source_dirs}. Run `make dataset` in the "
            f"project root (it installs the Debian packages {packages}), or pass `source_dirs` "
            "(`dataset.source_dirs`) naming the directory that holds the word lists."
        )

    def _generate_examples(self, chosen: dict[str, list[str]]) -> Iterator:
        for language, words in chosen.items():
            for word in words:
                yield f"{language}/{word}", {"word": word, "language": language}
