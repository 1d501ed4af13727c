"""Registry of derivation functions, so YAML specs can call a derivation by name.

A module registers its public derivations with the ``@derivation("name")`` decorator; the
spec runner resolves a name with :func:`get_derivation`. The built-in derivation modules are
imported on first lookup, so a name is found whatever the caller imported before.
Registrations made inside :func:`scoped` (a run's plug-ins, ``itp_adam.spec.plugins``) end with it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

_REGISTRY: dict[str, Callable[..., object]] = {}
_BUILTIN_MODULES = (
    "itp_adam.derive.dates",
    "itp_adam.derive.windows",
    "itp_adam.derive.core",
    "itp_adam.derive.grading",
    "itp_adam.derive.sdtm",
    "itp_adam.derive.labs",
    "itp_adam.derive.events",
    "itp_adam.derive.adam",
    "itp_adam.derive.subject",
    "itp_adam.derive.records",
    "itp_adam.derive.bds",
    "itp_adam.derive.design",
)


class DerivationClash(ValueError):
    """A derivation name registered to two different functions."""


class UnknownDerivation(KeyError):
    """A spec named a derivation that is not registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"unknown derivation {self.name!r}; known derivations: {', '.join(self.known)}"


def derivation(name: str) -> Callable[[F], F]:
    """Decorator registering ``func`` under ``name`` (re-registering the same function is allowed)."""

    def register(func: F) -> F:
        existing = _REGISTRY.get(name)
        if existing is not None and (existing.__module__, existing.__qualname__) != (
            func.__module__,
            func.__qualname__,
        ):
            raise DerivationClash(
                f"derivation {name!r} is already registered to "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        _REGISTRY[name] = func
        return func

    return register


@contextmanager
def scoped() -> Iterator[None]:
    """Derivations registered inside the block are forgotten at its end, so the plug-ins of
    one run never reach the next run in the same process. The built-ins stay."""
    _load_builtins()  # first: they must not be registered inside the scope and then dropped
    saved = dict(_REGISTRY)
    try:
        yield
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(saved)


_builtins_loaded = False


def _load_builtins() -> None:
    """Import the built-in derivation modules, once: every lookup calls this, and loading the
    specs looks up a few hundred names (``import_module`` of a loaded module is not free)."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    _builtins_loaded = True


def get_derivation(name: str) -> Callable[..., object]:
    """Return the derivation registered under ``name``; raise :class:`UnknownDerivation` if none."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownDerivation(name, derivation_names()) from None


def derivation_names() -> list[str]:
    """Sorted names of all registered derivations."""
    _load_builtins()
    return sorted(_REGISTRY)
