"""Schema of a run's wall-clock budget, which sizes the tuning and training stages."""

from __future__ import annotations

from pydantic import Field, model_validator

from dlpipe.config.common import Strict


class BudgetConfig(Strict):
    """How long one ``kedro run`` of the block may take, counted from the start of the pipeline run.

    With ``seconds`` set, the study runs trials (at most ``tuning.n_trials``) until its share of the
    budget is spent, and the final training gets as many epochs (at most ``training.epochs``) as
    fit in what is left, less ``reserve_s`` for evaluation, saving and registering; an epoch's time
    is the one measured in the best trial. ``seconds: null`` keeps trials and epochs as configured.
    """

    seconds: float | None = Field(None, gt=0.0)
    tuning_share: float = Field(0.3, gt=0.0, lt=1.0)
    reserve_s: float = Field(30.0, ge=0.0)

    @model_validator(mode="after")
    def _reserve_leaves_time(self) -> BudgetConfig:
        if self.seconds is not None and self.reserve_s >= self.seconds * (1 - self.tuning_share):
            raise ValueError(
                f"reserve_s: {self.reserve_s} s leaves no training time in a budget of {self.seconds} s "
                f"of which tuning takes {self.tuning_share:.0%}; expected below "
                f"{self.seconds * (1 - self.tuning_share):.0f} s"
            )
        return self
