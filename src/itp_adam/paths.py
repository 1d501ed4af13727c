"""Where the shipped study data and the study specs live, installed or in a source tree.

A study is a folder of specs (``study.yaml``, ``raw.yaml``, ``codelists.yaml``,
``conformance.yaml``, ``sdtm/``, ``adam/``). The shipped studies are the subfolders of the
studies folder that hold a ``study.yaml``: ``itp-adam run --study NAME`` runs one,
``--specs DIR`` any folder of specs, ``itp-adam studies`` lists them."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent

from .studies import DEFAULT_STUDY  # what `itp-adam run` runs without --study or --specs


def studies_dir() -> Path:
    """The folder of the shipped studies: packaged as ``itp_adam/specs`` when installed,
    ``specs/`` in a checkout."""
    packaged = _PKG / "specs"
    if packaged.is_dir():
        return packaged
    return _PKG.parents[1] / "specs"


def shipped_studies() -> dict[str, Path]:
    """Name -> specs folder of every shipped study (a subfolder holding a ``study.yaml``), by name."""
    home = studies_dir()
    if not home.is_dir():
        return {}
    return {p.name: p for p in sorted(home.iterdir()) if (p / "study.yaml").is_file()}


def study_dir(name: str) -> Path:
    """The specs folder of the shipped study ``name``; an unknown name is an
    :class:`~itp_adam.errors.InputError` (exit 2) listing the shipped ones."""
    studies = shipped_studies()
    if name in studies:
        return studies[name]
    from .errors import InputError

    names = ", ".join(studies) or "none"
    raise InputError("is not a shipped study", option="--study", value=name,
                     expected=f"one of: {names} (`itp-adam studies` lists them)")


def default_specs_dir() -> Path:
    """The specs of the default study (:data:`DEFAULT_STUDY`)."""
    return studies_dir() / DEFAULT_STUDY


def shipped_study_dir() -> Path:
    """The 167-subject raw export that ships with the package (CSV folder)."""
    return _PKG / "data" / "study"
