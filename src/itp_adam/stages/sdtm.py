"""SDTM stage: the raw-data rules applied before mapping, then every SDTM dataset spec.

Before any spec is evaluated, each raw form goes through the rules of ``sap.md`` and
``raw-forms.md`` that decide which raw rows become records, each rule reporting what it did
to ``data-issues.csv`` (so every raw row is either a record or an entry there; every rule
that leaves a row out says "left out of SDTM" or "collapsed to the first"):

0. **Reader notes** (extra files, sheets or columns ignored, byte-order marks removed) are
   reported (info): nothing is lost, but the reviewer sees what the export held; number or date
   cells of a workbook in a text column are a warning (Excel may have changed them).
1. **Empty rows** (blank in every column of the layout) are left out (info).
2. **Rows without their key**: a blank subject id (``subject_column`` of ``raw.yaml``, e.g.
   ``SUBJID``), or a blank ``one_row_per`` key, cannot
   belong to a subject (or a dictionary term): left out (warning).
3. **Exact duplicates** (every column equal) are collapsed to the first row (SAP
   "Laboratory standardisation"; applied to every form, since raw-forms.md lists duplicate
   rows entered twice as a general property of the export).
4. **One row per subject** forms (``one_row_per`` in ``raw.yaml``) with two different rows for
   one key stop the run: which one is right cannot be decided by a rule.
5. **No subjects**: a subject form (``subject_form`` of ``raw.yaml``, e.g. DM) with no rows
   left stops the run (nothing could be analysed).
6. **Subjects missing from the subject form**: rows of other forms whose subject id is not in
   it are left out (SDTM needs every subject in DM).
7. **Data cut-off**: rows whose cut-off date (``study.yaml`` ``cutoff_columns``) is after the
   cut-off are left out; for a partial date, when even its earliest possible day is after it.
   An event starting on the cut-off date is kept.

Each prepared form gets ``_FORM`` (the form name) next to ``_ROW`` (the raw row), the link
from every SDTM record back to its raw row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import issues
from ..spec.evaluate import build_dataset
from ..derive.columns import as_str
from ..derive.dates import RAW_DATE_FORMAT, iso_date_range, raw_date_to_iso
from ..derive.core import text_is_in
from ..errors import InputError
from ..io.raw import RawExport
from ..spec.model import Specs, build_order

Codes = tuple[np.ndarray, pd.Index]
"""A column as ``pd.factorize`` gives it: an integer code per row (-1: missing) and the
distinct values."""


def prepare_forms(export: RawExport, specs: Specs, require_subjects: bool = True,
                  origin: str | None = None) -> dict[str, pd.DataFrame]:
    """The raw forms after the duplicate, subject and cut-off rules (see module doc).

    Each rule narrows one boolean mask per form (a report copies only the rows it leaves
    out), and each form is filtered once at the end (a copy of a 3M-row form: 0.3 s). The
    subject and cut-off columns are coded once (``pd.factorize``) for the rules that use them.
    ``require_subjects=False``: a subject form without subjects is no error (one partition of a
    run may have none; the run checks the whole export, ``stages/partitions.py``).
    ``origin``: the piece of an export in pieces the forms come from; the records then trace
    to ``ORIGIN/FORM`` (``_FORM``), as the form files of two pieces share their names."""
    report_reader_notes(export.notes)
    subjects, subject = specs.layout.subject_form, specs.layout.subject_column
    frames: dict[str, pd.DataFrame] = {}
    kept: dict[str, np.ndarray] = {}
    coded: dict[str, dict[str, Codes]] = {}
    for name, frame in export.forms.items():
        frame = frame.assign(_FORM=name if origin is None else f"{origin}/{name}")
        cutoff_column = specs.study.cutoff_columns.get(name)
        coded[name] = {c: pd.factorize(frame[c]) for c in (subject, cutoff_column) if c in frame}
        keep = ~_empty_rows(frame, name, specs)
        keep &= ~_rows_without_key(frame, keep, name, specs)
        keep &= ~_collapse_duplicates(frame, keep, coded[name], subject)
        _check_one_row_per(frame, keep, name, specs, export, coded[name])
        frames[name], kept[name] = frame, keep
    if require_subjects and subjects in frames and not kept[subjects].any():
        raise InputError(f"the {subjects} form has no subjects (no rows, or none with a {subject})",
                         file=str(export.files.get(subjects, subjects)),
                         expected=f"one row per subject with its {subject}")
    listed = (frames[subjects][subject][kept[subjects]] if subjects in frames
              else pd.Series([], dtype="str"))
    forms: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        keep = kept[name]
        if name != subjects and subject in frame:
            codes, distinct = coded[name][subject]  # a missing id: never listed
            is_listed = np.append(text_is_in(pd.Series(distinct), listed), False)[codes]
            orphan = keep & ~is_listed
            _report(frame, orphan, subject, column=subject, severity="warning",
                    rule=f"subject not in {subjects}: record left out of SDTM")
            keep &= ~orphan
        column = specs.study.cutoff_columns.get(name)
        if column is not None and column in frame:
            after = keep & _after_cutoff(coded[name][column], specs.study.cutoff_date,
                                         specs.layout.date_format)
            _report(frame, after, subject, column=column, severity="info",
                    rule=f"dated after the data cut-off {specs.study.cutoff_date:%Y-%m-%d}: "
                         "record left out of SDTM")
            keep &= ~after
        forms[name] = _keep_rows(frame, keep)
    return forms


def _keep_rows(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """``frame[keep]`` with a new RangeIndex. Text columns are filtered by pyarrow with the
    boolean mask, about twice as fast as pandas' take by row number on a 3M-row form."""
    if keep.all():
        return frame.reset_index(drop=True)
    if not frame.columns.is_unique:
        return frame[keep].reset_index(drop=True)
    mask, rows = pa.array(keep), np.flatnonzero(keep)
    index = pd.RangeIndex(len(rows))
    kept = {}
    for name in frame.columns:  # a dozen columns
        values = frame[name]
        arrow = getattr(values.array, "_pa_array", None)
        if values.dtype == "str" and arrow is not None:
            kept[name] = as_str(arrow.filter(mask), index)
        else:
            kept[name] = pd.Series(values.array.take(rows), index=index, name=name, copy=False)
    return pd.DataFrame(kept, copy=False)


