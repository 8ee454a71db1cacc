"""Model factories: one per family, functional API, returned uncompiled."""

from dlpipe.models.factory import build_model

__all__ = ["build_model"]
