"""Edit distance: what word and phoneme error rates count."""

from __future__ import annotations

import pytest

from dlpipe.evaluation.edit_distance import edit_distance


@pytest.mark.parametrize(
    ("reference", "hypothesis", "distance"),
    [
        ("", "", 0),
        ("K AE T", "K AE T", 0),
        ("K AE T", "K AH T", 1),  # a substitution
        ("K AE T", "K AE", 1),  # a deletion
        ("K AE T", "K AE T S", 1),  # an insertion
        ("K AE T", "", 3),
        ("", "K AE T", 3),
        ("K AE T S", "S K AE T", 2),  # a token moved: one deletion, one insertion
    ],
)
def test_edit_distance_counts_the_fewest_edits(reference, hypothesis, distance):
    assert edit_distance(reference.split(), hypothesis.split()) == distance
    assert edit_distance(hypothesis.split(), reference.split()) == distance
