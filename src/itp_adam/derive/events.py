"""SDTM derivations of the events and subject-history domains: AE, CM, MH, DS and SUPPDM.

Functions registered here are called from ``specs/sdtm/{ae,cm,mh,ds,suppdm}.yaml``; see
``docs/sdtm-events.md`` for the rules in words. Two kinds, as everywhere in the package:

* **variable derivations** take the working frame and return one value per row (a ``str``
  Series with ``""`` for missing): ``subject_value``, ``event_end_dtc``, ``event_enrtpt``,
  ``event_entpt``, ``disposition_dtc``;
* **steps** take the working frame and return a new frame (admiral style):
  ``derive_vars_coding`` (dictionary coding of verbatim terms) and ``derive_var_seq`` (--SEQ,
  which must follow the dates it orders by, while it stands before them in the output).

Every data problem a rule handles is reported to the data-issues log (``issues.report``).
The cut-off and every other study number come in as arguments (``{study: cutoff_date}``).
Whole columns only: no loop over records or subjects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import issues
from .columns import (arrow_text, as_str, column_codes, group_codes, has_duplicates, key_ranks,
                      order_of_ranks, positions, run_edges)
from .dates import _text, iso_date_range, raw_date_to_iso
from ..spec.registry import derivation
from .checks import require_vars

ONGOING = "ONGOING"


# --------------------------------------------------------------------------------------------
# helpers




def _as_text(frame: pd.DataFrame) -> np.ndarray:
    """Cells as text (``""`` for missing), for comparing rows whatever the column types."""
    return frame.astype("string").fillna("").to_numpy(dtype=object)


def _iso(day: dt.date | str) -> str:
    return pd.Timestamp(day).strftime("%Y-%m-%d")


# --------------------------------------------------------------------------------------------
# identifiers


@derivation("subject_value")
def subject_value(df: pd.DataFrame, dataset: pd.DataFrame, variable: str,
                  subjid: str = "SUBJID") -> pd.Series:
    """The subject's value of a variable of a one-record-per-subject dataset.

    The subject's value of ``variable`` in ``dataset`` (one record per SUBJID, e.g. DM),
    matched by the raw ``subjid`` column: STUDYID for forms that do not collect it.

    Prepared forms only hold subjects of DM, so every record finds its subject."""
    require_vars(df, "subject_value", subjid=subjid)
    require_vars(dataset, "subject_value", frame="dataset", subjid=subjid, variable=variable)
    keys = _text(dataset[subjid])
    if has_duplicates(keys):
        raise ValueError(f"dataset has more than one record per {subjid}")
    # the records' subjects are matched with one pyarrow hash look-up
    rows = positions(_text(df[subjid]), keys)
    if rows.min(initial=0) >= 0:  # every subject found: take keeping the column's type
        return pd.Series(dataset[variable].array.take(rows), index=df.index, copy=False)
    values = dataset[variable].to_numpy()  # (cannot happen for prepared forms) missing for no match
    values = np.append(values.astype(object), None)
    return pd.Series(values[rows], index=df.index)


# --------------------------------------------------------------------------------------------
# dictionary coding (AE)


@derivation("derive_vars_coding")
def derive_vars_coding(df: pd.DataFrame, dictionary: pd.DataFrame, new_vars: Mapping[str, str],
                       term: str = "AETERM", dictionary_term: str = "AETERM") -> pd.DataFrame:
    """Add the coded fields of each verbatim ``term`` from the coding form ``dictionary``.

    Terms match ignoring case and surrounding blanks. ``new_vars``
    maps each new variable to its column of the dictionary, e.g. ``{AEDECOD: AEDECOD,
    AESOC: AEBODSYS}``. Rules, each reported (severity error):

    * a term coded twice, differently (e.g. ``Headache`` and ``HEADACHE `` with different
      codes): the first coding row is used;
    * a verbatim term with no coding row: the event is kept with the coded fields empty.
    """
    require_vars(df, "derive_vars_coding", term=term)
    require_vars(dictionary, "derive_vars_coding", frame="dictionary",
                 dictionary_term=dictionary_term, new_vars=new_vars.values())
    columns = list(dict.fromkeys(new_vars.values()))
    key = _text(dictionary[dictionary_term]).str.casefold()
    coded = dictionary.assign(_KEY=key.to_numpy())
    first = ~coded.duplicated("_KEY", keep="first").to_numpy(dtype=bool)
    lookup = coded[first].set_index("_KEY")[columns]
    differs = (_as_text(coded[columns]) != _as_text(lookup.reindex(coded["_KEY"]))).any(axis=1)
    if differs.any():
        rows = coded["_ROW"] if "_ROW" in coded else pd.Series(pd.NA, index=coded.index)
        first_row = rows.groupby(coded["_KEY"], sort=False).transform("first").astype("string")
        issues.report(coded[differs], column=dictionary_term, severity="error",
                      values=coded.loc[differs, dictionary_term].astype("string")
                      + " (first coded in row " + first_row[differs].fillna("?") + ")",
                      rule="verbatim term coded twice with different codes: "
                           "the first coding is used")
    keys = _text(df[term]).str.casefold()
    matched = lookup.reindex(keys.to_numpy())
    uncoded = (~keys.isin(lookup.index) & keys.ne("")).to_numpy(dtype=bool)
    issues.report(df[uncoded], column=term, severity="error",
                  rule="verbatim term not in the coding file: event kept, coded fields empty")
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    for new_name, column in new_vars.items():
        values = matched[column].set_axis(df.index)
        out[new_name] = values.astype("string").fillna("").astype("str") \
            if pd.api.types.is_string_dtype(values) else values
    return out


# --------------------------------------------------------------------------------------------
# end of an event at the data cut-off (AE, CM)


@derivation("event_end_dtc")
def event_end_dtc(df: pd.DataFrame, end: str, cutoff: dt.date | str, start: str | None = None,
                  ongoing: str | None = None) -> pd.Series:
    """--ENDTC: the raw end date as ISO 8601, removed when after the data cut-off.

    --ENDTC: the raw end date ``end`` as ISO 8601 (partial dates truncated), removed when
    the event ends after the data ``cutoff`` (SAP "Data cut-off"; a partial end counts as
    after it when its earliest possible day is). Reports:

    * end after the cut-off: end removed, event ongoing at the cut-off (info);
    * ``ongoing`` (e.g. AEONGO) ``Y`` with an end date (error, kept as collected);
    * ``ongoing`` ``N`` without an end date (warning: not ongoing, end unknown);
    * end before ``start`` - certainly before: its latest possible day is before the start's
      earliest possible day, which for complete dates is plain end < start (error, kept).
    """
    require_vars(df, "event_end_dtc", end=end, start=start, ongoing=ongoing)
    iso, _ = raw_date_to_iso(df[end])
    earliest, latest = iso_date_range(iso)
    after = (earliest > pd.Timestamp(cutoff)).to_numpy(dtype=bool)
    issues.report(df[after], column=end, severity="info",
                  rule=f"ends after the data cut-off {_iso(cutoff)}: end date removed, ongoing at "
                       "the cut-off (--ENRTPT ONGOING, --ENTPT the cut-off date)")
    has_end = iso.ne("").to_numpy(dtype=bool)
    if ongoing is not None:
        flag = _text(df[ongoing]).str.upper()
        both = (flag.eq("Y").to_numpy(dtype=bool) & has_end)
        issues.report(df[both], column=ongoing, severity="error",
                      values=df.loc[both, end].astype("string").radd(f"{ongoing}=Y, end "),
                      rule="marked ongoing but has an end date: kept as collected")
        neither = flag.eq("N").to_numpy(dtype=bool) & ~has_end
        issues.report(df[neither], column=end, severity="warning",
                      values=f"{ongoing}=N, no end date",
                      rule="not marked ongoing but has no end date: end unknown, not ongoing")
    if start is not None:
        start_earliest, _ = iso_date_range(raw_date_to_iso(df[start])[0])
        before = (latest < start_earliest).fillna(False).to_numpy(dtype=bool)
        issues.report(df[before], column=end, severity="error",
                      values=df.loc[before, end].astype("string") + " before start "
                      + df.loc[before, start].astype("string"),
                      rule="end date before start date: kept as collected")
    return iso.where(~after, "")


@derivation("event_enrtpt")
def event_enrtpt(df: pd.DataFrame, end: str, cutoff: dt.date | str,
                 ongoing: str | None = None) -> pd.Series:
    """--ENRTPT: ``ONGOING`` when the event has no end at the data cut-off.

    --ENRTPT: ``ONGOING`` (relative to the cut-off, see --ENTPT) when the event has no end:
    its end is after the ``cutoff`` (removed by ``event_end_dtc``), or the raw ``end`` is blank
    - unless ``ongoing`` (e.g. AEONGO) says ``N``; else ``""``."""
    require_vars(df, "event_enrtpt", end=end, ongoing=ongoing)
    iso, _ = raw_date_to_iso(df[end])
    earliest, _ = iso_date_range(iso)
    after = (earliest > pd.Timestamp(cutoff)).to_numpy(dtype=bool)
    open_end = iso.eq("").to_numpy(dtype=bool)
    if ongoing is not None:
        open_end = open_end & ~_text(df[ongoing]).str.upper().eq("N").to_numpy(dtype=bool)
    return pd.Series(np.where(after | open_end, ONGOING, ""), index=df.index, dtype="str")


@derivation("event_entpt")
def event_entpt(df: pd.DataFrame, enrtpt: str, cutoff: dt.date | str) -> pd.Series:
    """--ENTPT: the data cut-off date where --ENRTPT is ``ONGOING``.

    --ENTPT: the reference point of --ENRTPT, the data ``cutoff`` as ISO 8601, where
    ``enrtpt`` is ``ONGOING``; else ``""``."""
    require_vars(df, "event_entpt", enrtpt=enrtpt)
    ongoing = _text(df[enrtpt]).eq(ONGOING).to_numpy(dtype=bool)
    return pd.Series(np.where(ongoing, _iso(cutoff), ""), index=df.index, dtype="str")


# --------------------------------------------------------------------------------------------
# disposition


@derivation("disposition_dtc")
def disposition_dtc(df: pd.DataFrame, column: str, term: str, ongoing: str = ONGOING) -> pd.Series:
    """DSSTDTC of a disposition record, with its date checked against its term.

    DSSTDTC of a disposition record: the raw date ``column`` as ISO 8601. The DS form has a
    date for every ``term`` but ``ongoing`` (raw-forms.md); a record breaking that is reported
    (warning) and kept as collected."""
    require_vars(df, "disposition_dtc", column=column, term=term)
    iso, _ = raw_date_to_iso(df[column])
    text = _text(df[term]).str.upper()
    dated = iso.ne("")
    wrong = ((text.eq(ongoing.upper()) & dated) | (text.ne("") & text.ne(ongoing.upper()) & ~dated))
    wrong = wrong.to_numpy(dtype=bool)
    issues.report(df[wrong], column=column, severity="warning",
                  values=df.loc[wrong, term].astype("string") + ", date '"
                  + df.loc[wrong, column].astype("string").fillna("") + "'",
                  rule=f"a disposition date is expected for every term but {ongoing}: "
                       "kept as collected")
    return iso


# --------------------------------------------------------------------------------------------
# steps


def _all_numbers(text: pd.Series) -> bool:
    """Whether every non-blank value of ``text`` is a number."""
    numbers = pd.to_numeric(text.where(text.ne(""), None), errors="coerce")
    return bool(numbers.notna().eq(text.ne("")).all())


@derivation("derive_var_seq")
def derive_var_seq(df: pd.DataFrame, new_var: str, by_vars: Sequence[str],
                   order: Sequence[str] = ()) -> pd.DataFrame:
    """Add sequence number ``new_var`` (--SEQ): 1, 2, ... within ``by_vars`` in ``order``.

    A step runs after every direct variable, so --SEQ can order by
    dates that come after it in the output. A text column whose values are all numbers (e.g.
    AESPID) sorts as numbers (2 before 10). Ties, and an empty ``order``, keep the working
    frame's order: for stacked record groups, the order of the groups."""
    require_vars(df, "derive_var_seq", by_vars=by_vars, order=order)
    keys = [(df[name], True) for name in by_vars]
    for name in order:
        values = df[name]
        if not pd.api.types.is_numeric_dtype(values):
            # whether all non-blank values are numbers, decided once per distinct value (the
            # column's codes are those its ranks below are made of)
            codes, distinct = column_codes(values)
            text = as_str(arrow_text(distinct), pd.RangeIndex(len(distinct)))
            if _all_numbers(text.head(100)) and _all_numbers(text):  # most text fails early
                numbers = pd.to_numeric(text.where(text.ne(""), None), errors="coerce")
                values = numbers.to_numpy(dtype="float64", na_value=np.nan)[codes]
        keys.append((values, True))
    # rows sorted by the by-groups, then by order (stable); each group's rows are then
    # consecutive and numbered from 1
    ordered = order_of_ranks([key_ranks(values, ascending) for values, ascending in keys], len(df))
    groups = group_codes(df, by_vars)[ordered]
    starts = np.flatnonzero(run_edges(groups))
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(df)]))
    numbers = np.empty(len(df), dtype="float64")
    numbers[ordered] = np.arange(len(df)) - run_start + 1
    # a missing by-value has no group, so no number (as pandas' groupby leaves it)
    for name in by_vars:
        numbers[df[name].isna().to_numpy(dtype=bool)] = np.nan
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = pd.Series(numbers, index=df.index)
    return out


