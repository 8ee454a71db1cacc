"""dlpipe's offline TFDS builders, built from the real source files into a scratch data_dir.

The wheels come from `make dataset` (data/01_raw/wheels); each builder is prepared once per module.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import tensorflow_datasets as tfds

import dlpipe.data.builders  # noqa: F401  (registers the builders)
from dlpipe.data.builders.sources import WHEELS_DIR_ENV, SourceFilesNotFoundError, find_source_file
from dlpipe.data.builders.uea_local import TsFormatError, parse_ts
from tests.conftest import PROJECT_ROOT

WHEELS = PROJECT_ROOT / "data" / "01_raw" / "wheels"


@pytest.fixture(scope="session", autouse=True)
def prepared_dataset():
    """Override conftest's autouse Fashion-MNIST preparation: these tests build into tmp dirs only."""
    return None


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """Prepare a builder once per module (keyed by name) and return it."""
    data_dir = tmp_path_factory.mktemp("tfds")
    built = {}

    def _build(name: str):
        if name not in built:
            builder = tfds.builder(name, data_dir=str(data_dir), source_dirs=[str(WHEELS)])
            builder.download_and_prepare()
            built[name] = builder
        return built[name]

    return _build


def examples(builder, split: str) -> list[dict]:
    return list(tfds.as_numpy(builder.as_dataset(split=split)))


def class_counts(builder, split: str) -> Counter:
    names = builder.info.features["target"].names
    return Counter(names[int(example["target"])] for example in examples(builder, split))


def test_japanese_vowels(build):
    builder = build("uea_local/japanese_vowels")
    features = builder.info.features
    assert features["input"].shape == (None, 12) and features["input"].dtype == np.float32
    assert features["target"].names == [str(speaker) for speaker in range(1, 10)]
    assert builder.info.supervised_keys == ("input", "target")
    assert {split: info.num_examples for split, info in builder.info.splits.items()} == {
        "train": 270,
        "test": 370,
    }
    lengths = []
    for split in ("train", "test"):
        for example in examples(builder, split):
            assert example["input"].shape[1] == 12 and example["input"].dtype == np.float32
            assert np.isfinite(example["input"]).all()
            lengths.append(example["input"].shape[0])
    assert min(lengths) == 7 and max(lengths) == 29
    assert class_counts(builder, "train") == {str(speaker): 30 for speaker in range(1, 10)}
    assert class_counts(builder, "test") == {
        "1": 31, "2": 35, "3": 88, "4": 44, "5": 29, "6": 24, "7": 40, "8": 50, "9": 29
    }  # fmt: skip


def test_basic_motions(build):
    builder = build("uea_local/basic_motions")
    assert builder.info.features["input"].shape == (None, 6)
    names = ["Standing", "Running", "Walking", "Badminton"]
    assert builder.info.features["target"].names == names
    for split in ("train", "test"):
        assert builder.info.splits[split].num_examples == 40
        assert {example["input"].shape for example in examples(builder, split)} == {(100, 6)}
        assert class_counts(builder, split) == dict.fromkeys(names, 10)


def test_sunspots_is_one_chronological_series(build):
    builder = build("sunspots_local")
    assert builder.info.supervised_keys is None
    assert builder.info.disable_shuffling
    assert list(builder.info.splits.keys()) == ["train"]
    assert builder.info.features["values"].shape == (1,)
    series = examples(builder, "train")
    times = np.array([example["time"] for example in series])
    values = np.array([example["values"] for example in series])
    assert len(series) == 309 and values.shape == (309, 1) and values.dtype == np.float32
    assert np.all(np.diff(times) > 0), "as_dataset must yield the years in chronological order"
    assert (times[0], times[-1]) == (1700.0, 2008.0)
    assert np.array_equal(times, np.arange(1700, 2009))
    assert values[0, 0] == 5.0 and values[-1, 0] == pytest.approx(2.9)


def test_iris_all(build):
    builder = build("iris_local/all")
    assert builder.info.features["input"].shape == (4,)
    assert builder.info.features["target"].names == ["setosa", "versicolor", "virginica"]
    assert builder.info.splits["train"].num_examples == 100
    assert builder.info.splits["test"].num_examples == 50
    total = class_counts(builder, "train") + class_counts(builder, "test")
    assert total == {"setosa": 50, "versicolor": 50, "virginica": 50}
    # Stratified: each species is 16 or 17 of the 50 test flowers.
    assert set(class_counts(builder, "test").values()) <= {16, 17}


