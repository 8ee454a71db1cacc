"""Figures of sequence-to-sequence models: where their errors fall."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402


def plot_error_by_length(by_length: list[dict]) -> plt.Figure:
    """Word and token error rates against input length (``by_length``: rows with ``length``,
    ``count``, ``sequence_error_rate`` and ``token_error_rate``), the number of test examples of
    each length below."""
    lengths = [row["length"] for row in by_length]
    figure, (rates, counts) = plt.subplots(
        2, 1, figsize=(8, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    rates.plot(lengths, [row["sequence_error_rate"] for row in by_length], "o-", label="word error rate")
    rates.plot(lengths, [row["token_error_rate"] for row in by_length], "s-", label="token error rate")
    rates.set_ylabel("error rate")
    rates.set_ylim(0, 1)
    rates.grid(alpha=0.3)
    rates.legend()
    rates.set_title("Test error rate by input length")
    counts.bar(lengths, [row["count"] for row in by_length], color="grey")
    counts.set_xlabel("input length (characters)")
    counts.set_ylabel("test examples")
    figure.set_layout_engine("tight")
    return figure
