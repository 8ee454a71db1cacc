"""UEA multivariate time-series classification problems as TFDS datasets, read from aeon's wheel.

aeon 1.6.0's wheel (``aeon-1.6.0-py3-none-any.whl`` on PyPI, BSD-3-Clause) bundles several problems
of the UEA & UCR time-series archive as ``.ts`` text files under ``aeon/datasets/data/``. ``make
dataset`` downloads the wheel (``pip download --no-deps``, never installed: aeon pins pandas<3.1)
into ``data/01_raw/wheels``; this builder reads the ``.ts`` files straight out of the zip with its
own parser, :func:`parse_ts`, so aeon is never imported.

Configs (``tfds.builder("uea_local/<config>", source_dirs=[...])``):

- ``japanese_vowels``: 270 train / 370 test utterances, 12 channels, 7 to 29 time steps, 9 speakers.
- ``basic_motions``: 40 train / 40 test recordings, 6 channels x 100 time steps, 4 activities.

Each example is ``{"input": float32 (time steps, channels), "target": class index}``, time steps
first and channels last, as Keras recurrent and 1-D convolution layers expect.

The ``.ts`` format (sktime/aeon's): ``#`` comment lines; a header of ``@key value`` lines
(``@problemName``, ``@timeStamps``, ``@missing``, ``@univariate``, ``@dimensions``,
``@equalLength``, ``@seriesLength``, ``@classLabel true <names...>``); the line ``@data``; then one
line per case, its dimensions separated by ``:``, the values of one dimension by ``,``, and the
class label after the last ``:``. ``?`` marks a missing value: the builder refuses it with
:class:`TsFormatError` (neither problem has any, and a NaN would silently poison training);
:func:`parse_ts` returns NaN for it when called with ``allow_missing=True``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from dlpipe.data.builders.sources import (
    DEFAULT_WHEEL_DIRS,
    WHEELS_DIR_ENV,
    find_source_file,
    read_wheel_member,
)

AEON_VERSION = "1.6.0"
AEON_WHEEL_GLOB = f"aeon-{AEON_VERSION}-*.whl"
AEON_DATA_DIR = "aeon/datasets/data"
HOW_TO_FIX = (
    "Run `make dataset` in the project root: it downloads the wheel into data/01_raw/wheels/ with "
    f"`pip download --no-deps --only-binary=:all: aeon=={AEON_VERSION}` (aeon is not installed; "
    f"dlpipe only reads its bundled .ts files). Or set ${WHEELS_DIR_ENV} or pass `source_dirs` "
    "(`dataset.source_dirs`) naming the directory that holds the wheel."
)
CITATION = """@article{bagnall2018uea,
  title   = {The {UEA} multivariate time series classification archive, 2018},
  author  = {Bagnall, Anthony and Dau, Hoang Anh and Lines, Jason and Flynn, Michael and
             Large, James and Bostrom, Aaron and Southam, Paul and Keogh, Eamonn},
  journal = {arXiv preprint arXiv:1811.00075},
  year    = {2018}
}"""


class TsFormatError(ValueError):
    """A ``.ts`` file does not follow the format, or holds what the builder refuses (``?``)."""


@dataclasses.dataclass(frozen=True)
class TsProblem:
    """The parsed content of one ``.ts`` classification file."""

    problem_name: str
    class_names: tuple[str, ...]
    dimensions: int
    series: list[np.ndarray]  # one float32 array (time steps, dimensions) per case
    labels: list[str]


def parse_ts(text: str, source: str = "<.ts text>", *, allow_missing: bool = False) -> TsProblem:
    """Parse the text of a ``.ts`` classification file (see the module docstring for the format).

    Args:
        text: the whole file.
        source: how to name the file in error messages.
        allow_missing: read ``?`` as NaN instead of raising.

    Raises:
        TsFormatError: the header lacks ``@data`` or ``@classLabel true ...``, the file uses
            time stamps, a case has the wrong number of dimensions, dimensions of unequal length,
            an unparsable value, a ``?`` (unless ``allow_missing``), or an undeclared label.
    """
    header: dict[str, list[str]] = {}
    lines = text.splitlines()
    data_start = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("@"):
            raise TsFormatError(
                f"{source}:{number}: expected a '@' header line before @data, got {line[:60]!r}"
            )
        key, *values = line.split()
        key = key[1:].lower()
        if key == "data":
            data_start = number
            break
        header[key] = values
    if data_start is None:
        raise TsFormatError(f"{source}: no '@data' line: not a .ts file")

    def flag(key: str) -> bool | None:
        values = header.get(key)
        return None if not values else values[0].lower() == "true"

    if flag("timestamps"):
        raise TsFormatError(f"{source}: '@timeStamps true' (time-stamped values) is not supported")
    class_line = header.get("classlabel")
    if not class_line or class_line[0].lower() != "true" or len(class_line) < 2:
        raise TsFormatError(
            f"{source}: the header declares no class labels ('@classLabel true <names...>'); "
            "only classification problems are supported"
        )
    class_names = tuple(class_line[1:])
    declared = set(class_names)
    if "dimensions" in header:
        dimensions = int(header["dimensions"][0])
    elif flag("univariate"):
        dimensions = 1
    else:
        dimensions = None  # taken from the first case
    series_length = (
        int(header["serieslength"][0]) if flag("equallength") and "serieslength" in header else None
    )

    series: list[np.ndarray] = []
    labels: list[str] = []
    for number, raw in enumerate(lines[data_start:], start=data_start + 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        *channels, label = (part.strip() for part in line.split(":"))
        where = f"{source}:{number} (case {len(series) + 1})"
        if dimensions is None:
            dimensions = len(channels)
        if len(channels) != dimensions:
            raise TsFormatError(f"{where}: {len(channels)} dimensions, the header declares {dimensions}")
        if label not in declared:
            raise TsFormatError(f"{where}: label {label!r} is not among @classLabel {list(class_names)}")
        values = [
            _parse_values(channel, f"{where}, dimension {d + 1}", allow_missing)
            for d, channel in enumerate(channels)
        ]
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            raise TsFormatError(f"{where}: dimensions of unequal lengths {sorted(lengths)}")
        if series_length is not None and lengths != {series_length}:
            raise TsFormatError(f"{where}: length {lengths.pop()}, the header declares {series_length}")
        series.append(np.asarray(values, dtype=np.float32).T)
        labels.append(label)
    if not series:
        raise TsFormatError(f"{source}: no cases after '@data'")
    name = header.get("problemname", [Path(source).stem])[0]
    return TsProblem(name, class_names, dimensions, series, labels)


def _parse_values(text: str, where: str, allow_missing: bool) -> list[float]:
    values = []
    for token in text.split(","):
        token = token.strip()
        if token == "?":
            if not allow_missing:
                raise TsFormatError(
                    f"{where}: missing value '?' (dlpipe refuses missing values rather than "
                    "training on NaN; parse with allow_missing=True to read them as NaN)"
                )
            values.append(float("nan"))
            continue
        try:
            values.append(float(token))
        except ValueError:
            raise TsFormatError(f"{where}: {token!r} is not a number") from None
    return values


@dataclasses.dataclass(eq=False)
class UeaConfig(tfds.core.BuilderConfig):
    """One UEA problem: its folder in aeon's wheel and the header it must have."""

    problem: str = ""
    channels: int = 0
    class_names: tuple[str, ...] = ()


