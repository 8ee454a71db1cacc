"""Edit distance between token sequences: what word and phoneme error rates count."""

from __future__ import annotations

from collections.abc import Sequence


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    """The Levenshtein distance: the fewest insertions, deletions and substitutions of single
    tokens that turn ``hypothesis`` into ``reference``."""
    previous = list(range(len(hypothesis) + 1))
    for row, wanted in enumerate(reference, start=1):
        current = [row]
        for column, given in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[column] + 1,  # a reference token missing from the hypothesis
                    current[column - 1] + 1,  # a hypothesis token too many
                    previous[column - 1] + (wanted != given),  # kept or substituted
                )
            )
        previous = current
    return previous[-1]
