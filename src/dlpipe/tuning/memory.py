"""Keeping memory flat across the many models a study trains in one process."""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator


def release_memory() -> None:
    """Hand the heap pages glibc keeps for reuse back to the system (a no-op off glibc).

    Call it after ``keras.backend.clear_session()``, which has already collected the garbage:
    TensorFlow allocates and frees many mid-sized buffers per model, and glibc keeps the freed
    pages in its arenas.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _gradient_registry() -> dict | None:
    """TensorFlow's process-wide table of gradient functions (None where it cannot be reached)."""
    try:
        from tensorflow.python.framework import ops as tf_ops

        registry = tf_ops.gradient_registry._registry
    except (ImportError, AttributeError):
        return None
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def forget_graphs_of_finished_models() -> Iterator[None]:
    """Drop the gradient functions TensorFlow registered while the block ran, once it ends.

    Every traced training step registers a ``CustomGradient-<n>`` entry (from the all-reduce
    that Keras' optimizer goes through, even with one replica) in a process-wide table that
    nothing ever clears, and each entry holds the whole traced graph: 13 MiB or more per model.
    Trial after trial, that was the memory that grew. Use it only around models that are not
    trained again afterwards; sequential trials are such a block each.
    """
    registry = _gradient_registry()
    before = set(registry) if registry is not None else set()
    try:
        yield
    finally:
        if registry is not None:
            for name in set(registry) - before:
                if name.startswith("CustomGradient-"):
                    registry.pop(name, None)