class UeaLocal(tfds.core.GeneratorBasedBuilder):
    """UEA time-series classification problems read from aeon's wheel (see module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": f"Read from the .ts files in aeon {AEON_VERSION}'s wheel."}
    BUILDER_CONFIGS = [
        UeaConfig(
            name="japanese_vowels",
            description=(
                "JapaneseVowels: 9 male speakers saying the vowels /ae/; 12 LPC cepstrum "
                "coefficients per frame, 7 to 29 frames per utterance; the class is the speaker "
                "(1-9). 270 train (30 per speaker) / 370 test. From the UCI Machine Learning "
                "Repository (Kudo, Toyama and Shimbo 1999), CC BY 4.0."
            ),
            problem="JapaneseVowels",
            channels=12,
            class_names=tuple(str(speaker) for speaker in range(1, 10)),
        ),
        UeaConfig(
            name="basic_motions",
            description=(
                "BasicMotions: 3-D accelerometer and 3-D gyroscope of a smart watch (6 channels, "
                "100 steps at 10 Hz) while standing, running, walking or playing badminton. "
                "40 train / 40 test, 10 per class in each. Recorded in a UEA student project."
            ),
            problem="BasicMotions",
            channels=6,
            class_names=("Standing", "Running", "Walking", "Badminton"),
        ),
    ]

    def __init__(self, *, source_dirs: Sequence[str] | None = None, **kwargs):
        self._source_dirs = list(source_dirs) if source_dirs else list(DEFAULT_WHEEL_DIRS)
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        config: UeaConfig = self.builder_config
        return self.dataset_info_from_configs(
            description=(
                "Multivariate time-series classification problems of the UEA & UCR archive "
                "(timeseriesclassification.com, Bagnall et al. 2018; published for research use, "
                "cite the archive and the problem's source). Read from the .ts files that "
                f"aeon {AEON_VERSION}'s wheel (PyPI, BSD-3-Clause) bundles under {AEON_DATA_DIR}/; "
                "aeon is not installed. input: float32 (time steps, channels); target: the class "
                "named in the file's @classLabel header, in header order. Splits are the archive's "
                "own train/test. Missing values ('?') are refused with an error."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "input": tfds.features.Tensor(shape=(None, config.channels), dtype=np.float32),
                    "target": tfds.features.ClassLabel(names=list(config.class_names)),
                }
            ),
            supervised_keys=("input", "target"),
            homepage=f"https://www.timeseriesclassification.com/description.php?Dataset={config.problem}",
            citation=CITATION,
        )

    def _split_generators(self, dl_manager):
        config: UeaConfig = self.builder_config
        wheel = find_source_file(AEON_WHEEL_GLOB, self._source_dirs, WHEELS_DIR_ENV, HOW_TO_FIX)
        splits = {}
        for split, suffix in (("train", "TRAIN"), ("test", "TEST")):
            member = f"{AEON_DATA_DIR}/{config.problem}/{config.problem}_{suffix}.ts"
            text = read_wheel_member(wheel, member).decode("utf-8")
            problem = parse_ts(text, source=f"{wheel.name}:{member}")
            if problem.class_names != config.class_names or problem.dimensions != config.channels:
                raise TsFormatError(
                    f"{wheel.name}:{member}: header declares {problem.dimensions} dimensions and "
                    f"classes {list(problem.class_names)}; uea_local/{config.name} expects "
                    f"{config.channels} and {list(config.class_names)} (a different aeon release?)"
                )
            splits[split] = self._generate_examples(problem)
        return splits

    def _generate_examples(self, problem: TsProblem) -> Iterator:
        for index, (series, label) in enumerate(zip(problem.series, problem.labels, strict=True)):
            yield index, {"input": series, "target": label}