def _report(frame: pd.DataFrame, rows: np.ndarray, subject: str, **how: object) -> None:
    """Report the ``rows`` (a boolean mask) of ``frame``, copying only those rows and the
    columns a report shows (form, subject, raw row, the rule's column). ``subject``: the
    layout's subject column, shown in the log's subject column (``issues.COLUMNS``)."""
    if rows.any():
        shown = dict.fromkeys(c for c in ("_FORM", subject, "_ROW", "DOMAIN", how.get("column"))
                              if c in frame)
        found = frame.loc[rows, list(shown)]
        if subject != issues.SUBJECT and subject in found:
            found = found.assign(**{issues.SUBJECT: found[subject]})
        issues.report(found, **how)


def report_reader_notes(notes: list[dict]) -> None:
    """The reader's notes as data issues, one entry per note: info, or a warning for a note
    the reader marks ``WARNING`` (number or date cells in a text column). The raw export's
    (``RawExport.notes``) and an SDTM input's (``SdtmInput.notes``: NA read as missing,
    dataset files not read)."""
    for note in notes:  # a handful per export, not one per record
        issues.report(pd.DataFrame({"_FORM": [note.get("form", "")],
                                    "_ROW": pd.array([note.get("row")], dtype="Int64")}),
                      column=note.get("column", ""), values=str(note.get("value", "")),
                      severity="warning" if note.get("severity") == "WARNING" else "info",
                      rule=note["rule"])


def _empty_rows(frame: pd.DataFrame, name: str, specs: Specs) -> np.ndarray:
    """Rows blank in every layout column (``""`` text, NA number) are not records: reported
    (info). After the first column only the rows still blank are looked at."""
    candidates = np.arange(len(frame))
    for column in specs.layout.forms[name].columns:  # a handful; a blank number is NA
        values = frame[column] if len(candidates) == len(frame) else frame[column].iloc[candidates]
        empty = values.eq("") if pd.api.types.is_string_dtype(values) else values.isna()
        candidates = candidates[empty.to_numpy(dtype=bool)]
    blank = np.zeros(len(frame), dtype=bool)
    blank[candidates] = True
    _report(frame, blank, specs.layout.subject_column, severity="info",
            rule="empty row (blank in every column): left out of SDTM")
    return blank


