"""Date derivations: raw dates to ISO 8601, imputed analysis dates, study days, durations.

Every function works on whole columns. Dates are ``datetime64[us]`` columns at midnight (NaT
missing); ISO 8601 and flags are ``str`` columns with ``""`` for missing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..spec.registry import derivation
from .checks import require_vars
from .columns import arrow_text, as_str, column_codes, encode, labels, spread_text, text

DateBound = str | dt.date | np.datetime64
"""A column name, or a literal date (YAML reads an unquoted ``2025-04-14`` as a date)."""

_MONTHS = {
    "JAN": "01", "FEB": "02", "MAR": "03", "APR": "04", "MAY": "05", "JUN": "06",
    "JUL": "07", "AUG": "08", "SEP": "09", "OCT": "10", "NOV": "11", "DEC": "12",
}  # fmt: skip
_RAW_DATE = r"^(?P<day>\d{2}|UN)\s+(?P<mon>[A-Z]{3})\s+(?P<year>\d{4})$"
_ISO_DTC = r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})(?:T[0-9:.]*)?)?)?$"
_COMPLETE_DATE = r"\d{4}-\d{2}-\d{2}"
# ISO text that _ISO_DTC reads as its first ten characters (ASCII digits, for pyarrow's RE2)
_TIMED_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]*$"
_DATE_UNIT = "datetime64[us]"


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped ``str`` with ``""`` for missing (:func:`itp_adam.derive.columns.text`)."""
    return text(values)


def _distinct_text(values: pa.Array) -> tuple[np.ndarray, pd.Series]:
    """``(codes, distinct)`` of a text array, the distinct values as a ``str`` column."""
    codes, distinct = encode(values)
    return codes, as_str(distinct, pd.RangeIndex(len(distinct)))


def _to_dates(values: pd.Series) -> np.ndarray:
    """Dates as a ``datetime64[D]`` array (time of day dropped, NaT for missing)."""
    return pd.to_datetime(values).to_numpy(dtype="datetime64[D]")


def _to_days(values: pd.Series) -> np.ndarray:
    """Dates as float day numbers (days since 1970-01-01), NaN for missing.

    Day numbers make date differences plain float arithmetic with NaN propagation.
    """
    days = _to_dates(values)
    out = days.astype("int64").astype("float64")
    out[np.isnat(days)] = np.nan
    return out


def _month_start(years: np.ndarray, months: np.ndarray) -> np.ndarray:
    return ((years - 1970) * 12 + (months - 1)).astype("datetime64[M]").astype("datetime64[D]")


def _month_end(years: np.ndarray, months: np.ndarray) -> np.ndarray:
    return _month_start(years, months + 1) - np.timedelta64(1, "D")


def _day_in_month(years: np.ndarray, months: np.ndarray, day: int) -> np.ndarray:
    """``year-month-day``, clipped to the month's last day (day 31 in April -> 30 April)."""
    return np.minimum(
        _month_start(years, months) + np.timedelta64(day - 1, "D"), _month_end(years, months)
    )


_ISO_8601 = (r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
             r"(?:T(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?)?)?)?)?$")


def iso8601_valid(values: pd.Series) -> pd.Series:
    """True for blank or a valid ISO 8601 date/time (truncated on the right; real dates, hour
    < 24, minute and second < 60): the one check of --DTC text, for SDTM read as input
    (``io/sdtm.py``) and for ``validate`` (``checks/validate.py``)."""
    parts = values.str.extract(_ISO_8601)
    syntax = parts["y"].notna()
    numbers = parts.apply(pd.to_numeric, errors="coerce")
    in_range = (numbers["m"].isna() | numbers["m"].between(1, 12)) \
        & (numbers["h"].isna() | numbers["h"].between(0, 23)) \
        & (numbers["mi"].isna() | numbers["mi"].between(0, 59)) \
        & (numbers["s"].isna() | numbers["s"].between(0, 59))
    day = values.str.slice(0, 10).where(parts["d"].notna())
    real_day = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce").notna() | parts["d"].isna()
    return values.eq("") | (syntax & in_range & real_day)


