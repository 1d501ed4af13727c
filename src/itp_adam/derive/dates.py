"""Date derivations: raw dates to ISO 8601, imputed analysis dates, study days, durations.

Every function works on whole columns. Dates are ``datetime64[us]`` columns at midnight (NaT
missing); ISO 8601 and flags are ``str`` columns with ``""`` for missing.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from contextvars import ContextVar

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
_MONTH_NUMBERS = {f"{m:02d}": f"{m:02d}" for m in range(1, 13)}
DEFAULT_DATE_FORMAT = "DD MON YYYY"
RAW_DATE_FORMATS: dict[str, dict[str, str]] = {
    # name (raw.yaml date_format): the pattern (groups day, mon, year; a day or month group
    # left out or absent is unknown: ISO truncation), the partial forms and an example, for
    # messages. An unknown part is written UN (a two-character day or month) or UNK (a month
    # name); ISO 8601 drops unknown parts from the right. Text is upper-cased first.
    "DD MON YYYY": {"pattern": _RAW_DATE, "partial": "UN MON YYYY, UN UNK YYYY",
                    "example": "03 NOV 2024"},
    "DD-MON-YYYY": {"pattern": r"^(?P<day>[0-9]{2}|UN)-(?P<mon>[A-Z]{3})-(?P<year>[0-9]{4})$",
                    "partial": "UN-MON-YYYY, UN-UNK-YYYY", "example": "03-NOV-2024"},
    "DDMONYYYY": {"pattern": r"^(?P<day>[0-9]{2}|UN)(?P<mon>[A-Z]{3})(?P<year>[0-9]{4})$",
                  "partial": "UNMONYYYY, UNUNKYYYY", "example": "03NOV2024"},
    "YYYY-MM-DD": {"pattern": r"^(?P<year>[0-9]{4})(?:-(?P<mon>[0-9]{2})(?:-(?P<day>[0-9]{2}))?)?$",
                   "partial": "YYYY-MM, YYYY", "example": "2024-11-03"},
    "DD/MM/YYYY": {"pattern": r"^(?P<day>[0-9]{2}|UN)/(?P<mon>[0-9]{2}|UN)/(?P<year>[0-9]{4})$",
                   "partial": "UN/MM/YYYY, UN/UN/YYYY", "example": "03/11/2024"},
    "MM/DD/YYYY": {"pattern": r"^(?P<mon>[0-9]{2}|UN)/(?P<day>[0-9]{2}|UN)/(?P<year>[0-9]{4})$",
                   "partial": "MM/UN/YYYY, UN/UN/YYYY", "example": "11/03/2024"},
    "DD.MM.YYYY": {"pattern": r"^(?P<day>[0-9]{2}|UN)\.(?P<mon>[0-9]{2}|UN)\.(?P<year>[0-9]{4})$",
                   "partial": "UN.MM.YYYY, UN.UN.YYYY", "example": "03.11.2024"},
}
"""The raw date formats a study's ``raw.yaml`` can declare (``date_format``), a closed list."""


def raw_date_text(day: dt.date, date_format: str) -> str:
    """A complete date written in the raw ``date_format`` (``DD MON YYYY``: ``03 NOV 2024``):
    the format's name is its template. Month names from the package's table, never the
    locale's (``strftime('%b')`` depends on it)."""
    month = list(_MONTHS)[day.month - 1]
    return (date_format.replace("YYYY", f"{day.year:04d}").replace("MON", month)
            .replace("MM", f"{day.month:02d}").replace("DD", f"{day.day:02d}"))