def _rows_without_key(frame: pd.DataFrame, keep: np.ndarray, name: str,
                      specs: Specs) -> np.ndarray:
    """Rows of ``keep`` whose subject id (or ``one_row_per`` key) is blank or missing belong to
    no subject (or term): reported (warning)."""
    subject = specs.layout.subject_column
    keys = dict.fromkeys(k for k in (subject, specs.layout.forms[name].one_row_per) if k and k in frame)
    without = np.zeros(len(frame), dtype=bool)
    for key in keys:
        values = frame[key]
        missing = values.isna().to_numpy(dtype=bool)
        if pd.api.types.is_string_dtype(values):
            missing = missing | values.eq("").to_numpy(dtype=bool)
        blank = missing & keep & ~without
        _report(frame, blank, subject, column=key, severity="warning",
                rule=f"no {key}: record left out of SDTM")
        without |= blank
    return without


def _collapse_duplicates(frame: pd.DataFrame, keep: np.ndarray,
                         coded: dict[str, Codes], subject: str) -> np.ndarray:
    """Rows of ``keep`` equal in every column (``_ROW`` aside) to an earlier one: reported
    (warning, "same as row N") and returned as a mask, so the first of them stays."""
    columns = [c for c in frame.columns if c not in ("_ROW", "_FORM")]
    repeats, firsts = _repeated_rows(frame, columns, np.flatnonzero(keep), coded)
    duplicate = np.zeros(len(frame), dtype=bool)
    duplicate[repeats] = True
    first_row = pd.Series(frame["_ROW"].to_numpy()[firsts]).astype("string")
    _report(frame, duplicate, subject, severity="warning", values="same as row " + first_row,
            rule="exact duplicate row: collapsed to the first")
    return duplicate