@derivation("raw_date_to_iso")
def raw_date_to_iso(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Convert raw ``DD MON YYYY`` dates to ISO 8601, truncating unknown parts (SAP "Dates").

    ``03 NOV 2024`` -> ``2024-11-03``, ``UN NOV 2024`` -> ``2024-11``, ``UN UNK 2019`` -> ``2019``,
    blank -> ``""``. Surrounding blanks and lower case are accepted; the day needs two digits.
    Returns ``(iso, invalid)``: ``invalid`` is True for non-blank input that is not a valid
    (partial) date - wrong pattern, unknown month name, impossible date, or a known day with
    an unknown month - and ``iso`` is ``""`` there, so the caller can report the value.
    """
    # parsed once per distinct date (a few thousand in millions of records), taken back by code
    codes, distinct = _distinct_text(pc.utf8_upper(arrow_text(values)))
    iso_d, invalid_d = _raw_date_to_iso_distinct(distinct)
    return (spread_text(iso_d, codes, values.index),
            pd.Series(invalid_d[codes], index=values.index, dtype=bool))


def _raw_date_to_iso_distinct(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    parts = text.str.extract(_RAW_DATE)
    year, day = parts["year"], parts["day"]
    month = parts["mon"].map(_MONTHS)
    day_unknown = day.eq("UN")
    month_unknown = parts["mon"].eq("UNK")

    year_only = (day_unknown & month_unknown).to_numpy(dtype=bool)
    year_month = (day_unknown & month.notna()).to_numpy(dtype=bool)
    full_text = year + "-" + month + "-" + day
    full_known = (~day_unknown & month.notna()).to_numpy(dtype=bool)
    full_valid = full_known & pd.to_datetime(
        full_text.where(full_known), format="%Y-%m-%d", errors="coerce"
    ).notna().to_numpy(dtype=bool)

    iso = np.select(
        [year_only, year_month, full_valid],
        [
            year.to_numpy(dtype=object),
            (year + "-" + month).to_numpy(dtype=object),
            full_text.to_numpy(dtype=object),
        ],
        default="",
    )
    invalid = text.ne("").to_numpy(dtype=bool) & ~(year_only | year_month | full_valid)
    return np.asarray(iso, dtype=object), invalid


@derivation("iso_datetime")
def iso_datetime(date_iso: pd.Series, time: pd.Series) -> pd.Series:
    """Append a collected ``HH:MM`` time to a complete ISO date (SAP: "time appended when collected").

    ``2024-11-03`` + ``08:30`` -> ``2024-11-03T08:30``. The time is dropped when the date is
    partial or blank (ISO 8601 has no time without a full date). Inputs pair up by position.
    """
    if len(date_iso) != len(time):
        raise ValueError("date_iso and time must have the same length")
    dates, times = arrow_text(date_iso), arrow_text(time)
    codes, distinct = _distinct_text(dates)  # complete or not: decided once per distinct date
    complete = distinct.str.fullmatch(_COMPLETE_DATE).to_numpy(dtype=bool)[codes]
    with_time = pa.array(complete & pc.not_equal(times, "").to_numpy(zero_copy_only=False))
    joined = pc.binary_join_element_wise(dates, times, pa.scalar("T", pa.large_string()))
    return as_str(pc.if_else(with_time, joined, dates), date_iso.index)


def complete_dates(values: pd.Series) -> pd.Series:
    """Raw ``DD MON YYYY`` or ISO 8601 dates as datetimes where the date is complete (a time
    is dropped); NaT where blank or partial. Same index as ``values``."""
    # Parsed once per distinct key. ISO text counts by its first ten characters only, so those
    # are the key of text starting with four digits: "2024-11-03T08:30" -> "2024-11-03".
    # The keys are made of the column's distinct values (codes remembered per column: the
    # same raw date column is read by several derivations).
    value_codes, values_distinct = column_codes(values)
    values_text = arrow_text(values_distinct)
    iso_like = pc.match_substring_regex(values_text, "^[0-9]{4}")
    key = pc.if_else(iso_like, pc.utf8_slice_codeunits(values_text, 0, 10), values_text)
    codes, text = _distinct_text(key)
    iso = text.where(text.str.match(r"^\d{4}"), raw_date_to_iso(text)[0])
    day = iso.str.slice(0, 10)
    dates = pd.to_datetime(day.where(day.str.len() == 10, None), format="%Y-%m-%d")
    return pd.Series(dates.to_numpy()[codes][value_codes], index=values.index)


def iso_date_range(iso: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Earliest and latest possible day of (partial) ISO dates, as datetimes (NaT if blank).

    ``2024-11-03`` -> that day twice; ``2024-11`` -> 1 and 30 Nov; ``2024`` -> 1 Jan and 31 Dec.
    """
    # computed once per distinct date part, then taken back by code
    codes, text = _distinct_text(pc.utf8_slice_codeunits(arrow_text(iso), 0, 10))
    first = text.where(text.str.len() != 7, text + "-01")
    first = first.where(text.str.len() != 4, text + "-01-01")
    earliest = pd.to_datetime(first.where(first.str.len() == 10, None), format="%Y-%m-%d")
    month_end = earliest + pd.offsets.MonthEnd(0)
    year_end = earliest + pd.offsets.YearEnd(0)
    latest = earliest.where(text.str.len() == 10, month_end.where(text.str.len() == 7, year_end))
    index, name = iso.index, getattr(iso, "name", None)
    return (pd.Series(earliest.to_numpy()[codes], index=index, name=name),
            pd.Series(latest.to_numpy()[codes], index=index, name=name))


def _bound_dates(df: pd.DataFrame, bound: DateBound) -> np.ndarray:
    """A min/max date as a ``datetime64[D]`` array: a literal date, a date column or an ISO column.

    An ISO text column counts only where its date part is complete, so an AE's partial end
    date never caps the start imputation (SAP: "the record's own (complete) end date").
    """
    if isinstance(bound, (dt.date, np.datetime64)):
        return np.full(len(df), np.datetime64(pd.Timestamp(bound).date(), "D"))
    column = df[bound]
    if pd.api.types.is_datetime64_any_dtype(column):
        return _to_dates(column)
    codes, date_part = _distinct_text(pc.utf8_slice_codeunits(arrow_text(column), 0, 10))
    complete = date_part.where(date_part.str.fullmatch(_COMPLETE_DATE))
    return _to_dates(pd.to_datetime(complete, format="%Y-%m-%d", errors="coerce"))[codes]


def _imputed_year_only(years: np.ndarray, rule: str) -> np.ndarray:
    """Impute month and day of year-only dates by ``rule``: first / mid / last / ``MM-DD``."""
    if rule == "first":
        return _month_start(years, np.ones_like(years))
    if rule == "last":
        return _month_end(years, np.full_like(years, 12))
    if rule == "mid":
        return _month_start(years, np.full_like(years, 6)) + np.timedelta64(29, "D")
    month, day = (int(part) for part in rule.split("-"))
    return _day_in_month(years, np.full_like(years, month), day)


def _imputed_day(years: np.ndarray, months: np.ndarray, rule: str | int) -> np.ndarray:
    """Impute the day of year-month dates by ``rule``: first / last / a day number."""
    if rule == "first":
        return _month_start(years, months)
    if rule == "last":
        return _month_end(years, months)
    return _day_in_month(years, months, int(rule))


def _is_month_day(rule: str) -> bool:
    """True for an ``MM-DD`` pair that exists in a leap year (so ``02-29`` is allowed)."""
    if not re.fullmatch(r"\d{2}-\d{2}", rule):
        return False
    try:
        dt.date(2000, int(rule[:2]), int(rule[3:]))
    except ValueError:
        return False
    return True


def _check_rules(date_imputation: str | None, day_imputation: str | int | None) -> str | int | None:
    """Validate the two rules; return the day rule, defaulted from ``date_imputation`` as in admiral."""
    if date_imputation not in (None, "first", "mid", "last") and not _is_month_day(
        str(date_imputation)
    ):
        raise ValueError(
            f"date_imputation must be None, 'first', 'mid', 'last' or 'MM-DD', not {date_imputation!r}"
        )
    if day_imputation is None:
        if date_imputation in (None, "first", "last"):
            return date_imputation
        return 15 if date_imputation == "mid" else int(date_imputation[-2:])
    if day_imputation in ("first", "last"):
        return day_imputation
    if str(day_imputation).isdigit() and 1 <= int(day_imputation) <= 31:
        return int(day_imputation)
    raise ValueError(f"day_imputation must be 'first', 'last' or 1-31, not {day_imputation!r}")


@derivation("derive_vars_dt")
def derive_vars_dt(
    df: pd.DataFrame,
    new_vars_prefix: str,
    dtc: str,
    *,
    date_imputation: str | None = None,
    day_imputation: str | int | None = None,
    min_dates: Sequence[DateBound] | None = None,
    max_dates: Sequence[DateBound] | None = None,
    flag_imputation: bool = True,
) -> pd.DataFrame:
    """Add ``<prefix>DT`` (imputed date) and ``<prefix>DTF`` (imputation flag) from ISO ``dtc``.

    Two rules, one per level of missingness (SAP "ADaM imputation"):

    * ``date_imputation`` - year-only dates: ``None`` (no imputation, NaT), ``"first"``
      (01-01), ``"mid"`` (06-30), ``"last"`` (12-31) or an explicit ``"MM-DD"``.
    * ``day_imputation`` - year-month dates: ``"first"``, ``"last"`` (last day of the month)
      or a day number (clipped to the month's length). ``None`` follows ``date_imputation``
      as admiral does: first -> 1, mid -> 15, last -> last, ``"MM-DD"`` -> DD, None -> none.

    SAP rules: diagnosis ``date_imputation="07-01", day_imputation=15``; AE/CM start
    ``"first"`` with ``min_dates=[first dose]`` and ``max_dates=[own end DTC]``; AE/CM end
    ``"last"`` with ``max_dates=[cut-off]``.

    ``min_dates``/``max_dates`` (column names or literal dates) follow admiral: a bound counts
    only when it lies within the range of dates the partial date could be (so the collected
    parts never change), then the imputed date is raised to it (min) or lowered to it (max);
    max bounds are applied after min bounds, so a start is never imputed after its own end.
    For a start date this reproduces "when the known parts equal those of the first dose date,
    impute the first dose date": the first dose date lies in the partial date's range exactly
    when year (and month) agree, and the range's first day is never later than it. An ISO
    text column as a bound counts only where complete. Complete dates are never changed.

    The flag is ``"D"`` (day imputed) or ``"M"`` (month and day imputed), kept when a min/max
    bound moved the date, ``""`` otherwise. Times in ``dtc`` are ignored; a value that is not
    ISO 8601 (or an impossible date) gives NaT and no flag.
    """
    require_vars(df, "derive_vars_dt", dtc=dtc)
    day_rule = _check_rules(date_imputation, day_imputation)
    # Everything but the bounds depends on the date only: computed once per distinct date
    # (names ending in _d), then taken back by code. A well-formed time after a complete date
    # changes nothing, so such text is keyed by its first ten characters.
    # The keys are made of the column's distinct values (codes remembered per column).
    value_codes, values_distinct = column_codes(df[dtc])
    dtc_text = arrow_text(values_distinct)
    timed = pc.match_substring_regex(dtc_text, _TIMED_DATE)
    key_codes, distinct = _distinct_text(
        pc.if_else(timed, pc.utf8_slice_codeunits(dtc_text, 0, 10), dtc_text))
    codes = key_codes[value_codes]
    lo_d, hi_d, result_d, year_month_d, year_only_d = _iso_date_rules(
        distinct, date_imputation, day_rule)
    lo, hi, result = lo_d[codes], hi_d[codes], result_d[codes]
    year_month, year_only = year_month_d[codes], year_only_d[codes]

    imputed = (year_month | year_only) & ~np.isnat(result)
    for bound in min_dates or []:
        b = _bound_dates(df, bound)
        result = np.where(imputed & (b >= lo) & (b <= hi) & (result < b), b, result)
    for bound in max_dates or []:
        b = _bound_dates(df, bound)
        result = np.where(imputed & (b >= lo) & (b <= hi) & (result > b), b, result)

    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[f"{new_vars_prefix}DT"] = pd.Series(result.astype(_DATE_UNIT), index=df.index)
    if flag_imputation:
        flag = np.select([imputed & year_month, imputed & year_only], [1, 2], default=0)
        out[f"{new_vars_prefix}DTF"] = labels(["", "D", "M"], flag, df.index)
    return out


def _iso_date_rules(distinct: pd.Series, date_imputation: str | None, day_rule: str | int | None
                    ) -> tuple[np.ndarray, ...]:
    """Per distinct ISO text: earliest and latest possible day, the imputed date (before
    bounds), and whether it is a year-month or a year-only date (see ``derive_vars_dt``)."""
    parts = distinct.str.extract(_ISO_DTC)
    has = {name: parts[name].notna().to_numpy(dtype=bool) for name in ("year", "month", "day")}
    years, months, days = (
        pd.to_numeric(parts[name]).fillna(1).to_numpy(dtype="int64")
        for name in ("year", "month", "day")
    )
    month_ok = (months >= 1) & (months <= 12)
    month_start, month_end = _month_start(years, months), _month_end(years, months)
    complete_date = month_start + (days - 1).astype("timedelta64[D]")
    complete = has["day"] & month_ok & (days >= 1) & (complete_date <= month_end)
    year_month = has["month"] & ~has["day"] & month_ok
    year_only = has["year"] & ~has["month"]

    nat = np.datetime64("NaT", "D")
    lo = np.select(
        [complete, year_month, year_only],
        [complete_date, month_start, _month_start(years, np.ones_like(years))],
        default=nat,
    )
    hi = np.select(
        [complete, year_month, year_only],
        [complete_date, month_end, _month_end(years, np.full_like(years, 12))],
        default=nat,
    )
    result = np.where(complete, complete_date, nat)
    if day_rule is not None:
        result = np.where(year_month, _imputed_day(years, months, day_rule), result)
    if date_imputation is not None:
        result = np.where(year_only, _imputed_year_only(years, date_imputation), result)
    return lo, hi, result, year_month, year_only


@derivation("derive_var_dy")
def derive_var_dy(df: pd.DataFrame, new_var: str, ref_date: str, date: str) -> pd.DataFrame:
    """Add study day ``new_var`` of ``date`` relative to ``ref_date`` (SAP "Study day").

    ``date - ref + 1`` on or after the reference, ``date - ref`` before it: there is no day 0.
    Float column, NaN when either date is missing.
    """
    require_vars(df, "derive_var_dy", ref_date=ref_date, date=date)
    diff = _to_days(df[date]) - _to_days(df[ref_date])
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = np.where(diff >= 0, diff + 1, diff)
    return out


@derivation("compute_duration")
def compute_duration(
    df: pd.DataFrame,
    new_var: str,
    start_date: str,
    end_date: str,
    *,
    unit: str = "days",
    days_per_month: float = 30.4375,
    add_one: bool = True,
) -> pd.DataFrame:
    """Add the duration ``end_date - start_date`` as ``new_var`` (float, NaN if a date is missing).

    ``add_one`` adds one day to the day count whatever its sign (SAP: ``TRTEDT - TRTSDT + 1``,
    ``ADURN = end - start + 1``; a negative result is left for the caller to report).
    ``unit="months"`` divides the days by ``days_per_month`` (SAP: 30.4375; disease duration
    uses ``add_one=False``).
    """
    require_vars(df, "compute_duration", start_date=start_date, end_date=end_date)
    if unit not in ("days", "months"):
        raise ValueError(f"unit must be 'days' or 'months', not {unit!r}")
    if days_per_month <= 0:
        raise ValueError("days_per_month must be positive")
    days = _to_days(df[end_date]) - _to_days(df[start_date]) + (1 if add_one else 0)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = days / days_per_month if unit == "months" else days
    return out
