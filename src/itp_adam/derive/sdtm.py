"""SDTM mapping derivations: identifiers, ISO 8601 dates, reference dates from the dosing log.

Each function takes the dataset's working frame first and returns one value per row of it: a
``str`` Series with ``""`` for missing, so a spec source ``{derivation: name, args: {...}}``
fills one variable. Column arguments name columns of the frame (or of the form passed in).
Dates in the raw forms were checked by the reader, so every non-blank date here is valid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

import pyarrow as pa
import pyarrow.compute as pc

from .columns import (arrow_text, as_str, column_codes, distinct_rows, has_duplicates,
                      positions, spread_text)
from .dates import _text, complete_dates, iso_date_parts, iso_date_range, iso_datetime, raw_date_to_iso
from .core import filter_mask, text_is_in
from .subject import _mode, _part
from ..spec.registry import derivation
from .checks import require_vars


@derivation("usubjid")
def usubjid(df: pd.DataFrame, studyid: str = "STUDYID", subjid: str = "SUBJID") -> pd.Series:
    """Unique subject id ``STUDYID-SUBJID`` (SAP "Names"); ``""`` when either part is blank."""
    require_vars(df, "usubjid", studyid=studyid, subjid=subjid)
    # joined once per distinct (STUDYID, SUBJID) pair, taken back to the records by code
    codes, pairs = distinct_rows(df, [studyid, subjid])
    study, subject = arrow_text(pairs[studyid]), arrow_text(pairs[subjid])
    joined = pc.binary_join_element_wise(study, subject, pa.scalar("-", pa.large_string()))
    both = pc.and_(pc.not_equal(study, ""), pc.not_equal(subject, ""))
    return spread_text(pc.if_else(both, joined, ""), codes, df.index)


@derivation("iso_date")
def iso_date(df: pd.DataFrame, column: str, time: str | None = None) -> pd.Series:
    """A raw date column (and optional time) as ISO 8601.

    A raw date column as ISO 8601, partial dates truncated (SAP "Dates"), with the ``HH:MM``
    of column ``time`` appended to complete dates when given. The dates are read in the study's
    raw date format (``raw.yaml`` ``date_format``, ``DD MON YYYY`` by default; see
    ``raw_date_to_iso``)."""
    require_vars(df, "iso_date", column=column, time=time)
    iso, _ = raw_date_to_iso(df[column])
    return iso if time is None else iso_datetime(iso, df[time])



def _dosing_periods(exposure: pd.DataFrame, dose_above: float, cutoff: dt.date | str | None,
                    subjid: str, start: str, dose: str, end: str | None = None) -> pd.DataFrame:
    """Periods with dose > ``dose_above`` starting on or before the cut-off, as dates.

    With ``end``, the period's last day: a running period (blank end) or one past the
    cut-off ends at the cut-off (SAP "Data cut-off"); without a cut-off it stays open (NaT).
    """
    periods = pd.DataFrame({"subject": _text(exposure[subjid]), "start": complete_dates(exposure[start])})
    if end is not None:
        periods["end"] = complete_dates(exposure[end])
    keep = (pd.to_numeric(exposure[dose]) > dose_above).fillna(False) & periods["start"].notna()
    if cutoff is not None:
        limit = pd.Timestamp(cutoff)
        keep = keep & (periods["start"] <= limit)
        if end is not None:
            periods["end"] = periods["end"].fillna(limit).clip(upper=limit)
    return periods[keep.to_numpy(dtype=bool)]


def _per_subject(df: pd.DataFrame, subjid: str, dates: pd.Series) -> pd.Series:
    """Map a date per subject onto the frame's rows as ISO ``YYYY-MM-DD`` (``""`` if none)."""
    iso = dates.dt.strftime("%Y-%m-%d").astype("str")
    mapped = iso.reindex(_text(df[subjid]).to_numpy()).fillna("")
    return pd.Series(mapped.to_numpy(), index=df.index, dtype="str")


