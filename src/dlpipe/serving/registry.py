"""The MLflow Model Registry's evaluation gate: every run registers its model, and only a model
that meets the requirements and beats the champion on the same test split becomes the champion."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException

from dlpipe.config.registry import COMPARISONS, parse_requirement

logger = logging.getLogger(__name__)

DIGEST_TAG = "dlpipe.test_split_digest"
SCORE_TAG_PREFIX = "dlpipe."  # + the gate metric, e.g. dlpipe.test_accuracy


@dataclass
class GateDecision:
    """What the gate decided for a run's model, and why."""

    registered_model: str
    version: str | None
    promoted: bool
    reason: str
    metric: str
    candidate_score: float | None
    champion_version: str | None = None
    champion_score: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        where = f"{self.registered_model} version {self.version}"
        verdict = "promoted to champion" if self.promoted else "registered; the champion stays"
        return f"Model registry: {where} {verdict}: {self.reason}"


def split_digest(*arrays: np.ndarray) -> str:
    """A digest of the test split's arrays: equal digests mean the same examples in the same order."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.asarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        if array.dtype == object:
            digest.update("\x00".join(map(str, array.flat)).encode())
        else:
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def unmet_requirements(requirements: list[str], scores: dict[str, float]) -> list[str]:
    """The requirements ``scores`` do not meet, each said with the value measured."""
    unmet = []
    for text in requirements:
        metric, op, threshold = parse_requirement(text)
        if metric not in scores:
            unmet.append(f"{text} (not reported by this run)")
        elif not COMPARISONS[op](scores[metric], threshold):
            unmet.append(f"{text} (measured {scores[metric]:.4f})")
    return unmet


def decide(
    candidate: float,
    champion: float | None,
    *,
    direction: str,
    min_improvement: float,
    unmet: list[str],
    metric: str,
) -> tuple[bool, str]:
    """Whether the candidate replaces the champion (None: there is none), and the reason."""
    if unmet:
        return False, f"requirement not met: {'; '.join(unmet)}"
    if champion is None:
        return True, f"first model to meet the requirements ({metric} {candidate:.4f})"
    gain = candidate - champion if direction == "maximize" else champion - candidate
    better = "higher" if direction == "maximize" else "lower"
    if gain > 0 and gain >= min_improvement:
        return True, (
            f"{metric} {candidate:.4f} beats the champion's {champion:.4f} by {gain:.4f} "
            f"(at least {min_improvement} {better} needed)"
        )
    return False, (
        f"{metric} {candidate:.4f} does not beat the champion's {champion:.4f} by at least "
        f"{min_improvement} ({better} is better)"
    )


def register_and_gate(
    model_uri: str,
    *,
    name: str,
    alias: str,
    metric: str,
    direction: str,
    scores: dict[str, float],
    requirements: list[str],
    min_improvement: float,
    digest: str,
    rescore: Callable[[str], float],
) -> GateDecision:
    """Register ``model_uri`` as a new version of ``name`` and move ``alias`` to it if it passes.

    The champion's score is the one recorded when it was registered if it was scored on the
    same test split (same ``digest``); otherwise ``rescore(champion_uri)`` scores it on this one.
    """
    client = mlflow.MlflowClient()
    candidate = scores.get(metric)
    version = str(mlflow.register_model(model_uri, name).version)
    client.set_model_version_tag(name, version, DIGEST_TAG, digest)
    if candidate is not None:
        client.set_model_version_tag(name, version, SCORE_TAG_PREFIX + metric, repr(candidate))
    decision = GateDecision(name, version, False, "", metric, candidate)
    if candidate is None:
        decision.reason = f"the run reported no {metric}, the metric models are compared by"
        return decision
    unmet = unmet_requirements(requirements, scores)
    champion = _current_champion(client, name, alias)
    champion_score = None
    if champion is not None and not unmet:
        decision.champion_version = str(champion.version)
        recorded = champion.tags.get(SCORE_TAG_PREFIX + metric)
        if champion.tags.get(DIGEST_TAG) == digest and recorded is not None:
            champion_score = float(recorded)
        else:
            try:
                champion_score = rescore(f"models:/{name}/{champion.version}")
            except Exception as err:  # noqa: BLE001 - a champion for other inputs is no rival
                decision.promoted = True
                decision.reason = (
                    f"the champion (version {champion.version}) cannot be scored on this test split "
                    f"({str(err).splitlines()[0][:200]}); this model meets the requirements"
                )
        decision.champion_score = champion_score
    if not decision.reason:
        decision.promoted, decision.reason = decide(
            candidate,
            champion_score,
            direction=direction,
            min_improvement=min_improvement,
            unmet=unmet,
            metric=metric,
        )
    if decision.promoted:
        client.set_registered_model_alias(name, alias, version)
    return decision


def _current_champion(client: mlflow.MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(err).lower():
            return None
        raise
