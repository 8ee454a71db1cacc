"""Raw inputs for prediction: checked against what the model was trained on, read from files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class InvalidInputs(ValueError):
    """Inputs a model cannot take; the message names what was expected."""


def check_inputs(inputs: np.ndarray, shape: list[int | None], dtype: str) -> np.ndarray:
    """``inputs`` as an array of ``dtype``, one example per row of ``shape`` (``None``: any size).

    Raises InvalidInputs for an empty batch, a wrong example shape, strings where numbers are
    expected (or the reverse), and numbers that ``dtype`` cannot hold exactly (fractions or
    out-of-range values for uint8 pixels): never a silent cast that changes the answer.
    """
    inputs = np.asarray(inputs)
    expected = f"a batch of shape (n, {', '.join('any' if d is None else str(d) for d in shape)}) of {dtype}"
    if inputs.ndim == 0:
        raise InvalidInputs(
            f"inputs is a single {inputs.dtype} value, not a list of examples: expected {expected}"
        )
    if len(inputs) == 0:
        raise InvalidInputs(f"empty input: expected {expected} with n >= 1")
    if inputs.ndim != len(shape) + 1 or any(
        size is not None and got != size for got, size in zip(inputs.shape[1:], shape, strict=True)
    ):
        raise InvalidInputs(f"inputs of shape {inputs.shape}: expected {expected}")
    target = np.dtype(dtype)
    if target.kind in "OSU":
        if inputs.dtype.kind not in "OSU" or not all(isinstance(v, str | bytes) for v in inputs.flat):
            raise InvalidInputs(f"inputs of {inputs.dtype}: expected strings ({expected})")
        return inputs.astype(object)
    if inputs.dtype.kind not in "iuf":
        raise InvalidInputs(f"inputs of {inputs.dtype}: expected numbers ({expected})")
    if target.kind in "iu":
        info = np.iinfo(target)
        if inputs.dtype.kind == "f" and not np.all(np.isfinite(inputs) & (inputs == np.round(inputs))):
            raise InvalidInputs(
                f"inputs hold fractions: expected raw whole-number values of {dtype} ({expected}); "
                "send the raw values, not values scaled to [0, 1]"
            )
        if inputs.min() < info.min or inputs.max() > info.max:
            raise InvalidInputs(
                f"inputs range from {inputs.min()} to {inputs.max()}: {dtype} holds {info.min} to {info.max}"
            )
    elif not np.all(np.isfinite(inputs)):
        raise InvalidInputs(f"inputs hold NaN or infinity: expected finite {dtype} values")
    return inputs.astype(target)


def read_inputs(path: Path) -> tuple[list[str], np.ndarray]:
    """The inputs stored at ``path`` and a name for each: a ``.npy`` array (rows named by their
    index) or a folder of images (named by file, in name order; grayscale or RGB as stored)."""
    from PIL import Image

    path = Path(path)
    if path.suffix == ".npy":
        if not path.is_file():
            raise FileNotFoundError(f"predict.inputs: no array file at {path}")
        array = np.load(path, allow_pickle=False)
        return [str(index) for index in range(len(array))], array
    if not path.is_dir():
        raise FileNotFoundError(f"predict.inputs: {path} is neither a .npy file nor a folder of images")
    files = sorted(file for file in path.iterdir() if file.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"predict.inputs: no {'/'.join(IMAGE_SUFFIXES)} images in {path}")
    images = []
    for file in files:
        with Image.open(file) as image:
            images.append(np.asarray(_as_pixels(image)))
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise InvalidInputs(f"predict.inputs: the images in {path} differ in size: {sorted(shapes)}")
    return [file.name for file in files], np.stack(images)


def _as_pixels(image):
    """Gray or RGB pixel values: palette indices, 1-bit, 16-bit and alpha images converted."""
    if image.mode in ("L", "RGB"):
        return image
    return image.convert("L" if image.mode in ("1", "I", "I;16", "LA") else "RGB")


def fit_channels(inputs: np.ndarray, shape: list[int | None]) -> np.ndarray:
    """Grayscale images read as (n, height, width) given the channel axis a model of ``shape``
    (height, width, 1) expects; other inputs unchanged."""
    if inputs.ndim == len(shape) and len(shape) == 3 and shape[-1] == 1:
        return inputs[..., np.newaxis]
    return inputs
