"""The output-size formulas of convolution, pooling and transposed convolution layers."""

from __future__ import annotations

import math

import keras


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: str = "valid") -> int:
    """Output length along one axis of a convolution or pooling window.

    ``valid`` (no padding): ``floor((size - kernel) / stride) + 1``.
    ``same`` (zero padding so every input position is visited): ``ceil(size / stride)``.
    This is the standard formula ``floor((size + 2 * pad - kernel) / stride) + 1`` with the
    padding each mode implies.

    Raises:
        ValueError: a non-positive argument, an unknown padding, or a kernel larger than a ``valid``
            input (the output would be empty).
    """
    for name, value in (("size", size), ("kernel", kernel), ("stride", stride)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if padding == "same":
        return math.ceil(size / stride)
    if padding == "valid":
        if kernel > size:
            raise ValueError(f"kernel {kernel} is larger than the input size {size} with 'valid' padding")
        return (size - kernel) // stride + 1
    raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")


def conv_transpose_output_size(
    size: int, kernel: int, stride: int = 1, padding: str = "valid", output_padding: int | None = None
) -> int:
    """Output length along one axis of a transposed convolution (a "deconvolution").

    The transposed convolution inverts the shape arithmetic of a convolution with the same
    kernel, stride and padding: ``(size - 1) * stride + kernel - 2 * pad + output_padding``, with
    ``pad = kernel // 2`` for ``same`` and 0 for ``valid``. When ``output_padding`` is None, Keras
    picks the output that a convolution would map back to ``size``: ``size * stride`` for
    ``same`` and ``size * stride + max(kernel - stride, 0)`` for ``valid``.

    Raises:
        ValueError: a non-positive argument, an unknown padding, or an ``output_padding`` not
            smaller than ``stride``.
    """
    for name, value in (("size", size), ("kernel", kernel), ("stride", stride)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if padding not in ("same", "valid"):
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
    if output_padding is None:
        if padding == "same":
            return size * stride
        return size * stride + max(kernel - stride, 0)
    if not 0 <= output_padding < stride:
        raise ValueError(f"output_padding must be in [0, stride={stride}), got {output_padding}")
    pad = kernel // 2 if padding == "same" else 0
    return (size - 1) * stride + kernel - 2 * pad + output_padding


def layer_output_shapes(model: keras.Model) -> list[tuple[str, str, tuple | None]]:
    """``(layer name, layer class, output shape)`` for every layer, input first; the shape is None
    where the layer has no single symbolic output (a subclassed model's layers, a shared layer)."""
    shapes = []
    for layer in model.layers:
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            shape = None
        shapes.append((layer.name, type(layer).__name__, shape))
    return shapes


def model_summary_text(model: keras.Model) -> str:
    """Keras' summary followed by the per-layer output shapes, as one text block.

    Never raises: a model Keras cannot summarize gets the reason in place of the summary.
    """
    lines: list[str] = []
    try:
        model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=100)
    except Exception as err:  # noqa: BLE001 - a summary is a report, never a reason to fail
        lines.append(f"(Keras could not summarize {model.name}: {type(err).__name__}: {err})")
    lines.append("")
    lines.append("Per-layer output shapes (batch dimension first):")
    lines.extend(f"  {name:<28} {kind:<22} {shape}" for name, kind, shape in layer_output_shapes(model))
    return "\n".join(lines)
