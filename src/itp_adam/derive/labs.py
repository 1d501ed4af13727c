"""SDTM findings and exposure derivations: EX periods at the cut-off (EX), lab
standardisation and normal range indicator (LB), nominal visit numbers (LB, RS).

Every function is registered by name for the dataset specs (``specs/sdtm/ex.yaml``,
``lb.yaml``, ``rs.yaml``) and works on whole columns: no loop over records or subjects.
Each data problem a rule handles is reported to the run's data-issues log
(:func:`itp_adam.issues.report`), naming the dataset from the frame's ``DOMAIN`` column.

SAP "Laboratory standardisation" (factors and standard units from ``study.yaml``
``unit_conversion``, passed as ``conversion``):

=================================  ===========================  =========  ==========
reported result (LBORRES)          LBSTRESC                     LBSTRESN   LBSTRESU
=================================  ===========================  =========  ==========
number, known unit                 number x factor, as text     same       standard
``<N`` / ``>N``, known unit        sign + N x factor (``<5``)   empty      standard
text (``CLUMPED``, ``NOT DONE``)   as given                     empty      empty
number or ``<N``, unknown unit     empty (data issue)           empty      empty
=================================  ===========================  =========  ==========

Numbers become text with at most ``significant`` (10) significant digits and no trailing
zeros, so binary noise never shows (``0.12 ukat/L x 60`` -> ``7.2``, ``25000 /uL`` -> ``25``);
LBSTRESN is that text read back, so the two always agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .. import issues
from .columns import arrow_text, as_str, column_codes, distinct_rows, encode, labels, spread_text
from .dates import _text, complete_dates
from .core import parse_result
from ..spec.registry import derivation
from .checks import require_vars

ConversionTable = Mapping[str, Mapping[str, object]]


# --------------------------------------------------------------------------------------------
# helpers




def _number_text(values: np.ndarray | pd.Series, significant: int = 10) -> np.ndarray:
    """Numbers as text with at most ``significant`` significant digits and no trailing zeros
    (``25.0`` -> ``"25"``, ``7.199999999999999`` -> ``"7.2"``); NaN -> ``""``."""
    numbers = np.asarray(pd.to_numeric(pd.Series(values)).to_numpy(dtype="float64", na_value=np.nan))
    # formatted once per distinct value (by bit pattern, so -0.0 stays "-0"), then spread back
    codes, distinct = pd.factorize(numbers.view(np.int64))
    distinct = np.asarray(distinct, dtype=np.int64).view(np.float64)
    text = np.char.mod(f"%.{int(significant)}g", distinct).astype(object)
    text[np.isnan(distinct)] = ""
    return text[codes] if len(text) else np.full(len(numbers), "", dtype=object)


def _to_number(values: np.ndarray | pd.Series) -> np.ndarray:
    """Text or numbers as float64 (NaN for blank), parsed once per distinct value."""
    values = pd.Series(values)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    codes, distinct = pd.factorize(values)
    numbers = pd.to_numeric(pd.Series(distinct)).to_numpy(dtype="float64", na_value=np.nan)
    return np.append(numbers, np.nan)[codes]  # code -1 (missing) -> the NaN appended


def _factor(tests: pd.Series, units: pd.Series, conversion: ConversionTable) -> np.ndarray:
    """Per row, the factor taking ``units`` to the standard unit of ``tests`` (NaN if unknown)."""
    test_codes, test_names = pd.factorize(_text(tests))
    unit_codes, unit_names = pd.factorize(_text(units))
    # a (distinct test x distinct unit) table of factors, looked up by the rows' codes
    table = np.full((len(test_names) + 1, len(unit_names) + 1), np.nan)
    test_pos = {name: i for i, name in enumerate(test_names)}
    unit_pos = {name: i for i, name in enumerate(unit_names)}
    for test, by_unit in conversion["factors"].items():
        for unit, factor in by_unit.items():
            i, j = test_pos.get(str(test)), unit_pos.get(str(unit).strip())
            if i is not None and j is not None:
                table[i, j] = float(factor)
    return table[test_codes, unit_codes]


def _standard_unit(tests: pd.Series, conversion: ConversionTable) -> np.ndarray:
    units = {str(test): str(unit) for test, unit in conversion["standard_units"].items()}
    codes, names = pd.factorize(_text(tests))  # looked up once per distinct test
    return pd.Series(names, dtype=object).map(units).fillna("").to_numpy(dtype=object)[codes]


class _Standardised:
    """The SAP standardisation of one result column (see the module doc), computed once per
    distinct (result, unit, test): every attribute is per distinct combination; ``codes``
    gives each record's combination (a few thousand among millions of records)."""

    def __init__(self, df: pd.DataFrame, result: str, unit: str, test: str,
                 conversion: ConversionTable, significant: int = 10) -> None:
        self.codes, self.rows = distinct_rows(df, [result, unit, test])
        df = self.rows
        parsed = parse_result(df[result])
        self.result = _text(df[result])
        self.value = parsed["value"].to_numpy(dtype="float64")
        self.comparator = parsed["comparator"].to_numpy(dtype=object)
        self.is_text = parsed["is_text"].to_numpy(dtype=bool)
        self.factor = _factor(df[test], df[unit], conversion)
        self.standard_unit = _standard_unit(df[test], conversion)
        self.numeric = ~np.isnan(self.value)
        self.known = ~np.isnan(self.factor) & (self.standard_unit != "")
        self.converted = self.numeric & self.known
        self.text = _number_text(np.where(self.converted, self.value * np.nan_to_num(self.factor), np.nan),
                                 significant)
        self.unknown_unit = self.numeric & ~self.known