@derivation("ref_start_from_exposure")
def ref_start_from_exposure(df: pd.DataFrame, exposure: pd.DataFrame, dose_above: float = 0,
                            cutoff: dt.date | str | None = None, subjid: str = "SUBJID",
                            start: str = "EXSTDAT", dose: str = "DOSE") -> pd.Series:
    """Reference start date (RFSTDTC) from the dosing records.

    Reference start (RFSTDTC): first day of the first period with dose > ``dose_above``
    (SAP "Treatment variables": TRTSDT), ignoring periods starting after ``cutoff``."""
    require_vars(df, "ref_start_from_exposure", subjid=subjid)
    require_vars(exposure, "ref_start_from_exposure", frame="exposure",
                 subjid=subjid, start=start, dose=dose)
    periods = _dosing_periods(exposure, dose_above, cutoff, subjid, start, dose)
    return _per_subject(df, subjid, periods.groupby("subject")["start"].min())


@derivation("ref_end_from_exposure")
def ref_end_from_exposure(df: pd.DataFrame, exposure: pd.DataFrame, cutoff: dt.date | str,
                          dose_above: float = 0, subjid: str = "SUBJID", start: str = "EXSTDAT",
                          end: str = "EXENDAT", dose: str = "DOSE") -> pd.Series:
    """Reference end date (RFENDTC) from the dosing records.

    Reference end (RFENDTC): last day of the last period with dose > ``dose_above``, the
    cut-off date when that period is still running or runs past it (SAP: TRTEDT)."""
    require_vars(df, "ref_end_from_exposure", subjid=subjid)
    require_vars(exposure, "ref_end_from_exposure", frame="exposure",
                 subjid=subjid, start=start, end=end, dose=dose)
    periods = _dosing_periods(exposure, dose_above, cutoff, subjid, start, dose, end)
    return _per_subject(df, subjid, periods.groupby("subject")["end"].max())


@derivation("if_treated")
def if_treated(df: pd.DataFrame, exposure: pd.DataFrame, value: str, untreated_value: str = "",
               dose_above: float = 0, cutoff: dt.date | str | None = None,
               subjid: str = "SUBJID", start: str = "EXSTDAT", dose: str = "DOSE") -> pd.Series:
    """A value for treated subjects and another for untreated ones (e.g. ACTARM).

    ``value`` for subjects with a period of dose > ``dose_above`` (before ``cutoff``), else
    ``untreated_value``: actual arm (ACTARMCD, ACTARM) and the reason it is null (ARMNRS)."""
    require_vars(df, "if_treated", subjid=subjid)
    require_vars(exposure, "if_treated", frame="exposure", subjid=subjid, start=start, dose=dose)
    treated = _dosing_periods(exposure, dose_above, cutoff, subjid, start, dose)["subject"]
    is_treated = text_is_in(_text(df[subjid]), treated)
    return pd.Series(np.where(is_treated, value, untreated_value), index=df.index, dtype="str")


@derivation("study_day")
def study_day(df: pd.DataFrame, dtc: str, reference: pd.DataFrame, ref_dtc: str = "RFSTDTC",
              subject: str = "USUBJID") -> pd.Series:
    """Study day --DY of an ISO date against the subject's reference start date.

    Study day --DY of the ISO date ``dtc`` against the subject's ``ref_dtc`` in ``reference``
    (DM): date - ref + 1 on or after it, date - ref before it, no day 0 (SAP "Dates").
    Empty when either date is partial or missing."""
    require_vars(df, "study_day", dtc=dtc, subject=subject)
    require_vars(reference, "study_day", frame="reference", ref_dtc=ref_dtc, subject=subject)
    # the reference date is converted once per subject, then taken to the records by position
    if has_duplicates(reference[subject]):
        raise ValueError(f"reference has more than one record per {subject}")
    refs = complete_dates(reference[ref_dtc]).to_numpy(dtype="datetime64[D]")
    ref = np.append(refs, np.datetime64("NaT", "D"))[positions(df[subject], reference[subject])]
    diff = complete_dates(df[dtc]).to_numpy(dtype="datetime64[D]") - ref
    days = np.where(np.isnat(diff), np.nan, diff.astype("int64").astype("float64"))
    return pd.Series(np.where(days >= 0, days + 1, days), index=df.index)


