"""Kedro hooks of dlpipe."""

import logging

from kedro.framework.hooks import hook_impl

from dlpipe.config.schema import validate_parameters

logger = logging.getLogger(__name__)


class ParameterValidationHooks:
    """Validates every parameter group against its schema when the Kedro context is created.

    This is the earliest hook of a run: a bad value fails it before the catalog is used, before any
    node runs and before kedro-mlflow starts a run, so nothing is trained and no run is left behind.
    """

    @hook_impl
    def after_context_created(self, context) -> None:
        validate_parameters(context.params)
        logger.info("Parameters validated for families: %s", ", ".join(sorted(context.params)))
