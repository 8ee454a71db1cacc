"""Yearly sunspot numbers 1700-2008 as a TFDS time series, read from statsmodels' wheel.

statsmodels 0.15.0's wheel (PyPI) bundles ``statsmodels/datasets/sunspots/sunspots.csv``: 309 yearly
values (columns ``YEAR``, ``SUNACTIVITY``) from NOAA's National Geophysical Data Center. ``make
dataset`` downloads the wheel (``pip download --no-deps``, never installed) into
``data/01_raw/wheels``; this builder reads the CSV straight out of the zip.

It is a time series, not a supervised set: one split ``train`` holds the whole series, one example
per year, ``{"time": year (float64), "values": [sunspot number] (float32, shape (1,))}``. Shuffling
is disabled, so ``as_dataset(split="train")`` yields the years in chronological order; windowing
and any train/validation/test cut in time are left to the caller.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

from dlpipe.data.builders.sources import (
    DEFAULT_WHEEL_DIRS,
    WHEELS_DIR_ENV,
    find_source_file,
    read_wheel_member,
)

STATSMODELS_VERSION = "0.15.0"
STATSMODELS_WHEEL_GLOB = f"statsmodels-{STATSMODELS_VERSION}-*.whl"
SUNSPOTS_MEMBER = "statsmodels/datasets/sunspots/sunspots.csv"
HOW_TO_FIX = (
    "Run `make dataset` in the project root: it downloads the wheel into data/01_raw/wheels/ with "
    f"`pip download --no-deps --only-binary=:all: statsmodels=={STATSMODELS_VERSION}` (statsmodels "
    "is not installed; dlpipe only reads its bundled CSV; any platform's wheel holds the same file). "
    f"Or set ${WHEELS_DIR_ENV} or pass `source_dirs` (`dataset.source_dirs`) naming the directory "
    "that holds the wheel."
)


def read_sunspots_csv(text: str, source: str = SUNSPOTS_MEMBER) -> list[tuple[float, float]]:
    """Return ``(year, sunspot number)`` pairs from the CSV text, in file order.

    Raises:
        ValueError: the columns are not ``YEAR``/``SUNACTIVITY``, a value is not a number, or the
            years are not strictly increasing.
    """
    rows = csv.DictReader(io.StringIO(text))
    if rows.fieldnames is None or not {"YEAR", "SUNACTIVITY"} <= set(rows.fieldnames):
        raise ValueError(f"{source}: expected columns YEAR and SUNACTIVITY, found {rows.fieldnames}")
    series = []
    for row in rows:
        try:
            series.append((float(row["YEAR"]), float(row["SUNACTIVITY"])))
        except (TypeError, ValueError):
            raise ValueError(f"{source}, line {rows.line_num}: not a number in {row}") from None
    years = [year for year, _ in series]
    if not series or any(later <= earlier for earlier, later in zip(years, years[1:], strict=False)):
        raise ValueError(f"{source}: the years are empty or not strictly increasing")
    return series


class SunspotsLocal(tfds.core.GeneratorBasedBuilder):
    """Yearly sunspot numbers read from statsmodels' wheel (see module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": f"Read from the CSV in statsmodels {STATSMODELS_VERSION}'s wheel."}

    def __init__(self, *, source_dirs: Sequence[str] | None = None, **kwargs):
        self._source_dirs = list(source_dirs) if source_dirs else list(DEFAULT_WHEEL_DIRS)
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=(
                "Yearly mean sunspot numbers, 1700-2008 (309 values), from NOAA's National "
                "Geophysical Data Center; public domain (as statsmodels states). Read from "
                f"{SUNSPOTS_MEMBER} in statsmodels {STATSMODELS_VERSION}'s wheel (PyPI), which is "
                "not installed. A time series, not a supervised set: one split 'train' holds the "
                "whole series in chronological order (shuffling disabled); time is the year."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "time": tfds.features.Scalar(dtype=np.float64),
                    "values": tfds.features.Tensor(shape=(1,), dtype=np.float32),
                }
            ),
            supervised_keys=None,
            disable_shuffling=True,
            homepage="https://www.statsmodels.org/stable/datasets/generated/sunspots.html",
        )

    def _split_generators(self, dl_manager):
        wheel = find_source_file(STATSMODELS_WHEEL_GLOB, self._source_dirs, WHEELS_DIR_ENV, HOW_TO_FIX)
        text = read_wheel_member(wheel, SUNSPOTS_MEMBER).decode("utf-8")
        series = read_sunspots_csv(text, source=f"{wheel.name}:{SUNSPOTS_MEMBER}")
        return {"train": self._generate_examples(series)}

    def _generate_examples(self, series: list[tuple[float, float]]) -> Iterator:
        for year, value in series:
            yield int(year), {"time": year, "values": np.array([value], dtype=np.float32)}