@derivation("subject_extreme_dtc")
def subject_extreme_dtc(df: pd.DataFrame, sources: Sequence[Mapping[str, Any]], mode: str = "last",
                        max_date: dt.date | str | None = None,
                        subjid: str = "SUBJID") -> pd.Series:
    """Per subject, the latest (or earliest) date over several forms, as ISO 8601 text.

    The SDTM mapping counterpart of ``derive_var_extreme_dt``, for DM dates taken from
    several raw forms (RFPENDTC: the last date of contact; DTHDTC: the end date of a fatal
    AE). Each source is a mapping ``{dataset: frame (in a spec {form: F}; left out: df
    itself), date: COLUMN, filter: "expression" (optional)}``. A date column holds raw dates
    in the study's format (``raw.yaml`` ``date_format``) or ISO 8601 text (a variable already
    made, e.g. RFXENDTC); a time is dropped. A partial date counts as its truncated ISO text
    and sorts first in its period (``2025`` before ``2025-01-03``), so it wins ``mode:
    first`` there and loses ``last``. With ``max_date`` (a data cut-off) a date whose
    earliest possible day is after it is left out. Records are matched to ``df`` by the
    ``subjid`` column; a subject without a date gets ``""``.
    """
    fn = "subject_extreme_dtc"
    require_vars(df, fn, subjid=subjid)
    _mode(mode, "")
    if isinstance(sources, (str, Mapping)) or not isinstance(sources, Sequence) or not sources:
        raise ValueError("sources must be a non-empty list of {dataset, date, filter} mappings")
    # worked on codes: each source's distinct dates made ISO (and checked against the cut-off)
    # once, ranked together, and the subject's extreme rank taken with numpy's ufunc.at
    subject_codes, subjects = column_codes(_text(df[subjid]))
    subjects = as_str(subjects, pd.RangeIndex(len(subjects)))
    isos, ranks_at, targets = [], [], []
    for index, item in enumerate(sources):  # a few sources: each is whole columns
        where = f"sources[{index}]"
        frame, source = _part(df, item, where, {"dataset", "date", "filter"}, {"date"})
        require_vars(frame, fn, frame=where, subjid=subjid, date=source["date"])
        codes, distinct = column_codes(_text(frame[source["date"]]))
        distinct = as_str(distinct, pd.RangeIndex(len(distinct)))
        iso = np.asarray(iso_date_parts(distinct.tolist()), dtype=object)  # ISO or raw
        usable = iso != ""
        if max_date is not None:
            earliest, _ = iso_date_range(pd.Series(iso, dtype="str"))
            usable &= ~(earliest > pd.Timestamp(max_date)).to_numpy(dtype=bool)
        target = positions(_text(frame[subjid]), subjects)
        keep = filter_mask(frame, source.get("filter")) & usable[codes] & (target >= 0)
        ranks_at.append(codes[keep] + sum(len(done) for done in isos))
        targets.append(target[keep])
        isos.append(iso)
    ordered, rank = np.unique(np.concatenate(isos).astype(str), return_inverse=True)
    rows_rank, rows_subject = rank.reshape(-1)[np.concatenate(ranks_at)], np.concatenate(targets)
    if mode == "last":
        extreme = np.full(len(subjects), -1, dtype=np.int64)
        np.maximum.at(extreme, rows_subject, rows_rank)
    else:
        extreme = np.full(len(subjects), len(ordered), dtype=np.int64)
        np.minimum.at(extreme, rows_subject, rows_rank)
    found = (extreme >= 0) & (extreme < len(ordered))
    text = np.append(ordered.astype(object), "")[np.where(found, extreme, len(ordered))]
    return spread_text(text, subject_codes, df.index)
