"""dlpipe: reproducible, tracked, tunable deep-learning pipelines."""

import os

# TensorFlow reads this once, at import: set it before any module imports TF so users are not
# greeted by pages of C++ INFO logs. An explicit value in the environment still wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
# MLflow retries a lost tracking server 7 times with doubling back-off and waits 120 s per request:
# minutes of stalled training per logging call. dlpipe keeps tracking failures short (they are
# reported, and per-epoch metrics are buffered and sent later); explicit values still win.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")

__version__ = "0.1.0"
