"""Edit distance between token sequences, and the error rates of sequence outputs built on it."""

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


def error_rates(references: Sequence[Sequence], hypotheses: Sequence[Sequence]) -> dict[str, float]:
    """``token_error_rate``: edits over reference tokens, summed over the sequences (the phoneme
    error rate of a pronunciation); ``sequence_error_rate``: the share of sequences with any
    error (the word error rate)."""
    if len(references) != len(hypotheses) or not references:
        raise ValueError(
            f"expected as many hypotheses as references (at least one), got {len(hypotheses)} and "
            f"{len(references)}"
        )
    distances = [edit_distance(ref, hyp) for ref, hyp in zip(references, hypotheses, strict=True)]
    return {
        "token_error_rate": sum(distances) / max(1, sum(len(ref) for ref in references)),
        "sequence_error_rate": sum(distance > 0 for distance in distances) / len(distances),
    }
