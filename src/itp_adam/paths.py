"""Where the shipped study data and the study specs live, installed or in a source tree."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def default_specs_dir() -> Path:
    """The study specs: packaged as ``itp_adam/specs`` when installed, ``specs/`` in a checkout."""
    packaged = _PKG / "specs"
    if packaged.is_dir():
        return packaged
    return _PKG.parents[1] / "specs"


def shipped_study_dir() -> Path:
    """The 167-subject raw export that ships with the package (CSV folder)."""
    return _PKG / "data" / "study"
