"""The verdict on an experiment's claim, computed from its fits: each condition checked on the
arms' means over seeds, and the numbers behind it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlpipe.config.experiment import Condition, ExperimentConfig


def scalar_measures(record: dict[str, Any]) -> dict[str, float]:
    """A fit record's numbers (measures and split scores), without its curves and descriptions."""
    return {
        key: float(value)
        for key, value in record.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and key != "seed"
    }


def arm_summary(records: list[dict[str, Any]], experiment: ExperimentConfig) -> dict[str, dict[str, Any]]:
    """Per arm and measure: the mean, lowest and highest over seeds, and each seed's value."""
    summary: dict[str, dict[str, Any]] = {}
    for arm in experiment.arms:
        fits = [scalar_measures(r) for r in records if r["arm"] == arm]
        names = dict.fromkeys(name for fit in fits for name in fit)
        summary[arm] = {
            name: _spread(
                [fit.get(name, math.nan) for fit in fits], [r["seed"] for r in records if r["arm"] == arm]
            )
            for name in names
        }
    return summary


def _spread(values: list[float], seeds: list[int]) -> dict[str, Any]:
    array = np.asarray(values, dtype=float)
    finite = array[~np.isnan(array)]
    return {
        "mean": float(np.mean(array)) if len(finite) == len(array) else math.nan,
        "low": float(np.min(finite)) if len(finite) else math.nan,
        "high": float(np.max(finite)) if len(finite) else math.nan,
        "per_seed": dict(zip((str(s) for s in seeds), (float(v) for v in values), strict=True)),
    }


def check(condition: Condition, summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Whether ``condition`` holds on the arms' means, with the numbers and a sentence saying so."""
    spread = _measure(summary, condition.arm, condition.measure)
    value = spread["mean"]
    if isinstance(condition.reference, str):
        reference_spread = _measure(summary, condition.reference, condition.measure)
        reference = reference_spread["mean"]
        against = f"{condition.reference}'s {_number(reference)}"
    else:
        reference = float(condition.reference)
        reference_spread = {"low": reference, "high": reference}
        against = _number(reference)
    margin = condition.margin
    if condition.direction == "below":
        held = value < reference - margin
        # Every seed on the claimed side of every seed of the reference: not a matter of noise.
        seeds_agree = spread["high"] < reference_spread["low"] - margin
    else:
        held = value > reference + margin
        seeds_agree = spread["low"] > reference_spread["high"] + margin
    held = bool(held and not (math.isnan(value) or math.isnan(reference)))
    seeds_agree = bool(held and seeds_agree)
    by = f" by more than {margin:g}" if margin else ""
    statement = (
        f"{condition.measure} of {condition.arm} ({_number(value)}) is "
        f"{'' if held else 'not '}{condition.direction} {against}{by}"
    )
    if held and len(spread["per_seed"]) > 1:
        statement += " in every seed" if seeds_agree else " on average (the seeds' ranges overlap)"
    return {
        "arm": condition.arm,
        "measure": condition.measure,
        "direction": condition.direction,
        "reference": condition.reference,
        "margin": condition.margin,
        "value": value,
        "reference_value": reference,
        "held": held,
        "seeds_agree": seeds_agree,
        "statement": statement,
    }


def judge(records: list[dict[str, Any]], experiment: ExperimentConfig) -> dict[str, Any]:
    """The verdict: the claim, each condition's outcome, whether the claim held on this data (every
    condition did), a plain sentence, and every arm's measures over its seeds."""
    summary = arm_summary(records, experiment)
    checks = [check(condition, summary) for condition in experiment.verdict]
    held = all(c["held"] for c in checks)
    failed = [c["statement"] for c in checks if not c["held"]]
    conclusion = (
        "The claim held on this data: " + "; ".join(c["statement"] for c in checks) + "."
        if held
        else "The claim did not hold on this data: " + "; ".join(failed) + "."
    )
    return {
        "claim": experiment.claim,
        "held": held,
        "conclusion": conclusion,
        "conditions": checks,
        "seeds": experiment.seeds,
        "arms": {
            arm: {
                "block": experiment.arm_block(arm),
                "overrides": experiment.arm_overrides(arm),
                "measures": summary[arm],
            }
            for arm in experiment.arms
        },
    }


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None, so that it is strict JSON."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _measure(summary: dict[str, dict[str, Any]], arm: str, measure: str) -> dict[str, Any]:
    if measure not in summary[arm]:
        raise KeyError(f"verdict: arm '{arm}' reports no '{measure}'; it reports {sorted(summary[arm])}")
    return summary[arm][measure]


def _number(value: float) -> str:
    return str(value) if not math.isfinite(value) else f"{value:.4g}"