RAW_DATE_FORMAT: ContextVar[str] = ContextVar("raw_date_format", default=DEFAULT_DATE_FORMAT)
"""The raw date format of the study whose SDTM is being built, for :func:`raw_date_to_iso`
called without one (set by ``stages.sdtm.build_sdtm`` from ``raw.yaml``)."""
_ISO_DTC = r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})(?:T[0-9:.]*)?)?)?$"
_COMPLETE_DATE = r"\d{4}-\d{2}-\d{2}"
# ISO text that _ISO_DTC reads as its first ten characters (ASCII digits, for pyarrow's RE2)
_TIMED_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]*$"
_DATE_UNIT = "datetime64[us]"
_FOUR_DIGITS = re.compile(r"^[0-9]{4}")  # ISO text: four ASCII digits first (as pyarrow tells it)


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped ``str`` with ``""`` for missing (:func:`itp_adam.derive.columns.text`)."""
    return text(values)


def _distinct_text(values: pa.Array) -> tuple[np.ndarray, pd.Series]:
    """``(codes, distinct)`` of a text array, the distinct values as a ``str`` column."""
    codes, distinct = encode(values)
    return codes, as_str(distinct, pd.RangeIndex(len(distinct)))


def _to_dates(values: pd.Series) -> np.ndarray:
    """Dates as a ``datetime64[D]`` array (time of day dropped, NaT for missing).

    Text (ISO 8601, or raw dates in the study's format) counts only where its date is
    complete (:func:`complete_dates`): a partial date such as ``2024-01`` has no day (impute
    it first with ``derive_vars_dt``; it is not taken as the 1st), and dates with and
    without a time may be mixed in one column. Parsed once per distinct value."""
    if isinstance(values.dtype, pd.StringDtype) or (
            values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")):
        return complete_dates(values).to_numpy(dtype="datetime64[D]")
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


_ISO_8601 = (r"^(?P<y>\d{4}|-)(?:-(?P<m>\d{2}|-)(?:-(?P<d>\d{2}|-)"
             r"(?:T(?P<h>\d{2}|-)(?::(?P<mi>\d{2}|-)(?::(?:(?P<s>\d{2})(?:\.\d+)?|-))?)?)?)?)?$")
"""ISO 8601 as SDTMIG 3.4 section 4.4.4 writes --DTC: truncated on the right (``2003-12``,
``2003``), and a component in the middle not known written as a hyphen (``2003---15``: the
month; ``--12-15``: the year; ``-----T07:15``: the date; ``2003-12-15T-:15``: the hour)."""
_LONGEST_MONTHS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
"""Days of each month in a leap year (a day without its year: at most these)."""
_MISSING_PART = r"^-|--|T-|:-"
"""ISO text with a component written as a hyphen (not known)."""
_KNOWN_PREFIX = (r"^(?P<known>[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2}(?:T[0-9]{2}(?::[0-9]{2}"
                 r"(?::[0-9]{2}(?:\.[0-9]+)?)?)?)?)?)?)")


def known_iso(text: pa.Array) -> pa.Array:
    """ISO 8601 text cut before its first component written as a hyphen, so the date
    derivations read what is known as a right-truncated value: ``2003---15`` is ``2003`` (a day
    without its month is not used, as admiral's imputation does by default), ``2003-12-15T-:15``
    is ``2003-12-15``, and ``--12-15`` or ``-----T07:15`` (no year) is blank. Other text is
    unchanged."""
    marked = pc.match_substring_regex(text, _MISSING_PART)
    if not pc.any(marked).as_py():
        return text
    found = pc.extract_regex(text, _KNOWN_PREFIX)
    known = pc.if_else(pc.is_valid(found), pc.struct_field(found, [0]), "")
    return pc.if_else(marked, known, text)


def iso8601_valid(values: pd.Series) -> pd.Series:
    """True for blank or a valid ISO 8601 date/time (truncated on the right; real dates, hour
    < 24, minute and second < 60): the one check of --DTC text, for SDTM read as input
    (``io/sdtm.py``) and for ``validate`` (``checks/validate.py``). Checked once per distinct
    value (a few thousand dates in millions of records), taken back by code."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    valid = _iso8601_valid_distinct(pd.Series(distinct, dtype=values.dtype)).to_numpy(dtype=bool)
    return pd.Series(valid[codes], index=values.index, dtype=bool)


def _iso8601_valid_distinct(values: pd.Series) -> pd.Series:
    parts = values.str.extract(_ISO_8601)
    # a known component last (a hyphen there is a truncation written wrongly: 2003-12-, 2003--)
    syntax = parts["y"].notna() & ~values.str.endswith("-").fillna(False)
    numbers = parts.apply(pd.to_numeric, errors="coerce")  # a hyphen: NaN, not checked
    in_range = (numbers["m"].isna() | numbers["m"].between(1, 12)) \
        & (numbers["d"].isna() | numbers["d"].between(1, 31)) \
        & (numbers["h"].isna() | numbers["h"].between(0, 23)) \
        & (numbers["mi"].isna() | numbers["mi"].between(0, 59)) \
        & (numbers["s"].isna() | numbers["s"].between(0, 59))
    whole = numbers["y"].notna() & numbers["m"].notna() & numbers["d"].notna()
    day = values.str.slice(0, 10).where(whole)  # a day of a known year and month: a real one
    real_day = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce").notna() | ~whole
    longest = numbers["m"].map(dict(enumerate(_LONGEST_MONTHS, start=1)))  # year not known:
    real_day &= ~(numbers["d"] > longest).fillna(False)  # --02-30 is no day of any year
    return values.eq("") | (syntax & in_range & real_day)


@derivation("raw_date_to_iso")
def raw_date_to_iso(values: pd.Series, date_format: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Convert raw dates in a declared format to ISO 8601, truncating unknown parts (SAP "Dates").

    ``date_format`` is one of :data:`RAW_DATE_FORMATS` (``raw.yaml`` ``date_format``); None:
    the study's format while its SDTM is built (:data:`RAW_DATE_FORMAT`), else ``DD MON YYYY``.
    ``03 NOV 2024`` -> ``2024-11-03``, ``UN NOV 2024`` -> ``2024-11``, ``UN UNK 2019`` -> ``2019``,
    blank -> ``""``; ``DD/MM/YYYY``: ``03/11/2024``, ``UN/11/2024``, ``UN/UN/2019``; ``YYYY-MM-DD``:
    ``2024-11-03``, ``2024-11``, ``2019``. Surrounding blanks and lower case are accepted; days
    and months need two digits.
    Returns ``(iso, invalid)``: ``invalid`` is True for non-blank input that is not a valid
    (partial) date - wrong pattern, unknown month, impossible date, or a known day with
    an unknown month - and ``iso`` is ``""`` there, so the caller can report the value.
    """
    date_format = RAW_DATE_FORMAT.get() if date_format is None else date_format
    if date_format not in RAW_DATE_FORMATS:
        raise ValueError(f"unknown raw date format {date_format!r}; one of: "
                         + ", ".join(RAW_DATE_FORMATS))
    # parsed once per distinct date (a few thousand in millions of records), taken back by code
    codes, distinct = _distinct_text(pc.utf8_upper(arrow_text(values)))
    iso_d, invalid_d = _raw_date_to_iso_distinct(distinct, date_format)
    return (spread_text(iso_d, codes, values.index),
            pd.Series(invalid_d[codes], index=values.index, dtype=bool))


@functools.lru_cache(maxsize=None)
def _raw_date_pattern(date_format: str) -> re.Pattern:
    return re.compile(RAW_DATE_FORMATS[date_format]["pattern"])


def _raw_date_to_iso_distinct(text: pd.Series, date_format: str = DEFAULT_DATE_FORMAT
                              ) -> tuple[np.ndarray, np.ndarray]:
    """``(iso, invalid)`` of :func:`raw_date_to_iso` for distinct values (a few thousand at
    most). Each value is matched in Python (the regex search pandas' ``str.extract`` runs)
    and its parts read from the match; only the complete dates go through ``pd.to_datetime``,
    which decides whether the day exists. A dozen pandas operations on a few hundred values
    took 6 ms per call, and SDTM calls this about 60 times."""
    pattern = _raw_date_pattern(date_format)
    named = "MON" in date_format  # a month name (unknown: UNK), else two digits (unknown: UN)
    months = _MONTHS if named else _MONTH_NUMBERS
    unknown_month = "UNK" if named else "UN"
    values = text.tolist()
    iso = np.full(len(values), "", dtype=object)
    valid = np.zeros(len(values), dtype=bool)
    full: list[int] = []  # positions of complete dates, to be checked as calendar dates
    for position, value in enumerate(values):
        found = pattern.search(value) if isinstance(value, str) else None
        if found is None:
            continue
        year, day, mon = found.group("year"), found.group("day"), found.group("mon")
        month = months.get(mon) if mon is not None else None
        # unknown: written UN / UNK, or left out (ISO truncation) of a date that matched
        day_unknown = day is None or day == "UN"
        if day_unknown and (mon is None or mon == unknown_month):
            iso[position], valid[position] = year, True
        elif day_unknown and month is not None:
            iso[position], valid[position] = f"{year}-{month}", True
        elif not day_unknown and month is not None:
            iso[position] = f"{year}-{month}-{day}"
            full.append(position)
    if full:
        real = pd.to_datetime(pd.Series(iso[full], dtype="str"), format="%Y-%m-%d",
                              errors="coerce").notna().to_numpy(dtype=bool)
        valid[full] = real
        iso[np.array(full)[~real]] = ""
    non_blank = np.array([value != "" for value in values], dtype=bool)
    return iso, non_blank & ~valid


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
    # same raw date column is read by several derivations). The keys (a few thousand at
    # most) are sorted out in Python: pandas' string methods cost a millisecond per call.
    value_codes, values_distinct = column_codes(values)
    values_text = known_iso(arrow_text(values_distinct))
    iso_like = pc.match_substring_regex(values_text, "^[0-9]{4}")
    key = pc.if_else(iso_like, pc.utf8_slice_codeunits(values_text, 0, 10), values_text)
    codes, text = _distinct_text(key)
    days = [day if len(day) == 10 else None for day in iso_date_parts(text.tolist())]
    dates = _calendar_days(days, values)
    return pd.Series(dates[codes][value_codes], index=values.index)


def _calendar_days(days: list[str | None], column: pd.Series) -> np.ndarray:
    """``YYYY-MM-DD`` texts (None: missing) as ``datetime64[ns]``; a text that is not a day
    of the calendar (``2024-02-30``, ``2024-13-01``) is a ValueError naming ``column`` and
    the value (once pandas' own message, which named neither)."""
    dates = pd.to_datetime(pd.Series(days, dtype="str"), format="%Y-%m-%d", errors="coerce")
    bad = dates.isna().to_numpy() & np.array([day is not None for day in days], dtype=bool)
    if bad.any():
        name = column.name if isinstance(column.name, str) else "a date column"
        found = [day for day, wrong in zip(days, bad) if wrong]
        raise ValueError(f"{name}: {found[0]!r} is not a day of the calendar (expected an ISO "
                         f"8601 date YYYY-MM-DD of a real day; {len(found)} such value(s))")
    return dates.to_numpy(dtype="datetime64[ns]")


def iso_date_parts(texts: Sequence[str]) -> list[str]:
    """The date part of each date, raw or ISO 8601, as ISO text: a text with four (ASCII)
    digits first is ISO and keeps its first ten characters (a time dropped, a partial date as
    it is); any other is a raw date in the study's format (:func:`raw_date_to_iso`: ``""``
    where blank or not a date). For distinct values (a list in Python: pandas' string
    methods cost a millisecond per call)."""
    is_iso = [_FOUR_DIGITS.match(text) is not None for text in texts]
    raw = [text for text, iso in zip(texts, is_iso) if not iso]
    converted = iter(raw_date_to_iso(pd.Series(raw, dtype="str"))[0].tolist() if raw else ())
    return [text[:10] if iso else next(converted) for text, iso in zip(texts, is_iso)]


def iso_date_range(iso: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Earliest and latest possible day of (partial) ISO dates, as datetimes (NaT if blank).

    ``2024-11-03`` -> that day twice; ``2024-11`` -> 1 and 30 Nov; ``2024`` -> 1 Jan and 31 Dec.
    """
    # computed once per distinct date part, then taken back by code: the first day in Python
    # and the last one with numpy's months and years (pandas' string methods and offsets cost
    # a millisecond or more per call, and SDTM calls this about 35 times). The column's own
    # distinct values are trimmed and cut to their date part (its codes are remembered per
    # column, so a --DTC read by several derivations is hashed once), not its every record.
    value_codes, values_distinct = column_codes(iso)
    codes, text = _distinct_text(pc.utf8_slice_codeunits(known_iso(arrow_text(values_distinct)),
                                                         0, 10))
    codes = codes[value_codes]
    parts = text.tolist()
    sizes = np.array([len(part) for part in parts], dtype=np.int64)
    first = [part if size == 10 else f"{part}-01" if size == 7 else f"{part}-01-01" if size == 4
             else None for part, size in zip(parts, sizes)]
    earliest = _calendar_days(first, iso)
    day = np.timedelta64(1, "D")
    month_end = ((earliest.astype("datetime64[M]") + 1).astype("datetime64[D]") - day)
    year_end = ((earliest.astype("datetime64[Y]") + 1).astype("datetime64[D]") - day)
    latest = np.where(sizes == 10, earliest, np.where(sizes == 7, month_end, year_end)
                      .astype(earliest.dtype))
    index, name = iso.index, getattr(iso, "name", None)
    return (pd.Series(earliest[codes], index=index, name=name),
            pd.Series(latest[codes], index=index, name=name))


def _bound_dates(df: pd.DataFrame, bound: DateBound) -> np.ndarray:
    """A min/max date as a ``datetime64[D]`` array: a literal date, a date column or an ISO column.

    An ISO text column counts only where its date part is complete, so an AE's partial end
    date never caps the start imputation (SAP: "the record's own (complete) end date").
    """
    if isinstance(bound, (dt.date, np.datetime64)):
        return np.full(len(df), np.datetime64(pd.Timestamp(bound).date(), "D"))
    return _to_dates(df[bound])  # text: complete dates only; 2024-02-30 a named ValueError


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
    ISO 8601 (or an impossible date) gives NaT and no flag. A component written as a hyphen
    (SDTMIG: ``2003---15``, month not known) ends what is known (:func:`known_iso`: ``2003``,
    imputed as a year; admiral's default, ``preserve = FALSE``).
    """
    require_vars(df, "derive_vars_dt", dtc=dtc, min_dates=min_dates, max_dates=max_dates)
    day_rule = _check_rules(date_imputation, day_imputation)
    # Everything but the bounds depends on the date only: computed once per distinct date
    # (names ending in _d), then taken back by code. A well-formed time after a complete date
    # changes nothing, so such text is keyed by its first ten characters.
    # The keys are made of the column's distinct values (codes remembered per column).
    value_codes, values_distinct = column_codes(df[dtc])
    dtc_text = known_iso(arrow_text(values_distinct))
    timed = pc.match_substring_regex(dtc_text, _TIMED_DATE)
    key_codes, distinct = _distinct_text(
        pc.if_else(timed, pc.utf8_slice_codeunits(dtc_text, 0, 10), dtc_text))
    codes = key_codes[value_codes]
    lo_d, hi_d, result_d, year_month_d, year_only_d = _iso_date_rules(
        distinct, date_imputation, day_rule)
    lo, hi, result = lo_d[codes], hi_d[codes], result_d[codes]
    year_month, year_only = year_month_d[codes], year_only_d[codes]

    imputed = (year_month | year_only) & ~np.isnat(result)
    result = _restrict(result, lo, hi, [_bound_dates(df, bound) for bound in min_dates or []],
                       [_bound_dates(df, bound) for bound in max_dates or []])

    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[f"{new_vars_prefix}DT"] = pd.Series(result.astype(_DATE_UNIT), index=df.index)
    if flag_imputation:
        flag = np.select([imputed & year_month, imputed & year_only], [1, 2], default=0)
        out[f"{new_vars_prefix}DTF"] = labels(["", "D", "M"], flag, df.index)
    return out


def _restrict(result: np.ndarray, lo: np.ndarray, hi: np.ndarray, lows: Sequence[np.ndarray],
              highs: Sequence[np.ndarray]) -> np.ndarray:
    """admiral's ``min_dates``/``max_dates``: each bound that lies in ``[lo, hi]`` (the dates
    or datetimes the partial value could be) raises (``lows``) or lowers (``highs``) the
    imputed ``result``; the ``highs`` come last. A value given in full (``lo == hi``) and a
    missing one never change (comparisons with NaT are false)."""
    for bound in lows:
        result = np.where((bound >= lo) & (bound <= hi) & (result < bound), bound, result)
    for bound in highs:
        result = np.where((bound >= lo) & (bound <= hi) & (result > bound), bound, result)
    return result


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


_LEVELS = {"n": 0, "s": 1, "m": 2, "h": 3, "D": 4, "M": 5, "Y": 6}
"""admiral's imputation levels, lowest to highest: none, second, minute, hour, day, month, year."""
_TIME = r"^(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?)?$"
_EARLIEST = np.datetime64("0001-01-01T00:00:00", "s")  # stands for "before any date" ("Y")
_LATEST = np.datetime64("9999-12-31T23:59:59", "s")
_DAY_END = np.timedelta64(86_399, "s")


def _time_rule(time_imputation: str) -> np.ndarray:
    """Hour, minute and second imputed for missing time parts: first / last / ``HH:MM:SS``."""
    rule = {"first": "00:00:00", "last": "23:59:59"}.get(time_imputation, time_imputation)
    found = re.fullmatch(r"(\d{2}):(\d{2}):(\d{2})", str(rule))
    parts = [int(part) for part in found.groups()] if found else []
    if not parts or parts[0] > 23 or parts[1] > 59 or parts[2] > 59:
        hint = " (YAML reads an unquoted 23:59:59 as a number: quote it)" \
            if isinstance(time_imputation, int) else ""
        raise ValueError(f"time_imputation must be 'first', 'last' or 'HH:MM:SS', "
                         f"not {time_imputation!r}{hint}")
    return np.asarray(parts, dtype="int64")


def _dtm_date_rules(level: int, date_imputation: str | int | None
                    ) -> tuple[str | None, str | int | None]:
    """The rules of ``derive_vars_dt`` (year-only, year-month) for ``highest_imputation``:
    month and day up to ``M`` (and ``Y``), the day only for ``D`` (where ``date_imputation``
    may also be a day number), none below."""
    if level >= _LEVELS["M"]:
        if level == _LEVELS["Y"] and date_imputation not in ("first", "last"):
            raise ValueError("highest_imputation='Y' needs date_imputation 'first' or 'last', "
                             f"not {date_imputation!r}")
        return date_imputation, _check_rules(date_imputation, None)
    if level == _LEVELS["D"]:
        if str(date_imputation).isdigit():
            return None, _check_rules(None, int(date_imputation))
        return None, _check_rules(date_imputation, None)
    return None, None


def _flags_wanted(flag_imputation: str, level: int) -> tuple[bool, bool]:
    """Whether ``--DTF`` and ``--TMF`` are added (admiral: auto, both, date, time, none)."""
    if flag_imputation not in ("auto", "both", "date", "time", "none"):
        raise ValueError("flag_imputation must be 'auto', 'both', 'date', 'time' or 'none', "
                         f"not {flag_imputation!r}")
    if flag_imputation == "auto":
        return level > _LEVELS["h"], level > _LEVELS["n"]
    return flag_imputation in ("both", "date"), flag_imputation in ("both", "time")


def _bound_datetimes(df: pd.DataFrame, bound: DateBound, upper: bool) -> np.ndarray:
    """A min/max bound as a ``datetime64[s]`` array. A datetime column (one with a time of
    day other than midnight) or a literal datetime counts as given; a date (a date column,
    a literal date, an ISO text column's complete date part) counts from the start of its
    day as a min bound and up to 23:59:59 as a max bound, as admiral does."""
    if isinstance(bound, str) and pd.api.types.is_datetime64_any_dtype(df[bound]):
        values = df[bound].to_numpy(dtype="datetime64[s]")
        timed = values != values.astype("datetime64[D]")
        if timed.any():  # NaT != NaT is true, but NaT is not a time of day
            timed &= ~np.isnat(values)
        if timed.any():
            return values
    elif not isinstance(bound, str) and not (isinstance(bound, dt.date)
                                             and not isinstance(bound, dt.datetime)):
        moment = pd.Timestamp(bound)
        if moment != moment.normalize():
            return np.full(len(df), np.datetime64(moment.to_datetime64(), "s"))
    days = _bound_dates(df, bound).astype("datetime64[s]")
    return days + _DAY_END if upper else days


def _clock_parts(times: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per ISO time text (after the ``T``): hour, minute, second (NaN: not collected) and
    whether it is valid (``""``, no time, is valid)."""
    clock = times.str.extract(_TIME)
    hour, minute, second = (pd.to_numeric(clock[name]).to_numpy(dtype="float64", na_value=np.nan)
                            for name in ("h", "mi", "s"))
    valid = times.eq("").to_numpy(dtype=bool) | ((hour <= 23) & ~(minute > 59) & ~(second > 59))
    return hour, minute, second, valid  # NaN > 59 is false: a missing part is not out of range


def _iso_datetime_rules(text: pa.Array, level: int, date_imputation: str | None,
                        day_rule: str | int | None, time_rule: np.ndarray,
                        ) -> dict[str, np.ndarray]:
    """Per ISO text (stripped; see ``derive_vars_dtm``): the earliest and latest instant it
    could be, the imputed datetime (NaT: not imputed) before bounds, the shape of the date
    (year-month, year-only, blank) and the collected hour, minute and second (NaN: missing).
    The date part goes through ``_iso_date_rules``, the one date imputation of the module;
    date parts and time parts are each parsed once per distinct value."""
    split = pc.extract_regex(text, r"^(?P<date>[^T]*)(?:T(?P<time>.*))?$")  # always matches
    date_codes, dates = _distinct_text(split.field("date"))
    time_codes, times = _distinct_text(split.field("time"))
    lo_d, hi_d, result_d, year_month, year_only = (
        part[date_codes] for part in _iso_date_rules(dates, date_imputation, day_rule))
    hour, minute, second, time_ok = (part[time_codes] for part in _clock_parts(times))
    blank = pc.equal(text, "").to_numpy(zero_copy_only=False)
    timed = pc.not_equal(split.field("time"), "").to_numpy(zero_copy_only=False)  # "...T": none
    complete = ~np.isnat(lo_d) & ~year_month & ~year_only
    valid = (complete & time_ok) | ((year_month | year_only) & ~timed) | blank
    missing_level = np.select(
        [blank, year_only, year_month, np.isnan(hour), np.isnan(minute), np.isnan(second)],
        [6, 5, 4, 3, 2, 1], default=0)
    usable = valid & (missing_level <= level)

    def at(days: np.ndarray, fill: Sequence[int]) -> np.ndarray:
        """``days`` at the collected time, missing parts taken from ``fill``."""
        h, m, s = (np.where(np.isnan(part), value, part)
                   for part, value in zip((hour, minute, second), fill))
        return days.astype("datetime64[s]") + (h * 3600 + m * 60 + s).astype("int64").astype(
            "timedelta64[s]")

    lo, hi, result = at(lo_d, (0, 0, 0)), at(hi_d, (23, 59, 59)), at(result_d, time_rule)
    if level == _LEVELS["Y"]:  # a blank value could be any date: the bounds alone decide
        lo, hi = np.where(blank, _EARLIEST, lo), np.where(blank, _LATEST, hi)
        result = np.where(blank, _EARLIEST if date_imputation == "first" else _LATEST, result)
    nat = np.datetime64("NaT", "s")
    return {"lo": np.where(valid, lo, nat), "hi": np.where(valid, hi, nat),
            "result": np.where(usable, result, nat),
            "year_month": year_month, "year_only": year_only, "blank": blank,
            "hour": hour, "minute": minute, "second": second}


@derivation("derive_vars_dtm")
def derive_vars_dtm(
    df: pd.DataFrame,
    new_vars_prefix: str,
    dtc: str,
    *,
    highest_imputation: str = "h",
    date_imputation: str | int | None = "first",
    time_imputation: str = "first",
    flag_imputation: str = "auto",
    min_dates: Sequence[DateBound] | None = None,
    max_dates: Sequence[DateBound] | None = None,
    ignore_seconds_flag: bool = False,
) -> pd.DataFrame:
    """Add ``<prefix>DTM``, the imputed datetime of ISO ``dtc``, and its flags ``DTF``, ``TMF``.

    admiral's ``derive_vars_dtm``. ``highest_imputation`` is the highest part that may be
    imputed: ``"Y"`` (year), ``"M"`` (month), ``"D"`` (day), ``"h"`` (hour, the default: a
    complete date is needed), ``"m"`` (minute), ``"s"`` (second) or ``"n"`` (none); a value
    missing a higher part gives NaT. Missing date parts follow ``date_imputation`` with the
    rules of ``derive_vars_dt`` (``first``, ``mid``, ``last``, ``MM-DD``; for ``"D"`` also a
    day number); missing time parts follow ``time_imputation``: ``"first"`` (00:00:00),
    ``"last"`` (23:59:59) or ``"HH:MM:SS"``, e.g. ``2024-03-05T08`` with ``last`` ->
    08:59:59. Fractions of a second are dropped. ``"Y"`` imputes a blank value from the
    bounds alone: the latest ``min_dates`` (``first``) or the earliest ``max_dates``
    (``last``), which it then needs.

    ``min_dates``/``max_dates`` (column names or literal dates) work as in
    ``derive_vars_dt``: a bound counts when it lies within the instants the value could be,
    so also a datetime bound on the day of a date without time. A date bound counts as
    00:00:00 (min) or 23:59:59 (max) of its day; a datetime column (any value with a time
    other than midnight) or a literal datetime as given.

    Flags (``""`` when not set, and where the datetime is missing): ``--DTF`` is ``"D"``
    (YYYY-MM), ``"M"`` (YYYY) or ``"Y"`` (blank), after the shape of ``dtc`` also when a
    bound gave the date; ``--TMF`` is ``"H"``, ``"M"`` or ``"S"``, the highest time part
    that is missing in ``dtc`` or differs in the result (``"S"`` is not set with
    ``ignore_seconds_flag``; admiral stops on collected seconds there, this does not).
    ``flag_imputation``: ``"auto"`` (``--DTF`` when the date may be imputed, ``"D"`` or
    higher; ``--TMF`` unless ``"n"``), ``"both"``, ``"date"``, ``"time"`` or ``"none"``.
    SAP: TRTSDTM = EXSTDTC at 00:00:00 (TRTSTMF ``H``), TRTEDTM = EXENDTC at 23:59:59.
    """
    require_vars(df, "derive_vars_dtm", dtc=dtc, min_dates=min_dates, max_dates=max_dates)
    if highest_imputation not in _LEVELS:
        raise ValueError(f"highest_imputation must be one of {', '.join(_LEVELS)}, "
                         f"not {highest_imputation!r}")
    level = _LEVELS[highest_imputation]
    year_rule, day_rule = _dtm_date_rules(level, date_imputation)
    time_rule = _time_rule(time_imputation)
    date_flag, time_flag = _flags_wanted(flag_imputation, level)
    if level == _LEVELS["Y"] and not (min_dates if date_imputation == "first" else max_dates):
        raise ValueError(f"highest_imputation='Y' with date_imputation={date_imputation!r} "
                         f"needs {'min_dates' if date_imputation == 'first' else 'max_dates'}")

    # per distinct value (codes remembered per column), then taken back by code
    codes, distinct = column_codes(df[dtc])
    rules = _iso_datetime_rules(known_iso(arrow_text(distinct)), level, year_rule, day_rule,
                                time_rule)
    lo, hi = rules["lo"][codes], rules["hi"][codes]
    result = _restrict(rules["result"][codes], lo, hi,
                       [_bound_datetimes(df, bound, upper=False) for bound in min_dates or []],
                       [_bound_datetimes(df, bound, upper=True) for bound in max_dates or []])
    result = np.where((result == _EARLIEST) | (result == _LATEST),
                      np.datetime64("NaT", "s"), result)
    present = ~np.isnat(result)

    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[f"{new_vars_prefix}DTM"] = pd.Series(result.astype(_DATE_UNIT), index=df.index)
    if date_flag:
        shape = np.select([rules["blank"], rules["year_only"], rules["year_month"]], [3, 2, 1],
                          default=0)[codes]
        out[f"{new_vars_prefix}DTF"] = labels(["", "D", "M", "Y"], np.where(present, shape, 0),
                                              df.index)
    if time_flag:
        clock = (result - result.astype("datetime64[D]")).astype("int64")  # seconds of the day
        got = (clock // 3600, clock // 60 % 60, clock % 60)
        differs = [np.isnan(rules[name][codes]) | (rules[name][codes] != part)
                   for name, part in zip(("hour", "minute", "second"), got)]
        if ignore_seconds_flag:
            differs[2] = np.zeros(len(df), dtype=bool)
        flag = np.select([present & differs[0], present & differs[1], present & differs[2]],
                         [1, 2, 3], default=0)
        out[f"{new_vars_prefix}TMF"] = labels(["", "H", "M", "S"], flag, df.index)
    return out


@derivation("derive_var_dy")
def derive_var_dy(df: pd.DataFrame, new_var: str, ref_date: str, date: str) -> pd.DataFrame:
    """Add study day ``new_var`` of ``date`` relative to ``ref_date`` (SAP "Study day").

    ``date - ref + 1`` on or after the reference, ``date - ref`` before it: there is no day 0.
    Float column, NaN when either date is missing. Either may be a date column or ISO 8601
    text (SDTM --DTC): text counts only where its date is complete, its time dropped (a
    partial date gives no study day, as SDTMIG asks).
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
    add_one_if_negative: bool = False,
) -> pd.DataFrame:
    """Add the duration ``end_date - start_date`` as ``new_var`` (float, NaN if a date is missing).

    ``add_one`` follows admiral's ``compute_duration``: one day is added only when the end is
    on or after the start, so a duration is never 0 (same day: 1) and an end 5 days before
    the start gives -5, the usual convention. ``add_one_if_negative=True`` adds the day
    whatever the sign, the plain ``end - start + 1`` (-4 there) of a SAP written that way
    (SAP: ``TRTEDT - TRTSDT + 1``, ``ADURN = AENDT - ASTDT + 1``); a negative result is left
    for the caller to report. ``add_one=False`` adds nothing (e.g. disease duration).
    ``unit="months"`` divides the days by ``days_per_month`` (SAP: 30.4375).
    """
    require_vars(df, "compute_duration", start_date=start_date, end_date=end_date)
    if unit not in ("days", "months"):
        raise ValueError(f"unit must be 'days' or 'months', not {unit!r}")
    if days_per_month <= 0:
        raise ValueError("days_per_month must be positive")
    days = _to_days(df[end_date]) - _to_days(df[start_date])
    if add_one:
        days = days + (1.0 if add_one_if_negative else np.where(days >= 0, 1.0, 0.0))
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = days / days_per_month if unit == "months" else days
    return out
