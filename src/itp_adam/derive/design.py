"""Trial design and special-purpose derivations: subject elements (SE), subject visits (SV), the
EPOCH of a record, and a summary of another dataset set on chosen records (TS values).

All four are steps (admiral style: they take the working frame and return a new one):

* ``derive_subject_elements``: one record per subject and element of the plan, each element
  dated by columns of the subject's record (e.g. DM's consent, first and last dose dates);
* ``derive_subject_visits``: one record per subject and visit found in source datasets (the
  visit-level records of LB, RS, ...), dated by the first and last day found;
* ``derive_var_epoch``: the EPOCH of the subject's element (SE) on the record's date;
* ``derive_var_merged_summary``: a summary (min, max, n, n_distinct) of a variable of another
  dataset, e.g. the earliest informed consent (TS SSTDTC) or the number of subjects (ACTSUB).

Dates are ISO 8601 text (SDTM ``--DTC``; a time is ignored) or date columns. Whole columns
only: the few elements or sources of a spec are looped over, never the records or subjects.
No study constant is inside a function: element codes, epochs and preferences come in as
arguments from the specs (``docs/trial-design.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..spec.registry import derivation
from .checks import require_vars
from .columns import (as_str, distinct_rows, first_positions, group_codes, labels, positions,
                      row_positions, text)
from .core import _is_text, filter_mask
from .dates import iso_date_range

SUMMARIES = ("min", "max", "n", "n_distinct")
"""The summaries ``derive_var_merged_summary`` computes."""

_ELEMENT_KEYS = {"etcd", "start", "end", "filter"}
_SOURCE_KEYS = {"dataset", "date", "filter"}


# --------------------------------------------------------------------------------------------
# helpers


def _day_range(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Earliest and latest possible day of each value as ``datetime64[D]`` (NaT: blank or not
    a date). A date column gives its day twice; ISO 8601 text its range (``2024-11`` -> 1 and
    30 Nov, ``2024`` -> 1 Jan and 31 Dec; a time is ignored)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        days = values.to_numpy(dtype="datetime64[D]")
        return days, days
    earliest, latest = iso_date_range(values)
    return earliest.to_numpy(dtype="datetime64[D]"), latest.to_numpy(dtype="datetime64[D]")


def _iso_text(values: pd.Series) -> pd.Series:
    """A date column as ISO 8601 ``YYYY-MM-DD`` text; a text column stripped (``""`` missing)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return _days_text(values.to_numpy(dtype="datetime64[D]"), values.index)
    return text(values)


def _days_text(days: np.ndarray, index: pd.Index) -> pd.Series:
    """``datetime64[D]`` days as ISO 8601 text, ``""`` for NaT: written once per distinct day
    (a few thousand), taken back to the records by code."""
    codes, distinct = pd.factorize(days)  # NaT -> -1
    iso = np.datetime_as_string(np.asarray(distinct, dtype="datetime64[D]"), unit="D")
    return labels([*iso, ""], np.where(codes < 0, len(iso), codes), index)


def _items(value: object, name: str, allowed: set[str], required: set[str]) -> list[Mapping]:
    """A list argument of mappings (``elements``, ``sources``), each checked for its keys."""
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"{name} must be a non-empty list of mappings with keys {sorted(allowed)}")
    for number, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ValueError(f"{name}[{number}] must be a mapping with keys {sorted(allowed)}, "
                             f"not {item!r}")
        unknown, missing = sorted(set(item) - allowed), sorted(required - set(item))
        if unknown or missing:
            problem = f"unknown keys {unknown}" if unknown else f"missing keys {missing}"
            raise ValueError(f"{name}[{number}]: {problem}; the keys are {sorted(allowed)}")
    return list(value)


def _one_record_per(df: pd.DataFrame, by_vars: Sequence[str], fn: str) -> None:
    codes = group_codes(df, list(by_vars))  # 0, 1, ... in order of first appearance
    if codes.max(initial=-1) + 1 < len(df):
        raise ValueError(f"{fn}: the data frame has more than one record per {', '.join(by_vars)}")


# --------------------------------------------------------------------------------------------
# SE: subject elements