def test_iris_setosa_vs_rest_has_the_same_split(build):
    binary = build("iris_local/setosa_vs_rest")
    three = build("iris_local/all")
    assert binary.info.features["target"].names == ["other", "setosa"]
    assert (class_counts(binary, "train") + class_counts(binary, "test"))["setosa"] == 50
    for split in ("train", "test"):
        got = examples(binary, split)
        want = examples(three, split)
        key = lambda example: tuple(example["input"])  # noqa: E731
        got, want = sorted(got, key=key), sorted(want, key=key)
        assert [key(e) for e in got] == [key(e) for e in want]
        assert [int(e["target"]) for e in got] == [int(e["target"] == 0) for e in want]


def test_xor_points(build):
    builder = build("xor_points")
    assert builder.info.features["target"].names == ["0", "1"]
    for split in ("train", "validation", "test"):
        points = {tuple(e["input"].tolist()): int(e["target"]) for e in examples(builder, split)}
        assert points == {(0.0, 0.0): 0, (0.0, 1.0): 1, (1.0, 0.0): 1, (1.0, 1.0): 0}


@pytest.mark.parametrize(
    ("name", "wheel"),
    [("uea_local/basic_motions", "aeon-1.6.0-*.whl"), ("sunspots_local", "statsmodels-0.15.0-*.whl")],
)
def test_missing_wheel_says_what_and_how(name, wheel, tmp_path, monkeypatch):
    monkeypatch.delenv(WHEELS_DIR_ENV, raising=False)
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    builder = tfds.builder(name, data_dir=str(tmp_path / "tfds"), source_dirs=[str(empty)])
    with pytest.raises(SourceFilesNotFoundError) as raised:
        builder.download_and_prepare()
    message = str(raised.value)
    assert wheel in message and str(empty) in message and "make dataset" in message


def test_fashion_mnist_error_is_the_shared_class():
    from dlpipe.data.builders import fashion_mnist_local

    assert fashion_mnist_local.SourceFilesNotFoundError is SourceFilesNotFoundError
    assert issubclass(SourceFilesNotFoundError, FileNotFoundError)


def test_default_source_dir_is_the_project_wheels_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(WHEELS_DIR_ENV, raising=False)
    monkeypatch.chdir(PROJECT_ROOT)
    builder = tfds.builder("sunspots_local", data_dir=str(tmp_path))
    builder.download_and_prepare()
    assert builder.info.splits["train"].num_examples == 309


def test_find_source_file_searches_in_order(tmp_path, monkeypatch):
    first, second, from_env = (tmp_path / name for name in ("first", "second", "env"))
    for directory in (first, second, from_env):
        directory.mkdir()
    (second / "pkg-1.0-py3-none-any.whl").touch()
    assert find_source_file("pkg-1.0-*.whl", [first, second]) == second / "pkg-1.0-py3-none-any.whl"
    (first / "pkg-1.0-py3-none-any.whl").touch()
    assert find_source_file("pkg-1.0-*.whl", [first, second]) == first / "pkg-1.0-py3-none-any.whl"
    (from_env / "pkg-1.0-py3-none-any.whl").touch()
    monkeypatch.setenv("PKG_DIR", str(from_env))
    assert find_source_file("pkg-1.0-*.whl", [first], env_var="PKG_DIR").parent == from_env


TS_TEXT = """# a comment
@problemName Tiny
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
1,2,3:10,20,30:up

4.5,5.5:-1,-2:down
"""


def test_parse_ts_puts_time_first_and_channels_last():
    problem = parse_ts(TS_TEXT)
    assert problem.problem_name == "Tiny" and problem.class_names == ("up", "down")
    assert problem.labels == ["up", "down"]
    assert problem.series[0].dtype == np.float32
    np.testing.assert_array_equal(problem.series[0], [[1, 10], [2, 20], [3, 30]])
    np.testing.assert_array_equal(problem.series[1], [[4.5, -1], [5.5, -2]])


def test_parse_ts_refuses_missing_values_unless_asked():
    text = TS_TEXT.replace("1,2,3:", "1,?,3:")
    with pytest.raises(TsFormatError, match=r":10 \(case 1\), dimension 1: missing value '\?'"):
        parse_ts(text)
    assert np.isnan(parse_ts(text, allow_missing=True).series[0][1, 0])


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (("up\n\n", "left\n\n"), "label 'left' is not among"),
        (("1,2,3:10,20,30", "1,2,3:10,20"), "unequal lengths"),
        (("1,2,3:10,20,30", "1,2,3"), "1 dimensions, the header declares 2"),
        (("@data\n", ""), "expected a '@' header line before @data"),
        (("@classLabel true up down", "@classLabel false"), "no class labels"),
        (("4.5,5.5", "4.5,x"), "'x' is not a number"),
    ],
)
def test_parse_ts_errors_say_where(change, error):
    with pytest.raises(TsFormatError, match=error):
        parse_ts(TS_TEXT.replace(*change), source="tiny.ts")


def test_parse_ts_needs_data_section():
    with pytest.raises(TsFormatError, match="no '@data' line"):
        parse_ts(TS_TEXT.split("@data")[0], source="tiny.ts")


