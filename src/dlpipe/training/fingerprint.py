"""What identifies a training configuration, so a backup resumes only the training it was made for."""

from __future__ import annotations

import hashlib
import json

from dlpipe.training.precision import resolved_precision


def configuration_fingerprint(config, data_spec) -> str:
    """A short hash of everything that shapes a trained model: a backup resumes only with its own.

    Output paths and verbosity are left out: moving them does not change what is trained; so is
    the run's budget, which only decides how many of the configured epochs are trained.
    """
    dumped = config.model_dump(mode="json")
    # What `auto` means on this machine: a bfloat16 backup must not resume as float32 elsewhere.
    dumped["training"]["mixed_precision"] = resolved_precision(config.training.mixed_precision)
    dumped.pop("tuning", None)
    dumped.pop("budget", None)
    for key in ("backup_dir", "checkpoint_dir", "verbose"):
        dumped["training"].pop(key, None)
    for key in ("data_dir", "source_dirs", "network_timeout_s"):
        dumped["dataset"].pop(key, None)
    payload = json.dumps(
        {"config": dumped, "data": data_spec.model_dump(mode="json")}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
