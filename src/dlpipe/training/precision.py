"""Mixed precision: the dtype policy a block's model is built under, ``auto`` decided per machine."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

import keras

logger = logging.getLogger(__name__)


@functools.cache
def native_bfloat16_cpu() -> bool:
    """Whether this machine's CPU computes bfloat16 in hardware (Linux CPU flags AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolved_precision(mixed_precision: str) -> str:
    """``training.mixed_precision`` with ``auto`` decided for this machine: ``mixed_bfloat16``
    without a GPU on a CPU with native bfloat16, else ``none`` (a GPU's best policy depends on its
    generation, so it is left to the configuration)."""
    if mixed_precision != "auto":
        return mixed_precision
    if not keras.distribution.list_devices("gpu") and native_bfloat16_cpu():
        return "mixed_bfloat16"
    return "none"


@contextlib.contextmanager
def precision_policy(mixed_precision: str) -> Iterator[None]:
    """Build models under ``training.mixed_precision`` (``none``: float32); the process-wide policy
    is restored afterwards, so it never leaks into another block's model. A model keeps the policy
    of each of its layers (also when saved and loaded). ``mixed_float16`` without a GPU warns: a
    CPU emulates float16, which makes training slower, not faster. ``auto`` is decided by
    :func:`resolved_precision`."""
    mixed_precision = resolved_precision(mixed_precision)
    if mixed_precision == "none":
        yield
        return
    if mixed_precision == "mixed_float16" and not keras.distribution.list_devices("gpu"):
        logger.warning(
            "training.mixed_precision: 'mixed_float16' on a machine without a GPU: the CPU emulates "
            "float16, so training is slower than in float32 (benchmarks/mixed_precision.py measures "
            "by how much here); use it on a GPU, or 'mixed_bfloat16' / 'none' on a CPU"
        )
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(mixed_precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
