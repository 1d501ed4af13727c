"""SDTM stage: the raw-data rules applied before mapping, then every SDTM dataset spec.

Before any spec is evaluated, each raw form goes through the rules of ``sap.md`` and
``raw-forms.md`` that decide which raw rows become records, each rule reporting what it did
to ``data-issues.csv`` (so every raw row is either a record or an entry there; every rule
that leaves a row out says "left out of SDTM" or "collapsed to the first"):

0. **Reader notes** (extra files, sheets or columns ignored, byte-order marks removed) are
   reported (info): nothing is lost, but the reviewer sees what the export held.
1. **Empty rows** (blank in every column of the layout) are left out (info).
2. **Rows without their key**: a blank ``SUBJID``, or a blank ``one_row_per`` key, cannot
   belong to a subject (or a dictionary term): left out (warning).
3. **Exact duplicates** (every column equal) are collapsed to the first row (SAP
   "Laboratory standardisation"; applied to every form, since raw-forms.md lists duplicate
   rows entered twice as a general property of the export).
4. **One row per subject** forms (``one_row_per`` in ``raw.yaml``) with two different rows for
   one key stop the run: which one is right cannot be decided by a rule.
5. **No subjects**: a DM form with no rows left stops the run (nothing could be analysed).
6. **Subjects missing from DM**: rows of other forms whose SUBJID is not in DM are left out
   (SDTM needs every subject in DM).
7. **Data cut-off**: rows whose cut-off date (``study.yaml`` ``cutoff_columns``) is after the
   cut-off are left out; for a partial date, when even its earliest possible day is after it.
   An event starting on the cut-off date is kept.

Each prepared form gets ``_FORM`` (the form name) next to ``_ROW`` (the raw row), the link
from every SDTM record back to its raw row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from . import issues
from .builder import build_dataset
from .dates import iso_date_range, raw_date_to_iso
from .errors import InputError
from .reader import RawExport
from .spec import Specs, build_order

SUBJID = "SUBJID"


def prepare_forms(export: RawExport, specs: Specs) -> dict[str, pd.DataFrame]:
    """The raw forms after the duplicate, subject and cut-off rules (see module doc)."""
    _report_notes(export.notes)
    forms: dict[str, pd.DataFrame] = {}
    for name, frame in export.forms.items():
        frame = frame.assign(_FORM=name)
        frame = _drop_empty_rows(frame, name, specs)
        frame = _drop_rows_without_key(frame, name, specs)
        frame = _collapse_duplicates(frame, name)
        _check_one_row_per(frame, name, specs, export)
        forms[name] = frame
    if "DM" in forms and len(forms["DM"]) == 0:
        raise InputError("the DM form has no subjects (no rows, or none with a SUBJID)",
                         file=str(export.files.get("DM", "DM")),
                         expected="one row per subject with its SUBJID")
    dm_subjects = set(forms["DM"][SUBJID]) if "DM" in forms else set()
    for name, frame in forms.items():
        if name != "DM" and SUBJID in frame:
            orphan = ~frame[SUBJID].isin(dm_subjects).to_numpy(dtype=bool)
            issues.report(frame[orphan], column=SUBJID, severity="warning",
                          rule="subject not in DM: record left out of SDTM")
            frame = frame[~orphan]
        column = specs.study.cutoff_columns.get(name)
        if column is not None and column in frame:
            after = _after_cutoff(frame[column], specs.study.cutoff_date)
            issues.report(frame[after], column=column, severity="info",
                          rule=f"dated after the data cut-off {specs.study.cutoff_date:%Y-%m-%d}: "
                               "record left out of SDTM")
            frame = frame[~after]
        forms[name] = frame.reset_index(drop=True)
    return forms


def _report_notes(notes: list[dict]) -> None:
    """The reader's structural notes as data issues (info), one entry per note."""
    for note in notes:  # a handful per export, not one per record
        issues.report(pd.DataFrame({"_FORM": [note.get("form", "")],
                                    "_ROW": pd.array([note.get("row")], dtype="Int64")}),
                      column=note.get("column", ""), values=str(note.get("value", "")),
                      severity="info", rule=note["rule"])


