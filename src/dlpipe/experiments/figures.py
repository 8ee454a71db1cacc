"""The comparison figure of an experiment: its curves per arm, the verdict's measures per arm and,
when measured, the first-epoch gradient norm of every layer."""

from __future__ import annotations

import math
import textwrap
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dlpipe.config.experiment import Curve, ExperimentConfig  # noqa: E402


def comparison_figure(
    records: list[dict[str, Any]], experiment: ExperimentConfig, verdict: dict[str, Any]
) -> plt.Figure:
    """One panel per configured curve (mean over seeds, one line per arm), one bar chart per
    measure the verdict checks (mean over seeds, bars from lowest to highest seed), and the
    per-layer gradient norms when the arms measured them; the claim and outcome as the title."""
    measured = list(dict.fromkeys(condition.measure for condition in experiment.verdict))
    with_gradients = any(record.get("gradient_norms") for record in records)
    panels = len(experiment.curves) + len(measured) + int(with_gradients)
    figure, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.4), squeeze=False)
    axes = list(axes[0])
    for curve in experiment.curves:
        _plot_curve(axes.pop(0), records, experiment, curve)
    for measure in measured:
        _plot_measure(axes.pop(0), verdict, experiment, measure)
    if with_gradients:
        _plot_gradients(axes.pop(0), records, experiment)
    outcome = "held" if verdict["held"] else "did NOT hold"
    figure.suptitle(textwrap.fill(f"{experiment.claim} ({outcome} on this data)", 120), fontsize=10)
    figure.set_layout_engine("tight")
    return figure


def _plot_curve(axes, records, experiment: ExperimentConfig, curve: Curve) -> None:
    for arm in experiment.arms:
        fits = [r for r in records if r["arm"] == arm and curve.y in r["curves"]]
        if not fits:
            continue
        length = min(len(r["curves"][curve.y]) for r in fits)
        if length == 0:
            continue
        values = np.mean([r["curves"][curve.y][:length] for r in fits], axis=0)
        epochs = np.arange(1, length + 1)
        if curve.x == "epoch":
            x = epochs
        elif curve.x == "updates":
            x = epochs * fits[0]["updates_per_epoch"]
        else:
            x = np.mean([r["curves"]["seconds"][:length] for r in fits], axis=0)
        axes.plot(x, values, marker="o" if length < 30 else None, markersize=3, label=arm)
    axes.set_xlabel({"epoch": "epoch", "updates": "parameter updates", "seconds": "seconds"}[curve.x])
    axes.set_ylabel(curve.y.replace("_", " "))
    if curve.log_y:
        axes.set_yscale("log")
    if curve.x == "updates":
        axes.set_xscale("log")
    axes.set_title(f"{curve.y} (mean over {len(experiment.seeds)} seed(s))", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)


def _plot_measure(axes, verdict: dict[str, Any], experiment: ExperimentConfig, measure: str) -> None:
    arms = list(experiment.arms)
    rows = [verdict["arms"][arm]["measures"].get(measure) or {} for arm in arms]
    means = [_finite(row.get("mean")) for row in rows]
    lows = [_finite(row.get("low")) for row in rows]
    highs = [_finite(row.get("high")) for row in rows]
    errors = [
        [max(0.0, m - lo) for m, lo in zip(means, lows, strict=True)],
        [max(0.0, hi - m) for m, hi in zip(means, highs, strict=True)],
    ]
    positions = np.arange(len(arms))
    axes.bar(positions, means, yerr=errors, capsize=3, color="tab:blue", alpha=0.8)
    for position, row in zip(positions, rows, strict=True):
        mean = row.get("mean")
        label = "n/a" if mean is None or not math.isfinite(mean) else f"{mean:.3g}"
        axes.annotate(
            label, (position, 0), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8
        )
    axes.set_xticks(positions, arms, rotation=30, ha="right", fontsize=8)
    axes.set_title(f"{measure} (bars: lowest to highest seed)", fontsize=9)
    axes.grid(alpha=0.3, axis="y")


def _plot_gradients(axes, records, experiment: ExperimentConfig) -> None:
    for arm in experiment.arms:
        fits = [r["gradient_norms"] for r in records if r["arm"] == arm and r.get("gradient_norms")]
        if not fits:
            continue
        layers = list(fits[0])
        values = [np.exp(np.mean([np.log(max(f.get(layer, 0.0), 1e-30)) for f in fits])) for layer in layers]
        axes.plot(range(1, len(layers) + 1), values, marker="o", markersize=3, label=arm)
    axes.set_yscale("log")
    axes.set_xlabel("layer (input to output)")
    axes.set_ylabel("gradient norm, first epoch")
    axes.set_title("Per-layer gradient norms (geometric mean over seeds)", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)


def _finite(value) -> float:
    return float(value) if value is not None and math.isfinite(value) else 0.0
