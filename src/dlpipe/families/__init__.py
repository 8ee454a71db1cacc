"""Model families. Each module of this package registers one family (see ``registry.Family``);
importing the package imports them all, so adding a family is adding a module."""

from __future__ import annotations

import importlib
import pkgutil

from dlpipe.families.registry import Family, TrainingPhase, register, registered

_discovered = False


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    for module in pkgutil.iter_modules(__path__):
        if module.name != "registry" and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    _discovered = True


def registered_families() -> dict[str, Family]:
    """Every registered family by name."""
    _discover()
    return registered()


def check_fits_data(config, spec) -> None:
    """Raise ValueError, naming the key, when the block's family or task cannot learn the data
    ``spec`` describes (run by the data stage as soon as the data is loaded, and by every fit)."""
    from dlpipe.tasks import get_task

    get_task(config.task).check_data(spec, config.training.loss)
    family = get_family(config.model.family)
    if family.check_data is not None:
        family.check_data(spec, config)


def prepare_family(config, spec, project_params: dict) -> None:
    """Do what the block's family needs done before any of its models is built (see
    ``Family.prepare``); nothing for most families. ``project_params`` holds every parameter block."""
    family = get_family(config.model.family)
    if family.prepare is not None:
        family.prepare(config, spec, project_params)


def get_family(name: str) -> Family:
    """The family registered as ``name``; KeyError lists the registered ones."""
    families = registered_families()
    try:
        return families[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; registered: {sorted(families)}") from None


__all__ = [
    "Family",
    "TrainingPhase",
    "check_fits_data",
    "get_family",
    "prepare_family",
    "register",
    "registered_families",
]