# --------------------------------------------------------------------------------------------
# visits and numbers as text


@derivation("number_text")
def number_text(df: pd.DataFrame, column: str, significant: int = 10) -> pd.Series:
    """A numeric column as text without binary noise or trailing zeros.

    A numeric column as text, at most ``significant`` significant digits, no trailing zeros
    (``125.0`` -> ``"125"``, ``3.4`` -> ``"3.4"``); missing -> ``""`` (e.g. LBORNRLO)."""
    require_vars(df, "number_text", column=column)
    codes, distinct = distinct_rows(df, [column])  # formatted once per distinct value
    return spread_text(_number_text(distinct[column], significant), codes, df.index)


@derivation("visitnum")
def visitnum(df: pd.DataFrame, visit: str, date: str, subject: str, nums: Mapping[str, float],
             unscheduled: str = "UNSCHEDULED", increment: float = 0.01) -> pd.Series:
    """VISITNUM of the nominal visit label, unscheduled visits numbered in between.

    VISITNUM of the nominal ``visit`` label from ``nums`` (label -> number, the ``num`` of
    the VISIT codelist; labels matched ignoring case and surrounding blanks).

    An ``unscheduled`` record gets the VISITNUM of the subject's last scheduled record of this
    dataset dated on or before its ``date`` (several that day: the highest) + ``increment``;
    with no scheduled record before it, the lowest number of ``nums`` + ``increment``.
    A label not in ``nums`` (reported by the VISIT codelist) or an unscheduled record without
    a date gets NaN.
    """
    require_vars(df, "visitnum", visit=visit, date=date, subject=subject)
    mapping = {str(label).strip().casefold(): float(num) for label, num in nums.items()}
    # labels looked up once per distinct label; subjects matched as integer codes
    codes, distinct = column_codes(df[visit])
    text = as_str(arrow_text(distinct), pd.RangeIndex(len(distinct)))
    names = pd.Series(text.str.casefold(), dtype=object)
    num = names.map(mapping).to_numpy(dtype="float64", na_value=np.nan)[codes]
    is_unscheduled = names.eq(unscheduled.strip().casefold()).to_numpy(dtype=bool)[codes]
    days = complete_dates(df[date]).to_numpy()
    subject_codes, subject_values = column_codes(df[subject])  # stripped: " 01" is "01"
    subjects = encode(arrow_text(subject_values))[0][subject_codes]
    has_date = ~np.isnat(days)

    out = num.copy()
    wanted = np.flatnonzero(is_unscheduled & has_date)
    if len(wanted):
        # one integer per subject x day x visit number; the scheduled records' integers
        # sorted: the last one at or below an unscheduled record's (its subject and day, any
        # number) is the subject's latest scheduled record on or before its date (the highest
        # number that day), if of the same subject
        levels = np.unique(np.fromiter(mapping.values(), dtype="float64"))  # a few dozen
        size = len(levels) + 1
        day = days.astype("datetime64[D]").view(np.int64)  # complete dates: whole days
        day = np.where(has_date, day - day[has_date].min(), 0)
        span = int(day.max()) + 1
        key = (subjects.astype(np.int64) * span + day) * size
        scheduled = ~np.isnan(num) & has_date
        sorted_keys = np.sort(key[scheduled] + np.searchsorted(levels, num[scheduled]))
        at = np.searchsorted(sorted_keys, key[wanted] + size - 1, side="right") - 1
        found = np.append(sorted_keys, 0)[at]  # at == -1: any value, not used
        same = (at >= 0) & (found // size // span == subjects[wanted])
        before = levels[np.where(same, found % size, 0)] if len(levels) else np.zeros(len(at))
        first = min(mapping.values()) if mapping else 0.0
        out[wanted] = np.round(np.where(same, before, first) + increment, 6)
    return pd.Series(out, index=df.index, dtype="float64")


# --------------------------------------------------------------------------------------------
# EX


@derivation("exposure_end")
def exposure_end(df: pd.DataFrame, cutoff: dt.date | str, start: str = "EXSTDAT",
                 end: str = "EXENDAT", subject: str = "SUBJID") -> pd.Series:
    """EXENDTC of a dosing period (SAP "Data cut-off"), with the dosing-log checks.

    The raw ``end`` as ISO 8601; a period still running (blank end) or ending after
    ``cutoff`` ends at the cut-off date. Reported to data issues:

    * info: each period ended at the cut-off (column ``end``, value the raw end);
    * warning: a period of a subject starting on or before the end of an earlier period of
      that subject (periods ordered by start, then raw row; column ``start``);
    * error: a period whose end is before its start (column ``end``); kept as collected.
    """
    require_vars(df, "exposure_end", start=start, end=end, subject=subject)
    limit = pd.Timestamp(cutoff)
    starts, ends = complete_dates(df[start]), complete_dates(df[end])
    raw_end = _text(df[end])
    running = ends.isna().to_numpy(dtype=bool)
    after = (ends > limit).to_numpy(dtype=bool)
    capped = ends.where(~(running | after), limit)
    issues.report(df[running], column=end, values=raw_end[running], severity="info",
                  rule=f"dosing period still running (no end date): EXENDTC set to the data "
                       f"cut-off {limit:%Y-%m-%d}")
    issues.report(df[after], column=end, values=raw_end[after], severity="info",
                  rule=f"dosing period ends after the data cut-off {limit:%Y-%m-%d}: EXENDTC set "
                       "to the cut-off")

    backwards = (ends < starts).to_numpy(dtype=bool)
    issues.report(df[backwards], column=end, values=raw_end[backwards], severity="error",
                  rule=f"dosing period ends before it starts ({end} before "
                                        f"{start}): kept as collected")

    periods = pd.DataFrame({"subject": _text(df[subject]).to_numpy(), "start": starts.to_numpy(),
                            "end": capped.to_numpy(), "pos": np.arange(len(df))})
    periods = periods.sort_values(["subject", "start", "pos"], kind="stable")
    earlier_end = periods.groupby("subject", sort=False)["end"].cummax()
    earlier_end = earlier_end.groupby(periods["subject"], sort=False).shift(1)
    overlap_pos = periods.loc[(periods["start"] <= earlier_end).to_numpy(dtype=bool), "pos"].to_numpy()
    overlap = np.zeros(len(df), dtype=bool)
    overlap[overlap_pos] = True
    issues.report(df[overlap], column=start, severity="warning",
                  rule="dosing period starts on or before the end of an earlier period of the "
                       "subject (overlapping periods): kept as collected")

    iso = capped.dt.strftime("%Y-%m-%d").astype("string").fillna("").astype("str")
    return pd.Series(iso.to_numpy(), index=df.index, dtype="str")


# --------------------------------------------------------------------------------------------
# LB


@derivation("lab_stresc")
def lab_stresc(df: pd.DataFrame, result: str, unit: str, test: str, conversion: ConversionTable,
               significant: int = 10) -> pd.Series:
    """LBSTRESC: the result in the standard unit as text (see the module doc table).

    Reports (warning, column ``unit``) every numeric or ``<N``/``>N`` result whose unit has
    no factor for its test in ``conversion``: LBORRES is kept, no standard value is made.
    """
    require_vars(df, "lab_stresc", result=result, unit=unit, test=test)
    std = _Standardised(df, result, unit, test, conversion, significant)
    out = np.where(std.converted, std.comparator + std.text,
                   np.where(std.is_text, std.result.to_numpy(dtype=object), ""))
    unknown_unit = std.unknown_unit[std.codes]
    issues.report(df[unknown_unit], column=unit, values=_text(df.loc[unknown_unit, unit]),
                  severity="warning",
                  rule="unit not in study.yaml unit_conversion for the test: LBORRES kept, "
                       "no standard result, unit or range")
    return spread_text(out, std.codes, df.index)


@derivation("lab_stresn")
def lab_stresn(df: pd.DataFrame, result: str, unit: str, test: str, conversion: ConversionTable,
               plausible_max: Mapping[str, float] | None = None, significant: int = 10) -> pd.Series:
    """LBSTRESN: the numeric standard result.

    LBSTRESN: the numeric standard result (a plain number in a known unit; empty for
    ``<N``/``>N``, text results and unknown units).

    Reports (warning, column ``result``; records kept): a negative result, and a result whose
    standard value (``N x factor`` for ``<N``/``>N`` too) is above ``plausible_max`` of its
    test (standard unit; tests without a limit are not checked).
    """
    require_vars(df, "lab_stresn", result=result, unit=unit, test=test)
    std = _Standardised(df, result, unit, test, conversion, significant)
    numbers = _to_number(std.text)
    out = np.where(std.converted & (std.comparator == ""), numbers, np.nan)
    negative = (std.numeric & (np.nan_to_num(std.value) < 0))[std.codes]
    issues.report(df[negative], column=result, values=_text(df.loc[negative, result]),
                  severity="warning", rule="negative result: kept as reported")
    if plausible_max:
        limit = _text(std.rows[test]).map({str(k): float(v) for k, v in plausible_max.items()})
        limit = limit.to_numpy(dtype="float64")
        absurd = std.converted & ~np.isnan(limit) & (np.nan_to_num(numbers) > np.nan_to_num(limit))
        absurd = absurd[std.codes]
        issues.report(df[absurd], column=result, values=_text(df.loc[absurd, result]),
                      severity="warning",
                      rule="result above the plausibility limit of its test "
                                            "(lb.yaml plausible_max, standard unit): kept as reported")
    return pd.Series(out[std.codes], index=df.index, dtype="float64")


@derivation("lab_stresu")
def lab_stresu(df: pd.DataFrame, result: str, unit: str, test: str,
               conversion: ConversionTable) -> pd.Series:
    """LBSTRESU: the test's standard unit where a standard result exists.

    LBSTRESU: the test's standard unit (``conversion["standard_units"]``) where a standard
    numeric result exists (a number or ``<N``/``>N`` in a known unit), else ``""``."""
    require_vars(df, "lab_stresu", result=result, unit=unit, test=test)
    std = _Standardised(df, result, unit, test, conversion)
    return spread_text(np.where(std.converted, std.standard_unit, ""), std.codes, df.index)


@derivation("lab_std_range")
def lab_std_range(df: pd.DataFrame, limit: str, unit: str, test: str, conversion: ConversionTable,
                  significant: int = 10) -> pd.Series:
    """LBSTNRLO/LBSTNRHI: a normal-range limit converted to the standard unit.

    LBSTNRLO/LBSTNRHI: a normal-range limit in the reported unit x the same factor as the
    result (SAP); NaN when the limit is blank or the unit is unknown for the test."""
    require_vars(df, "lab_std_range", limit=limit, unit=unit, test=test)
    codes, df_d = distinct_rows(df, [limit, unit, test])  # once per distinct combination
    factor = _factor(df_d[test], df_d[unit], conversion)
    known = ~np.isnan(factor) & (_standard_unit(df_d[test], conversion) != "")
    bound = _to_number(df_d[limit])
    text = _number_text(np.where(known, bound * np.nan_to_num(factor), np.nan), significant)
    return pd.Series(_to_number(text)[codes], index=df.index)


@derivation("normal_range_indicator")
def normal_range_indicator(df: pd.DataFrame, value: str, low: str, high: str) -> pd.Series:
    """--NRIND: ``LOW``, ``NORMAL`` or ``HIGH`` against the normal range.

    --NRIND: ``LOW`` below ``low``, ``HIGH`` above ``high``, ``NORMAL`` otherwise (a value
    on a limit is NORMAL); ``""`` when ``value`` is missing or neither limit is present."""
    require_vars(df, "normal_range_indicator", value=value, low=low, high=high)
    v, lo, hi = (pd.to_numeric(df[name]).to_numpy(dtype="float64") for name in (value, low, high))
    below = ~np.isnan(lo) & (v < lo)
    above = ~np.isnan(hi) & (v > hi)
    assessable = ~np.isnan(v) & (~np.isnan(lo) | ~np.isnan(hi))
    out = np.select([assessable & below, assessable & above, assessable], [0, 1, 2], default=3)
    return labels(["LOW", "HIGH", "NORMAL", ""], out, df.index)
