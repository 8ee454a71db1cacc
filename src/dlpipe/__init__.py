"""dlpipe: reproducible, tracked, tunable deep-learning pipelines."""

import os

# TensorFlow reads this once, at import: set it before any module imports TF so users are not
# greeted by pages of C++ INFO logs. An explicit value in the environment still wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

__version__ = "0.1.0"