def _repeated_rows(frame: pd.DataFrame, columns: list[str], rows: np.ndarray,
                   coded: dict[str, Codes]) -> tuple[np.ndarray, np.ndarray]:
    """The positions among ``rows`` (ascending) whose values in ``columns`` equal those of an
    earlier one of ``rows`` (missing equals missing, as in ``DataFrame.duplicated``), and the
    position of that first one. ``coded``: columns already coded.

    Works column by column on integer codes (``pd.factorize``, missing -> -1) combined into
    one exact integer key per row, and after each column keeps only the rows whose key so far
    may be shared (equal keys counted directly while they are small, else by a 64-bit hash
    into buckets, which can only keep too many). After the first few columns only the real
    repeats and a few hash collisions remain, so the other columns are coded only for those."""
    ids = np.zeros(len(rows), dtype=np.int64)
    space = 1  # keys lie in [0, space)
    for column in columns:
        if len(rows) == 0:
            break
        if column in coded:
            codes = coded[column][0][rows]
        elif 4 * len(rows) >= len(frame):  # most rows: code the whole column (cheaper than a copy)
            codes = pd.factorize(frame[column])[0][rows]
        else:
            codes = pd.factorize(frame[column].iloc[rows])[0]
        radix = int(codes.max(initial=-1)) + 2
        if space * radix >= 2**62:  # keep keys exact: renumber them first
            ids, distinct = pd.factorize(ids)
            space = len(distinct)
        ids = ids * radix + (codes + 1)
        space *= radix
        if space <= 4 * len(ids) + 1024:  # count the keys themselves, then renumber them
            counts = np.bincount(ids, minlength=space)
            shared = counts[ids] > 1
            remap = np.cumsum(counts > 1) - 1
            rows, ids, space = rows[shared], remap[ids[shared]], int(remap[-1]) + 1
        else:  # count hash buckets (Fibonacci hashing): equal keys share a bucket
            bits = max(10, int(2 * len(ids) - 1).bit_length())
            bucket = ((ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
                      >> np.uint64(64 - bits)).astype(np.int64)
            shared = np.bincount(bucket, minlength=1 << bits)[bucket] > 1
            rows, ids = rows[shared], ids[shared]
    _, first, group = np.unique(ids, return_index=True, return_inverse=True)
    firsts = rows[first][group]
    repeat = rows != firsts
    return rows[repeat], firsts[repeat]


def _check_one_row_per(frame: pd.DataFrame, keep: np.ndarray, name: str, specs: Specs,
                       export: RawExport, coded: dict[str, Codes]) -> None:
    """A ``one_row_per`` key repeated among the ``keep`` rows (with different values, exact
    duplicates being collapsed already) stops the run."""
    key = specs.layout.forms[name].one_row_per
    if key is None or key not in frame:
        return
    repeats, firsts = _repeated_rows(frame, [key], np.flatnonzero(keep), coded)
    if len(repeats):
        row = frame.iloc[repeats[0]]
        first = frame["_ROW"].iloc[firsts[0]]
        raise InputError(f"{key} {row[key]} appears twice with different values (rows {first} and "
                         f"{row['_ROW']}); the form has one row per {key}",
                         file=str(export.files.get(name, name)), row=int(row["_ROW"]), column=key,
                         value=str(row[key]), expected=f"one row per {key}")


def _after_cutoff(coded: Codes, cutoff: dt.date, date_format: str) -> np.ndarray:
    """True where the (possibly partial) raw date (in ``date_format``, raw.yaml's) has its
    earliest possible day after ``cutoff``; worked out once per distinct raw date (``coded``:
    the column's codes and distinct values)."""
    codes, distinct = coded  # missing -> -1: never after
    earliest, _ = iso_date_range(raw_date_to_iso(pd.Series(distinct), date_format)[0])
    after = (earliest > pd.Timestamp(cutoff)).fillna(False).to_numpy(dtype=bool)
    return np.append(after, False)[codes]


def build_sdtm(specs: Specs, forms: dict[str, pd.DataFrame],
               tick: Callable[[str], None] = lambda _: None) -> dict[str, pd.DataFrame]:
    """Every SDTM dataset of ``specs`` (in dependency order), with trace columns kept.

    The raw dates are read in the layout's ``date_format``: the derivations that parse them
    (``iso_date``, ``event_end_dtc``, ...) call ``raw_date_to_iso`` without a format, which
    then takes the study's (``derive.dates.RAW_DATE_FORMAT``, set here for the build).
    ``tick(name)`` is called after each dataset (the progress bar)."""
    built: dict[str, pd.DataFrame] = {}
    token = RAW_DATE_FORMAT.set(specs.layout.date_format)
    try:
        for name in build_order(specs.sdtm):
            built[name] = build_dataset(specs.sdtm[name], forms=forms, built=built,
                                        study=specs.study, codelists=specs.codelists)
            tick(name)
    finally:
        RAW_DATE_FORMAT.reset(token)
    return built


TRACE_COLUMNS = ["DOMAIN", "USUBJID", "SEQ", "FORM", "ROW"]
"""The columns of ``sdtm/trace.csv``."""
TRACE_SCHEMA = pa.schema([("DOMAIN", pa.large_string()), ("USUBJID", pa.large_string()),
                          ("SEQ", pa.int64()), ("FORM", pa.large_string()), ("ROW", pa.int64())])
"""Their types, as the file is written (text quoted, numbers not)."""


def trace_seq(spec) -> str | None:
    """The --SEQ variable of an SDTM dataset's spec (None: it has none), for ``trace.csv``."""
    return next((v.name for v in spec.variables if v.name.endswith("SEQ")), None)


def trace_rows(records, domain: str, seq: str | None):
    """The ``trace.csv`` rows of a stretch of one subject-level SDTM dataset's records (a
    pyarrow table with USUBJID, ``_FORM`` and ``_ROW``), as a pyarrow table: what
    :func:`trace_parts` gives for them, made without pandas by the merge of a partitioned run
    (``partitions.merge_files``)."""
    count = records.num_rows
    return pa.table({
        "DOMAIN": pa.repeat(domain, count),
        "USUBJID": records.column("USUBJID"),
        "SEQ": records.column(seq).cast(pa.int64()) if seq else pa.nulls(count, pa.int64()),
        "FORM": records.column("_FORM"),
        "ROW": records.column("_ROW").cast(pa.int64()),
    })


def trace_table(datasets: dict[str, pd.DataFrame], specs: Specs) -> pd.DataFrame:
    """One row per SDTM record: domain, USUBJID, --SEQ (if any), raw form and raw row."""
    parts = list(trace_parts(datasets, specs))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=TRACE_COLUMNS)


def trace_parts(datasets: dict[str, pd.DataFrame], specs: Specs):
    """:func:`trace_table`, one dataset at a time (the run writes them one after the other,
    never holding the whole table: ``pipeline.write_trace``)."""
    for name, frame in datasets.items():
        if "_ROW" not in frame:
            continue
        seq = trace_seq(specs.sdtm[name])
        yield pd.DataFrame({
            "DOMAIN": name,
            "USUBJID": frame["USUBJID"] if "USUBJID" in frame else "",
            "SEQ": (frame[seq] if seq else pd.Series(pd.NA, index=frame.index)).astype("Int64"),
            "FORM": frame["_FORM"],
            "ROW": frame["_ROW"],
        })
