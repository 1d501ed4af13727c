"""Where the shipped studies' specs and data live, installed or in a source tree.

A study is a folder of specs (``study.yaml``, ``raw.yaml``, ``codelists.yaml``,
``conformance.yaml``, ``sdtm/``, ``adam/``). The shipped studies are the subfolders of the
studies folder that hold a ``study.yaml``: ``itp-adam run --study NAME`` runs one,
``--specs DIR`` any folder of specs, ``itp-adam studies`` lists them.

A shipped study's data ship by convention in ``itp_adam/data/NAME/`` (:func:`study_data`): the
raw export's form CSVs for a study from raw forms, ``sdtm.zip`` (its domain files) for a study
from SDTM. That is what ``run`` reads when neither ``--raw`` nor ``--sdtm`` is given
(:func:`shipped_input`)."""

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


def data_dir() -> Path:
    """The folder of the shipped studies' data (``itp_adam/data``)."""
    return _PKG / "data"


def study_data(name: str) -> Path:
    """Where the shipped study ``name``'s data ship: ``itp_adam/data/NAME/`` (it may not exist)."""
    return data_dir() / name


SDTM_ZIP = "sdtm.zip"
"""The file of a shipped SDTM study's domain files in its data folder."""

VALIDATION_REPORT = "validation.csv"
"""``itp-adam validate FOLDER``'s findings, written into the run's output folder by default."""

TRACE_FILE = "trace.csv"
"""The run's ``sdtm/`` file linking every SDTM record to its raw row (not a dataset)."""


def shipped_name(specs_dir: Path) -> str | None:
    """The name of the shipped study whose specs folder ``specs_dir`` is, or None."""
    try:
        where = Path(specs_dir).resolve()
    except OSError:
        return None
    return next((name for name, folder in shipped_studies().items() if folder.resolve() == where),
                None)


def shipped_input(specs_dir: Path, kind: str) -> Path | None:
    """The data shipped with the study of ``specs_dir`` for its input ``kind`` (``"raw"``: the
    raw export folder ``data/NAME/``; ``"sdtm"``: ``data/NAME/sdtm.zip``), or None when the
    study is not a shipped one or no such data ship with it."""
    name = shipped_name(specs_dir)
    if name is None:
        return None
    found = study_data(name) / SDTM_ZIP if kind == "sdtm" else study_data(name)
    return found if (found.is_file() if kind == "sdtm" else found.is_dir()) else None


def shipped_study_dir() -> Path:
    """The default study's raw export that ships with the package (its form CSVs, in
    ``itp_adam/data/`` under the study's name: :func:`study_data` of :data:`DEFAULT_STUDY`)."""
    return study_data(DEFAULT_STUDY)
