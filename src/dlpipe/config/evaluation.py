"""Schema of the evaluation stage's own settings."""

from __future__ import annotations

from dlpipe.config.common import Strict


class EvaluationConfig(Strict):
    """How the test scores are made, where a task leaves a choice."""

    # The classifier that judges generated images (generation task): a saved Keras classifier of
    # the dataset's classes: a .keras file, a versioned catalog folder (its newest version) or an
    # MLflow model URI (models:/<name>/<version>), e.g. the classifier another pipeline saved. When
    # null, or when nothing is saved there yet, dlpipe trains one on the fly. The report names
    # the one used.
    judge_model: str | None = None

    def check_fits_task(self, task) -> None:
        """Raise ValueError, naming the key, when a judge is set for a task that judges nothing."""
        if self.judge_model is not None and not task.judges_samples:
            raise ValueError(
                f"evaluation.judge_model: {self.judge_model!r} judges generated images, which the "
                f"{task.name} task does not make; leave it null"
            )