@derivation("derive_subject_elements")
def derive_subject_elements(
    df: pd.DataFrame,
    elements: Sequence[Mapping[str, Any]],
    by_vars: Sequence[str] = ("USUBJID",),
    new_var: str = "ETCD",
    start_var: str = "SESTDTC",
    end_var: str = "SEENDTC",
) -> pd.DataFrame:
    """One record per subject and element of the plan, dated by columns of the subject's record.

    ``df`` holds one record per subject (``by_vars``, e.g. DM). ``elements`` lists the
    planned elements in order, each a mapping ``{etcd: CODE, start: COLUMN, end: COLUMN
    (optional), filter: "expression" (optional)}``: a subject gets the element where its
    ``start`` date is known and ``filter`` holds, with ``new_var`` = the code, ``start_var``
    = the ``start`` date and ``end_var`` = the ``end`` date (ISO 8601 text; a date column is
    written ``YYYY-MM-DD``; no ``end``: blank, the element is still running). Every column
    of the subject's record is kept on each of its element records. Records are in the order
    of ``df``, and within a subject in the order of ``elements`` (SE, SDTMIG 3.4: e.g.
    SCREENING from consent to first dose, TREATMENT from first to last dose)."""
    require_vars(df, "derive_subject_elements", by_vars=by_vars)
    items = _items(elements, "elements", _ELEMENT_KEYS, {"etcd", "start"})
    require_vars(df, "derive_subject_elements",
                 elements=[item[key] for item in items for key in ("start", "end") if key in item])
    _one_record_per(df, by_vars, "derive_subject_elements")
    parts, order = [], []
    for number, item in enumerate(items):  # a few planned elements, each on whole columns
        start = _iso_text(df[item["start"]])
        end = _iso_text(df[item["end"]]) if "end" in item else text(pd.Series("", index=df.index))
        rows = np.flatnonzero(start.ne("").to_numpy(dtype=bool) & filter_mask(df, item.get("filter")))
        part = df.iloc[rows].copy(deep=False)
        part[new_var] = labels([str(item["etcd"])], np.zeros(len(rows), dtype=np.intp), part.index)
        part[start_var] = start.iloc[rows]
        part[end_var] = end.iloc[rows]
        parts.append(part)
        order.append(np.column_stack([rows, np.full(len(rows), number)]))
    out = pd.concat(parts, ignore_index=True)
    keys = np.concatenate(order)
    return out.take(np.lexsort((keys[:, 1], keys[:, 0]))).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# SV: subject visits


@derivation("derive_subject_visits")
def derive_subject_visits(
    df: pd.DataFrame,
    sources: Sequence[Mapping[str, Any]],
    by_vars: Sequence[str] = ("USUBJID",),
    visit_vars: Sequence[str] = ("VISITNUM", "VISIT"),
    start_var: str = "SVSTDTC",
    end_var: str = "SVENDTC",
) -> pd.DataFrame:
    """One record per subject and visit found in the source datasets, dated by its first and last day.

    ``df`` holds one record per subject (``by_vars``, e.g. DM). Each source is a mapping
    ``{dataset: frame, date: COLUMN, filter: "expression" (optional)}`` whose records carry
    ``by_vars`` and ``visit_vars`` (e.g. LB with LBDTC, RS with RSDTC). Per subject and
    combination of ``visit_vars`` found, ``start_var`` is the earliest and ``end_var`` the
    latest day of its records over all sources (ISO 8601 ``YYYY-MM-DD``); only complete dates
    count, and a record without a visit (first of ``visit_vars`` missing) is no visit.
    Every column of the subject's record is kept; subjects of the sources not in ``df`` are
    left out. Records are in the order of ``df``, then of the values of ``visit_vars``."""
    require_vars(df, "derive_subject_visits", by_vars=by_vars)
    items = _items(sources, "sources", _SOURCE_KEYS, {"dataset", "date"})
    _one_record_per(df, by_vars, "derive_subject_visits")
    subjects, days, combos, tables = [], [], [], []
    for number, item in enumerate(items):  # a few source datasets, each on whole columns
        where = f"sources[{number}]"
        frame = item["dataset"]
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"{where}: dataset must be a data frame (in a spec {{dataset: NAME}})")
        require_vars(frame, "derive_subject_visits", frame=where, by_vars=by_vars,
                     visit_vars=visit_vars, date=item["date"])
        earliest, latest = _day_range(frame[item["date"]])
        first_visit = frame[visit_vars[0]]
        has_visit = (text(first_visit).ne("") if _is_text(first_visit)
                     else first_visit.notna()).to_numpy(dtype=bool)
        keep = filter_mask(frame, item.get("filter")) & has_visit & (earliest == latest) \
            & ~np.isnat(earliest)
        # the record's subject: its row of df (-1: not in df, left out)
        subject = positions(frame[by_vars[0]], df[by_vars[0]]) if len(by_vars) == 1 else \
            row_positions(frame, df, list(by_vars))
        rows = np.flatnonzero(keep & (subject >= 0))
        subjects.append(subject[rows])
        days.append(earliest[rows].astype("int64"))
        # the visit variables' distinct combinations (a few hundred) and each record's, by code
        codes, distinct = distinct_rows(frame, list(visit_vars))
        combos.append(codes[rows] + sum(len(table) for table in tables))
        tables.append(distinct)
    subject, combo = np.concatenate(subjects).astype(np.int64), np.concatenate(combos)
    visits = pd.concat(tables, ignore_index=True)  # every source's combinations
    # each combination's rank in the order of the visit variables' values (equal ones share it)
    order, size = np.zeros(len(visits), dtype=np.int64), 1
    for name in visit_vars:
        column = text(visits[name]) if _is_text(visits[name]) else visits[name]
        codes, distinct = pd.factorize(column, sort=True)  # missing -> -1
        if size * (len(distinct) + 1) >= 2 ** 62:  # renumber (keeping the order) before overflow
            order, size = pd.factorize(order, sort=True)[0].astype(np.int64), len(order) + 1
        order, size = order * (len(distinct) + 1) + (codes + 1), size * (len(distinct) + 1)
    rank, ranks = pd.factorize(order, sort=True)
    # one integer key per subject and visit, ordered as df, then as the visit variables' values
    visit, groups = pd.factorize(subject * max(len(ranks), 1) + rank[combo], sort=True)  # np.unique
    # with return_inverse, by hashing: a subject's few visits repeat over its many records
    per_visit = pd.Series(np.concatenate(days)).groupby(visit, sort=True)
    first_day, last_day = per_visit.min().to_numpy(), per_visit.max().to_numpy()
    first = first_positions(visit, len(groups))  # each visit's first record
    out = df.iloc[subject[first]].reset_index(drop=True)
    for name in visit_vars:
        taken = visits[name].iloc[combo[first]]
        out[name] = text(taken).set_axis(out.index) if _is_text(taken) else taken.to_numpy()
    out[start_var] = _days_text(first_day.astype("datetime64[D]"), out.index)
    out[end_var] = _days_text(last_day.astype("datetime64[D]"), out.index)
    return out


