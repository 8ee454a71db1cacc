"""Schemas of the tuning stage: the search space, sampler, pruner and study."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dlpipe.config.common import PRUNERS, SAMPLERS, NonNegativeInt, PositiveInt, Strict

STORAGE_SCHEMES = ("sqlite:///", "journal:///", "postgresql+psycopg://")


def _has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.password is not None or "password" in parsed.query


class SearchParameter(Strict):
    """One dimension of the search space: ``path`` is a dotted key of the family's parameters."""

    path: str = Field(min_length=1)
    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SearchParameter:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical search parameter needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None or self.log:
                raise ValueError("a categorical search parameter takes 'choices', not low/high/log")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"an {self.type} search parameter needs both 'low' and 'high'")
        if self.choices is not None:
            raise ValueError(f"an {self.type} search parameter takes low/high, not 'choices'")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must be <= high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs low > 0, got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("'step' and 'log: true' cannot be combined")
        if self.step is not None and self.step <= 0:
            raise ValueError(f"step must be > 0, got {self.step}")
        if self.type == "int":
            for name in ("low", "high", "step"):
                value = getattr(self, name)
                if value is not None and not float(value).is_integer():
                    raise ValueError(f"an int search parameter needs an integer {name}, got {value}")
        return self


class SamplerConfig(Strict):
    name: Literal[SAMPLERS] = "tpe"  # type: ignore[valid-type]
    seed: int | None = 42
    n_startup_trials: PositiveInt = 4  # TPE: random trials before the model-based search


class PrunerConfig(Strict):
    name: Literal[PRUNERS] = "median"  # type: ignore[valid-type]
    n_startup_trials: NonNegativeInt = 2
    n_warmup_steps: NonNegativeInt = 1
    min_resource: PositiveInt = 1
    reduction_factor: int = Field(3, ge=2)


class TuningConfig(Strict):
    enabled: bool = True
    study_name: str = Field(min_length=1)
    storage_path: str = Field(min_length=1)  # SQLite file; re-running continues the same study
    # Where the study lives, as a URL; null: the SQLite file at storage_path. `journal:///<path>`
    # (relative) or `journal:////<absolute path>`: an Optuna journal file, which several processes
    # on one machine (or on a shared file system) can write at once. `postgresql+psycopg://<host>:
    # <port>/<database>`: a PostgreSQL database, for processes on several machines.
    storage: str | None = None
    # The entry of conf/<env>/credentials.yml with the database's username and password.
    storage_credentials: str | None = None
    # This process joins the open tuning session of a shared study as a worker: it runs trials
    # until the session has all of its trials, then stops; the run that opened the session trains
    # the final model. Run a worker up to the tuning node only (see the README, "Scaling out").
    worker: bool = False
    # How long a worker waits for a session to join before giving up.
    worker_wait_s: float = Field(600.0, gt=0.0)
    # How often a trial of a shared study records that its process lives; one that misses four is
    # taken as abandoned by the processes of other hosts.
    heartbeat_s: float = Field(30.0, gt=0.0)
    # How long to wait for a study file that another process holds locked before failing.
    lock_timeout_s: float = Field(60.0, gt=0.0)
    n_trials: PositiveInt = 10  # trials added by each run
    timeout_s: float | None = Field(None, gt=0.0)
    epochs: PositiveInt = 3
    train_subset: PositiveInt | None = None
    validation_subset: PositiveInt | None = None
    # A metric the family's task reports, and its direction (both checked with the family);
    # None: the task's main validation metric and its direction.
    metric: str | None = None
    direction: Literal["maximize", "minimize"] | None = None
    sampler: SamplerConfig = SamplerConfig()
    pruner: PrunerConfig = PrunerConfig()
    search_space: list[SearchParameter] = []

    @model_validator(mode="after")
    def _worker_needs_a_shared_study(self) -> TuningConfig:
        if self.worker and not (self.storage or "").startswith(STORAGE_SCHEMES[1:]):
            raise ValueError(
                f"worker: true needs a study several processes can write, but tuning.storage is "
                f"{self.storage!r} (the SQLite file at storage_path is for one process): set "
                "tuning.storage to journal:///<path> or a postgresql+psycopg:// URL in every process "
                "that tunes it"
            )
        return self

    @field_validator("storage")
    @classmethod
    def _known_storage(cls, url: str | None) -> str | None:
        if url is None:
            return url
        scheme = url.split("://", 1)[0]
        if not url.startswith(STORAGE_SCHEMES):
            raise ValueError(
                f"a URL of scheme '{scheme}' is not a storage dlpipe opens: expected a URL starting with "
                f"{' or '.join(STORAGE_SCHEMES)} (or null for the SQLite file at storage_path)"
            )
        if scheme.startswith("postgresql") and _has_password(url):
            # Parameters are logged to MLflow: a password here would be in every run.
            raise ValueError(
                "the URL holds a password; parameters are logged to MLflow, so put it in "
                "conf/local/credentials.yml and name that entry in tuning.storage_credentials"
            )
        return url

    # A new study's first trial is the configured values of the searched parameters (those the
    # search space can hold; the others are sampled), so the defaults are always among the trials.
    warm_start: bool = True