def _drop_empty_rows(frame: pd.DataFrame, name: str, specs: Specs) -> pd.DataFrame:
    """Rows blank in every layout column are not records: left out and reported (info)."""
    blank = np.ones(len(frame), dtype=bool)
    for column in specs.layout.forms[name].columns:  # a handful; a blank number is NA
        values = frame[column]
        empty = values.eq("") if pd.api.types.is_string_dtype(values) else values.isna()
        blank &= empty.to_numpy(dtype=bool)
    issues.report(frame[blank], severity="info", rule="empty row (blank in every column): left out of SDTM")
    return frame[~blank]


def _drop_rows_without_key(frame: pd.DataFrame, name: str, specs: Specs) -> pd.DataFrame:
    """Rows whose SUBJID (or ``one_row_per`` key) is blank belong to no subject (or term):
    left out and reported (warning)."""
    keys = dict.fromkeys(k for k in (SUBJID, specs.layout.forms[name].one_row_per) if k and k in frame)
    for key in keys:
        blank = frame[key].astype("string").fillna("").eq("").to_numpy(dtype=bool)
        issues.report(frame[blank], column=key, severity="warning",
                      rule=f"no {key}: record left out of SDTM")
        frame = frame[~blank]
    return frame


def _collapse_duplicates(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    columns = [c for c in frame.columns if c not in ("_ROW", "_FORM")]
    duplicate = frame.duplicated(columns, keep="first").to_numpy(dtype=bool)
    if duplicate.any():
        first_row = frame.groupby(columns, dropna=False, sort=False)["_ROW"].transform("first")
        issues.report(frame[duplicate], severity="warning", values=(
            "same as row " + first_row[duplicate].astype("string")),
            rule="exact duplicate row: collapsed to the first")
    return frame[~duplicate]


def _check_one_row_per(frame: pd.DataFrame, name: str, specs: Specs, export: RawExport) -> None:
    key = specs.layout.forms[name].one_row_per
    if key is None or key not in frame:
        return
    repeated = frame[key].duplicated(keep="first").to_numpy(dtype=bool)
    if repeated.any():
        row = frame[repeated].iloc[0]
        first = frame.loc[frame[key] == row[key], "_ROW"].iloc[0]
        raise InputError(f"{key} {row[key]} appears twice with different values (rows {first} and "
                         f"{row['_ROW']}); the form has one row per {key}",
                         file=str(export.files.get(name, name)), row=int(row["_ROW"]), column=key,
                         value=str(row[key]), expected=f"one row per {key}")


def _after_cutoff(values: pd.Series, cutoff) -> "pd.Series[bool]":
    """True where the (possibly partial) raw date's earliest possible day is after ``cutoff``."""
    earliest, _ = iso_date_range(raw_date_to_iso(values)[0])
    return (earliest > pd.Timestamp(cutoff)).fillna(False).to_numpy(dtype=bool)


def build_sdtm(specs: Specs, forms: dict[str, pd.DataFrame],
               tick: Callable[[str], None] = lambda _: None) -> dict[str, pd.DataFrame]:
    """Every SDTM dataset of ``specs`` (in dependency order), with trace columns kept.

    ``tick(name)`` is called after each dataset (the progress bar)."""
    built: dict[str, pd.DataFrame] = {}
    for name in build_order(specs.sdtm):
        built[name] = build_dataset(specs.sdtm[name], forms=forms, built=built,
                                    study=specs.study, codelists=specs.codelists)
        tick(name)
    return built


def trace_table(datasets: dict[str, pd.DataFrame], specs: Specs) -> pd.DataFrame:
    """One row per SDTM record: domain, USUBJID, --SEQ (if any), raw form and raw row."""
    parts = []
    for name, frame in datasets.items():
        if "_ROW" not in frame:
            continue
        seq = next((v.name for v in specs.sdtm[name].variables if v.name.endswith("SEQ")), None)
        parts.append(pd.DataFrame({
            "DOMAIN": name,
            "USUBJID": frame["USUBJID"] if "USUBJID" in frame else "",
            "SEQ": (frame[seq] if seq else pd.Series(pd.NA, index=frame.index)).astype("Int64"),
            "FORM": frame["_FORM"],
            "ROW": frame["_ROW"],
        }))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["DOMAIN", "USUBJID", "SEQ", "FORM", "ROW"])