def test_cmudict_words_and_their_first_pronunciation():
    from dlpipe.data.builders.cmudict_local import parse_cmudict

    text = "\n".join(
        [
            "abandon AH0 B AE1 N D AH0 N",
            "read R EH1 D",
            "read(2) R IY1 D",  # an alternative: the first pronunciation is kept
            "a.m. EY2 EH1 M",  # not letters and apostrophes: left out
            "'bout B AW1 T",
            "aalborg AO1 L B AO0 R G # place, danish",
        ]
    )
    assert parse_cmudict(text) == {
        "abandon": "AH B AE N D AH N",
        "read": "R EH D",
        "'bout": "B AW T",
        "aalborg": "AO L B AO R G",
    }
    with pytest.raises(ValueError, match="line 2"):
        parse_cmudict("read R EH1 D\nbroken r3d\n")


def test_cmudict_is_split_by_word_once_and_for_all(build):
    builder = build("cmudict_local")
    assert builder.info.supervised_keys == ("spelling", "pronunciation")
    splits = {split: examples(builder, split) for split in ("train", "test")}
    assert {split: len(rows) for split, rows in splits.items()} == {"train": 112_433, "test": 12_493}
    words = {split: {row["spelling"].decode() for row in rows} for split, rows in splits.items()}
    assert not words["train"] & words["test"]  # no test word is seen in training
    phonemes = {token for row in splits["train"] for token in row["pronunciation"].decode().split()}
    assert len(phonemes) == 39 and not any(symbol[-1].isdigit() for symbol in phonemes)
    pronunciations = {row["spelling"].decode(): row["pronunciation"].decode() for row in splits["test"]}
    from dlpipe.data.builders.cmudict_local import split_words

    assert set(split_words(sorted(words["train"] | words["test"]))["test"]) == set(pronunciations)


def test_word_lists_keep_unambiguous_lowercase_words():
    from dlpipe.data.builders.wordlists_local import read_word_list, unambiguous_sample

    assert read_word_list("Haus\nhaus\nl'ubertà\nspew's\nétranglions\n\n") == {"haus", "étranglions"}
    words = {"english": {"chat", "dog", "cat"}, "french": {"chat", "chien", "chaton"}}
    sample = unambiguous_sample(words, per_language=2, seed=0)
    assert sorted(sample["english"]) == ["cat", "dog"]  # "chat" is in both lists: left out
    assert sorted(sample["french"]) == ["chaton", "chien"]
    with pytest.raises(ValueError, match="english: 2 words of its own, fewer than 3"):
        unambiguous_sample(words, per_language=3, seed=0)


def test_word_lists_are_balanced_and_split_by_word(build):
    builder = build("wordlists_local")
    languages = builder.info.features["language"].names
    assert languages == ["english", "french", "german", "italian", "spanish"]
    rows = {split: examples(builder, split) for split in ("train", "test")}
    for split, per_language in (("train", 18_000), ("test", 2_000)):
        counts = Counter(languages[int(row["language"])] for row in rows[split])
        assert counts == dict.fromkeys(languages, per_language)
    words = {split: [row["word"].decode() for row in rows[split]] for split in rows}
    assert len(set(words["train"]) | set(words["test"])) == 100_000  # no word twice, in any split
    assert all(word.isalpha() and word == word.lower() for word in words["test"])


def test_mnist_digits_parse_and_reject_a_broken_line():
    from dlpipe.data.builders.mnist_subset_local import parse_digits

    line = ",".join(["0"] * 783 + ["255", "7"])
    images, labels = parse_digits(f"{line}\n{line}\n")
    assert images.shape == (2, 28, 28, 1) and images.dtype == np.uint8
    assert images[0, 27, 27, 0] == 255 and labels.tolist() == [7, 7]
    with pytest.raises(ValueError, match="line 2"):
        parse_digits(f"{line}\n{line[:-1]}12\n")  # label 12 is not a digit


def test_mnist_subset_is_split_per_class_once_and_for_all(build):
    builder = build("mnist_subset_local")
    assert builder.info.supervised_keys == ("image", "label")
    rows = {split: examples(builder, split) for split in ("train", "test")}
    for split, per_class in (("train", 400), ("test", 100)):
        assert Counter(int(row["label"]) for row in rows[split]) == dict.fromkeys(range(10), per_class)
    pixels = [row["image"] for row in rows["test"]]
    assert all(image.shape == (28, 28, 1) and image.dtype == np.uint8 for image in pixels)
    assert np.mean([image.max() for image in pixels]) > 200  # real strokes, not blank images
    train_bytes = {row["image"].tobytes() for row in rows["train"]}
    assert not any(image.tobytes() in train_bytes for image in pixels)
