"""itp_adam: raw clinical study export -> SDTM -> ADaM -> analysis results, spec-driven.

The programmer's API (``docs/api.md``): every built-in derivation by its name
(``itp_adam.derive_var_dy(df, ...)``, also ``from itp_adam.derive import derive_var_dy``)
and the helpers in :data:`HELPERS`. Names are imported on first use (PEP 562), so
``import itp_adam`` (and the command line's start-up) imports neither pandas nor the library.
"""

from __future__ import annotations

import importlib
from typing import Any

from .derive import DERIVATIONS

__version__ = "0.1.0"

HELPERS: dict[str, str] = {
    "run": "itp_adam.stages.pipeline",               # the whole run: raw export -> outputs
    "load_specs": "itp_adam.spec.model",             # a study's folder of specs, checked
    "build_dataset": "itp_adam.spec.evaluate",       # one dataset from its spec
    "compile_expression": "itp_adam.spec.expr",      # the spec expression language
    "derivation": "itp_adam.spec.registry",          # register a derivation for the specs
    "get_derivation": "itp_adam.spec.registry",
    "derivation_names": "itp_adam.spec.registry",
    "require_vars": "itp_adam.derive.checks",        # admiral-style input check
    "MissingVariable": "itp_adam.derive.checks",
    "InputError": "itp_adam.errors",
    "read_xpt": "itp_adam.io.xpt",                   # SAS XPORT v5
    "write_xpt": "itp_adam.io.xpt",
    "compare_frames": "itp_adam.checks.compare",     # PROC COMPARE-style QC
}
"""The public helpers besides the derivations: name -> the module defining it."""

__all__ = sorted([*DERIVATIONS, *HELPERS])


def __getattr__(name: str) -> Any:
    """Import the module of a public name on first use (PEP 562)."""
    if name in DERIVATIONS:
        module = f"itp_adam.derive.{DERIVATIONS[name]}"
    elif name in HELPERS:
        module = HELPERS[name]
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
