"""The MLflow Model Registry's evaluation gate: every run registers its model, and only a model
that meets the requirements and beats the champion on the same test split becomes the champion."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException

from dlpipe.config.registry import COMPARISONS, parse_requirement

logger = logging.getLogger(__name__)

DIGEST_TAG = "dlpipe.evaluation_digest"
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


def evaluation_digest(*arrays: np.ndarray, how: str = "") -> str:
    """A digest of what a score depends on: the arrays the evaluation read (the test split, and
    training examples it fits on) and ``how`` it scored (the metric, the loss). Equal digests mean
    the same examples in the same order, scored the same way."""
    digest = hashlib.sha256(how.encode())
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
    when_run_succeeds: Callable[[Callable[[], None]], None] = lambda action: action(),
) -> GateDecision:
    """Register ``model_uri`` as a new version of ``name``; decide whether ``alias`` moves to it.

    The champion's score is the one recorded when it was registered if it was scored the same
    way (same ``digest``: test split, loss, metric); otherwise ``rescore(champion_uri)`` scores it
    now. A champion that cannot be scored stays champion. The alias is moved by
    ``when_run_succeeds(action)``: inside a Kedro run, only once the whole run has succeeded.
    """
    client = mlflow.MlflowClient()
    candidate = scores.get(metric)
    version = str(mlflow.register_model(model_uri, name).version)
    client.set_model_version_tag(name, version, DIGEST_TAG, digest)
    decision = GateDecision(name, version, False, "", metric, candidate)
    if candidate is None or not math.isfinite(candidate):
        decision.reason = f"the run reported no finite {metric}, the metric models are compared by"
        return decision
    client.set_model_version_tag(name, version, SCORE_TAG_PREFIX + metric, repr(candidate))
    unmet = unmet_requirements(requirements, scores)
    champion = None if unmet else _current_champion(client, name, alias)
    if champion is not None:
        decision.champion_version = str(champion.version)
        recorded = champion.tags.get(SCORE_TAG_PREFIX + metric)
        if champion.tags.get(DIGEST_TAG) == digest and recorded is not None:
            decision.champion_score = float(recorded)
        else:
            try:
                decision.champion_score = rescore(f"models:/{name}/{champion.version}")
            except Exception as err:  # noqa: BLE001 - whatever failed, never replace it unseen
                decision.reason = (
                    f"the champion (version {champion.version}) could not be scored on this test split "
                    f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); it stays champion. "
                    f"Move the alias by hand if this model should replace it, or set registry.name"
                )
                return decision
    decision.promoted, decision.reason = decide(
        candidate,
        decision.champion_score,
        direction=direction,
        min_improvement=min_improvement,
        unmet=unmet,
        metric=metric,
    )
    if decision.promoted:
        when_run_succeeds(lambda: client.set_registered_model_alias(name, alias, version))
    return decision


def _current_champion(client: mlflow.MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(err).lower():
            return None
        raise
