"""Subject-level derivations from several source datasets (ADSL): extreme dates, first events.

admiral's ``derive_var_extreme_dt`` (date last known alive) and ``derive_vars_extreme_event``
(cause of death from AE or DS). A source or event is a mapping naming its dataset (a frame;
``None`` or left out: the input frame itself), so a spec writes
``{dataset: {dataset: AE}, date: AESTDTC}`` and the runner puts the built AE frame in place.
Each source is filtered and reduced on whole columns; the results of the few sources are
stacked and one value per subject is taken back onto ``df`` by its keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..spec.registry import derivation
from .checks import require_vars
from .columns import group_codes, row_positions
from .core import OrderKey, _order_keys, _select_extreme, filter_mask
from .dates import _DATE_UNIT, derive_vars_dt

_SOURCE_KEYS = {"dataset", "date", "filter", "date_imputation"}
_EVENT_KEYS = {"dataset", "filter", "order", "mode", "set_values"}
_EVENT = "__event"


def _part(df: pd.DataFrame, item: object, where: str, allowed: set[str],
          required: set[str]) -> tuple[pd.DataFrame, Mapping[str, Any]]:
    """A source/event mapping checked for its keys, and the frame it reads."""
    if not isinstance(item, Mapping):
        raise ValueError(f"{where} must be a mapping with keys {sorted(allowed)}, not {item!r}")
    unknown, missing = sorted(set(item) - allowed), sorted(required - set(item))
    if unknown or missing:
        problem = f"unknown keys {unknown}" if unknown else f"missing keys {missing}"
        raise ValueError(f"{where}: {problem}; the keys are {sorted(allowed)}")
    frame = item.get("dataset")
    if frame is None:
        return df, item
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{where}: dataset must be a data frame (in a spec {{dataset: NAME}}), "
                         f"not {type(frame).__name__}")
    return frame, item


def _mode(mode: object, where: str) -> str:
    if mode not in ("first", "last"):
        raise ValueError(f"{where}mode must be 'first' or 'last', not {mode!r}")
    return str(mode)


def _source_dates(frame: pd.DataFrame, date: str, date_imputation: str | None) -> np.ndarray:
    """A source's dates as ``datetime64[D]``: a date(time) column as its day, ISO text through
    ``derive_vars_dt`` (partial dates imputed by ``date_imputation``, else missing)."""
    column = frame[date]
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.to_numpy(dtype="datetime64[D]")
    dated = derive_vars_dt(frame[[date]], "_X", date, date_imputation=date_imputation,
                           flag_imputation=False)
    return dated["_XDT"].to_numpy(dtype="datetime64[D]")


@derivation("derive_var_extreme_dt")
def derive_var_extreme_dt(
    df: pd.DataFrame,
    new_var: str,
    sources: Sequence[Mapping[str, Any]],
    mode: str = "last",
    subject_keys: Sequence[str] = ("USUBJID",),
) -> pd.DataFrame:
    """Add ``new_var``, per subject the latest (or earliest) date over several source datasets.

    admiral's ``derive_var_extreme_dt``, e.g. the date last known alive (SAP: the latest
    AESTDTC, AEENDTC, LBDTC and TRTEDT). Each source is a mapping ``{dataset: frame (None or
    left out: df itself), date: COLUMN, filter: "expression" (optional), date_imputation:
    first | last | mid | MM-DD (optional)}``. The date column is a date(time) column (its
    day counts) or ISO 8601 text, of which complete dates count and partial ones only when
    ``date_imputation`` is given (imputed as in ``derive_vars_dt``; a time is ignored).
    Records are matched to ``df`` by ``subject_keys``; a subject without any date gets NaT.
    The result is a date column (midnight).
    """
    require_vars(df, "derive_var_extreme_dt", subject_keys=subject_keys)
    _mode(mode, "")
    keys = list(subject_keys)
    if isinstance(sources, (str, Mapping)) or not isinstance(sources, Sequence) or not sources:
        raise ValueError("sources must be a non-empty list of {dataset, date, filter, "
                         "date_imputation} mappings")
    parts = []
    for index, item in enumerate(sources):  # a few sources: each is whole columns
        where = f"sources[{index}]"
        frame, source = _part(df, item, where, _SOURCE_KEYS, {"date"})
        date = source["date"]
        require_vars(frame, "derive_var_extreme_dt", frame=where, subject_keys=keys, date=date)
        dates = _source_dates(frame, date, source.get("date_imputation"))
        keep = filter_mask(frame, source.get("filter")) & ~np.isnat(dates)
        part = frame.loc[keep, keys].reset_index(drop=True)
        part["__date"] = dates[keep]
        parts.append(part)
    found = pd.concat(parts, ignore_index=True)
    # group codes of df's subjects and the found dates' subjects together: one extreme per code
    codes = group_codes(pd.concat([df[keys], found[keys]], ignore_index=True), keys)
    days = found["__date"].to_numpy(dtype="datetime64[D]").astype("int64")
    per_code = pd.Series(days).groupby(codes[len(df):])
    extreme = per_code.max() if mode == "last" else per_code.min()
    result = extreme.reindex(codes[:len(df)]).to_numpy(dtype="float64")  # NaN: no date
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    days_out = np.where(np.isnan(result), np.datetime64("NaT", "D"),
                        np.nan_to_num(result).astype("int64").astype("datetime64[D]"))
    out[new_var] = pd.Series(days_out.astype(_DATE_UNIT), index=df.index)
    return out


def _event_values(frame: pd.DataFrame, rows: np.ndarray, set_values: Mapping[str, Any],
                  where: str) -> dict[str, pd.Series]:
    """The values an event gives its selected ``rows``: ``{NEWVAR: constant or {var: COL}}``."""
    values = {}
    index = pd.RangeIndex(len(rows))
    for name, value in set_values.items():
        if isinstance(value, Mapping):
            if set(value) != {"var"} or not isinstance(value["var"], str):
                raise ValueError(f"{where}: set_values {name}: a column is written {{var: NAME}}, "
                                 f"not {dict(value)!r}")
            values[name] = frame[value["var"]].iloc[rows].reset_index(drop=True)
        elif isinstance(value, str):
            values[name] = pd.Series(value, index=index, dtype="str")
        else:
            values[name] = pd.Series([value] * len(rows), index=index)
    return values


@derivation("derive_vars_extreme_event")
def derive_vars_extreme_event(
    df: pd.DataFrame,
    events: Sequence[Mapping[str, Any]],
    new_vars: Sequence[str] | None = None,
    by_vars: Sequence[str] = ("USUBJID",),
    order: Sequence[OrderKey] | None = None,
    mode: str = "first",
) -> pd.DataFrame:
    """Add the values of each subject's first event, events taken in priority order (or ``order``).

    admiral's ``derive_vars_extreme_event`` with ``event()``: each event is a mapping
    ``{dataset: frame (None or left out: df itself), filter: "expression" (optional),
    order: [...], mode: first | last (optional), set_values: {NEWVAR: constant or {var:
    COLUMN}}}``. An event's ``order``/``mode`` keep one record per group of the event
    (``mode`` alone: the first or last in input order; default ``first``). The records of
    all events are stacked in list order and grouped by ``by_vars``; per group the
    ``mode`` record gives the values: without ``order`` the first event of the list that
    has a record (SAP cause of death: a fatal AE's AEDECOD, lowest AESEQ, else a DS death
    record's DSTERM), with ``order`` (keys naming new variables) the first or last record
    in that order; ties keep the stacking order. ``new_vars`` (default: every
    ``set_values`` name) are added; groups without a record get ``""`` (text) or NaN/NaT.
    Raises ValueError when a new variable already exists in ``df``.
    """
    require_vars(df, "derive_vars_extreme_event", by_vars=by_vars)
    keys = list(by_vars)
    _mode(mode, "")
    if isinstance(events, (str, Mapping)) or not isinstance(events, Sequence) or not events:
        raise ValueError("events must be a non-empty list of {dataset, filter, order, mode, "
                         "set_values} mappings")
    parts, names = [], []
    for index, item in enumerate(events):  # a few events: each is whole columns
        where = f"events[{index}]"
        frame, event = _part(df, item, where, _EVENT_KEYS, {"set_values"})
        set_values = event["set_values"]
        if not isinstance(set_values, Mapping) or not set_values:
            raise ValueError(f"{where}: set_values must be a mapping {{NEWVAR: value}}")
        columns = [value["var"] for value in set_values.values()
                   if isinstance(value, Mapping) and isinstance(value.get("var"), str)]
        event_order = event.get("order")
        require_vars(frame, "derive_vars_extreme_event", frame=where, by_vars=keys,
                     order=event_order, set_values=columns)
        candidates = filter_mask(frame, event.get("filter"))
        event_mode = _mode(event.get("mode", "first"), f"{where}: ")
        if event_order is not None or "mode" in event:  # one record per group of the event
            sort_keys = [(frame[name], ascending) for name, ascending in _order_keys(event_order or [])]
            candidates = _select_extreme(frame, keys, sort_keys, candidates, event_mode)
        rows = np.flatnonzero(candidates)
        part = frame[keys].iloc[rows].reset_index(drop=True)
        for name, values in _event_values(frame, rows, set_values, where).items():
            part[name] = values
        part[_EVENT] = index
        parts.append(part)
        names += [name for name in set_values if name not in names]

    wanted = names if new_vars is None else list(new_vars)
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise ValueError(f"new_vars {unknown} are set by no event; the events set {names}")
    existing = sorted(set(wanted) & set(df.columns))
    if existing:
        raise ValueError(f"variables already in the data frame: {existing}")
    stacked = pd.concat(parts, ignore_index=True)
    require_vars(stacked, "derive_vars_extreme_event", frame="the stacked events", order=order)
    sort_keys = ([(stacked[_EVENT], True)] if order is None else
                 [(stacked[name], ascending) for name, ascending in _order_keys(order)])
    chosen = stacked[_select_extreme(stacked, keys, sort_keys, np.ones(len(stacked), bool), mode)]
    rows = row_positions(df, chosen, keys)  # -1: no event for the group
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    for name in wanted:
        values = chosen[name].reset_index(drop=True).reindex(rows)
        if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            values = values.fillna("")  # text: "" for missing (also a column of no values)
        out[name] = values.set_axis(df.index)
    return out