# --------------------------------------------------------------------------------------------
# EPOCH


@derivation("derive_var_epoch")
def derive_var_epoch(
    df: pd.DataFrame,
    dataset_se: pd.DataFrame,
    date: str,
    new_var: str = "EPOCH",
    subject: str = "USUBJID",
    start: str = "SESTDTC",
    end: str = "SEENDTC",
    epoch: str = "EPOCH",
    prefer: Sequence[str] = (),
) -> pd.DataFrame:
    """Add ``new_var``, the epoch of the subject's element (SE) on the record's ``date``.

    ``dataset_se`` holds the subject elements (SE: ``subject``, ``start``, ``end`` and
    ``epoch`` per element). A record's day belongs to an element when it lies between the
    element's start and end days, both included (a blank end: still running). Elements share
    their boundary day (SDTMIG: an element ends when the next starts), so a day can be in two:
    then the element starting that day, unless the epoch of the one ending that day comes
    first in ``prefer`` (e.g. ``[TREATMENT]``: the last dose day stays in TREATMENT). A partial
    date gets the epoch only when its earliest and latest possible days are in the same element
    (``2024-11`` within one element); else blank. Blank too: no date, a day before the
    subject's first element (e.g. before informed consent: EPOCH is a study design concept) or
    after the end of its last one, a subject without elements."""
    require_vars(df, "derive_var_epoch", date=date, subject=subject)
    require_vars(dataset_se, "derive_var_epoch", frame="dataset_se", subject=subject, start=start,
                 end=end, epoch=epoch)
    preferred = [prefer] if isinstance(prefer, str) else list(prefer or ())
    se_start, _ = _day_range(dataset_se[start])
    _, se_end = _day_range(dataset_se[end])
    # subjects as integer codes: SE's distinct subjects, each record's found among them by hash
    se_code, subjects = pd.factorize(dataset_se[subject].to_numpy(dtype=object))
    record_code = positions(df[subject], pd.Series(subjects, dtype="str"))  # -1: no elements
    lo, hi = _day_range(df[date])
    # elements with a start, ordered by subject, start day, then their order in dataset_se
    known = np.flatnonzero(~np.isnat(se_start) & (se_code >= 0))
    day_start = se_start[known].astype("int64")
    known = known[np.lexsort((known, day_start, se_code[known]))]
    e_code = se_code[known]
    e_start = se_start[known].astype("int64")
    e_end = np.where(np.isnat(se_end[known]), np.iinfo(np.int64).max, se_end[known].astype("int64"))
    e_epoch, epochs = pd.factorize(text(dataset_se[epoch]).to_numpy()[known])
    rank = np.array([preferred.index(e) if e in preferred else len(preferred) for e in epochs],
                    dtype=np.intp)[e_epoch] if len(known) else np.zeros(0, dtype=np.intp)
    valid_lo, valid_hi = ~np.isnat(lo), ~np.isnat(hi)
    all_days = np.concatenate([e_start, lo[valid_lo].astype("int64"), hi[valid_hi].astype("int64")])
    base = all_days.min(initial=0)
    span = all_days.max(initial=0) - base + 1
    e_key = e_code * span + (e_start - base)

    def element_of(days: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Per record, the position (in the ordered elements) of its element on ``days``; -1: none."""
        day = np.where(valid, days.astype("int64"), base)
        pos = np.searchsorted(e_key, record_code * span + (day - base), side="right") - 1
        at = np.clip(pos, 0, None)
        if not len(e_key):
            return np.full(len(day), -1)
        found = valid & (pos >= 0) & (e_code[at] == record_code) & (day <= e_end[at])
        before = np.clip(pos - 1, 0, None)
        earlier = found & (pos >= 1) & (e_code[before] == record_code) & (day <= e_end[before]) \
            & (rank[before] < rank[at])
        return np.where(found, np.where(earlier, pos - 1, pos), -1)

    first, last = element_of(lo, valid_lo), element_of(hi, valid_hi)
    element = np.where((first == last) & (first >= 0), first, -1)
    chosen = np.where(element >= 0, e_epoch[np.clip(element, 0, None)] if len(known) else 0,
                      len(epochs))
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = labels([*map(str, epochs), ""], chosen, df.index)
    return out


# --------------------------------------------------------------------------------------------
# a summary of another dataset (TS values from the data)


def _text_of(values: pd.Series) -> pd.Series:
    """Summaries as text: ``""`` for missing, numbers as pyarrow writes them (whole numbers
    without ``.0``: ``167``), dates ``YYYY-MM-DD``, text as it is."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return text(values.dt.strftime("%Y-%m-%d"))
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pa.array(values.to_numpy(dtype="float64"), from_pandas=True)
        return as_str(pc.fill_null(numbers.cast(pa.large_string()), ""), values.index)
    return text(values)


@derivation("derive_var_merged_summary")
def derive_var_merged_summary(
    df: pd.DataFrame,
    dataset_add: pd.DataFrame,
    new_var: str,
    source_var: str,
    summary: str,
    by_vars: Sequence[str] = (),
    filter: str | None = None,
    filter_add: str | None = None,
) -> pd.DataFrame:
    """Set ``new_var`` to a summary of ``source_var`` over the records of ``dataset_add``.

    As admiral's ``derive_var_merged_summary``: ``summary`` is ``min``, ``max`` (of numbers,
    dates, or text: ISO 8601 dates sort as text), ``n`` (non-missing values) or
    ``n_distinct`` (distinct non-missing values) of ``source_var`` over the records of
    ``dataset_add`` passing ``filter_add``, per ``by_vars`` (none: the whole dataset, one value;
    e.g. TS SSTDTC = the earliest DM.RFICDTC, ACTSUB = the number of DM.USUBJID). The records
    of ``df`` where ``filter`` holds (all without it) get the value of their by-group (no
    record there: ``n`` and ``n_distinct`` 0, ``min`` and ``max`` missing); the others keep
    ``new_var`` as it was (missing when ``df`` had no such variable). When ``new_var`` is a
    text variable of ``df`` (e.g. TSVAL) the value is written as text: whole numbers without
    ``.0``, dates ``YYYY-MM-DD``."""
    require_vars(df, "derive_var_merged_summary", by_vars=by_vars)
    require_vars(dataset_add, "derive_var_merged_summary", frame="dataset_add", by_vars=by_vars,
                 source_var=source_var)
    if summary not in SUMMARIES:
        raise ValueError(f"summary must be one of {', '.join(SUMMARIES)}, not {summary!r}")
    keys = list(by_vars)
    add = dataset_add[filter_mask(dataset_add, filter_add)]
    values = add[source_var]
    if _is_text(values):
        values = text(values)
        present = values.ne("").to_numpy(dtype=bool)
    else:
        present = values.notna().to_numpy(dtype=bool)
    # by-group codes of df's records and dataset_add's records together: one value per code
    both = pd.concat([df[keys], add[keys]], ignore_index=True) if keys else \
        pd.DataFrame(index=pd.RangeIndex(len(df) + len(add)))
    codes = group_codes(both, keys)
    own, theirs = codes[:len(df)], codes[len(df):][present]
    grouped = values[present].reset_index(drop=True).groupby(theirs)
    if summary == "n":
        per_code = grouped.count()
    elif summary == "n_distinct":
        per_code = grouped.nunique()
    else:
        per_code = grouped.min() if summary == "min" else grouped.max()
    result = per_code.reindex(own)
    if summary in ("n", "n_distinct"):
        result = result.fillna(0).astype("int64")
    target = filter_mask(df, filter)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    result.index = df.index
    existing = df[new_var] if new_var in df else None
    if (existing is not None and _is_text(existing)) or (
            existing is None and _is_text(values) and summary in ("min", "max")):
        kept = text(existing) if existing is not None else text(pd.Series("", index=df.index))
        out[new_var] = _text_of(result).where(target, kept)
    elif existing is not None:
        out[new_var] = result.where(target, existing)
    else:
        out[new_var] = result.where(target)
    return out
