"""Laboratory toxicity grades from a criteria table held in the specs (CTCAE as data).

As admiral's ``derive_var_atoxgr_dir`` and ``derive_var_atoxgr``. The table is plain data,
written in ``study.yaml`` (e.g. ``toxicity_grading.table``) and passed as
``criteria: {study: toxicity_grading.table}``; per direction (``low``: ATOXGRL/ATOXDSCL,
``high``: ATOXGRH/ATOXDSCH) and parameter code, the CTCAE term, the unit of the criteria
and the grades, tried in order::

    low:
      POTAS:
        term: Hypokalemia             # ATOXDSCL of every POTAS record
        unit: mmol/L                  # records in another unit are not graded
        grades:                       # the first that holds gives the grade
          - {grade: 4, when: "< 2.5"}
          - {grade: 3, when: "< 3"}
          - {grade: 2, when: "< LLN"}
          - {grade: 0, when: ">= LLN"}
    high:
      CREAT:
        term: Creatinine increased
        unit: umol/L
        grades:
          - {grade: 4, when: "> 6 x ULN"}
          - {grade: 3, when: "> 3 x ULN"}
          - {grade: 3, when: "> 3 x BASE"}
          ...
          - {grade: 0, when: "<= ULN and <= BASE"}

``grades: []`` gives the term and never a grade (criteria the syntax cannot write).
``when`` is one check or several joined by ``and`` (all must hold). A check is an operator
(``<``, ``<=``, ``>``, ``>=``) and a number (an absolute cut-off), a reference ``LLN``, ``ULN``
or ``BASE`` (the columns ``lln``, ``uln`` and ``base``), or a positive multiple of one,
``k x REF``. Semantics, one for every table (e.g. the pilot's SAP 3.6 and 0.6):

* value missing -> grade missing; no entry holds -> grade missing;
* a check whose reference is missing does not hold (the entry is skipped);
* both sides are rounded to ``signif_digits`` (15) significant digits before comparing, a
  multiple computed first and then rounded (so ``0.6 >= 3 x 0.2`` holds);
* with ``unit_var``, a record whose unit (stripped, case-sensitive) differs from the
  criteria's ``unit`` is not graded; each such parameter and unit is one data-issue entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from .. import issues
from ..spec.registry import derivation
from .checks import require_vars
from .columns import arrow_text, encode, labels, positions, text

DIRECTIONS = {"L": "low", "H": "high"}
"""The ``direction`` argument -> the table's key."""
REFERENCES = ("LLN", "ULN", "BASE")
"""The references a check may name (columns ``lln``, ``uln``, ``base`` of the derivation)."""
MAX_GRADE = 5
_OPERATORS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_CHECK = re.compile(
    rf"(?P<op><=|>=|<|>)\s*(?:(?P<times>{_NUMBER})\s*x\s*(?P<ref>[A-Za-z_]\w*)"
    rf"|(?P<value>[-+]?{_NUMBER})|(?P<bare>[A-Za-z_]\w*))")
_FORMS = "'< 1.5', '< LLN', '> 3 x ULN', '<= ULN and <= BASE'"


@dataclass(frozen=True)
class Check:
    """``value op cut``: ``cut`` is ``value`` (absolute) or ``value x ref`` (a reference)."""

    op: str
    value: float
    ref: str | None = None


@dataclass(frozen=True)
class Entry:
    """One row of a parameter's grades: ``grade`` when every check holds."""

    grade: int
    checks: tuple[Check, ...]
    when: str


@dataclass(frozen=True)
class Criteria:
    """The criteria of one parameter in one direction."""

    term: str
    unit: str
    grades: tuple[Entry, ...]


TablePath = tuple[str | int, ...]
"""Where in a criteria table: ``("high", "CREAT", "grades", 3, "when")``."""


def parse_when(when: str) -> tuple[Check, ...]:
    """The checks of a ``when`` text (``"> 3 x ULN"``, ``"<= ULN and <= BASE"``)."""
    if not isinstance(when, str) or not when.strip():
        raise ValueError(f"must be a text such as {_FORMS}")
    checks = []
    for part in re.split(r"\s+and\s+", when.strip()):
        found = _CHECK.fullmatch(part.strip())
        if found is None:
            raise ValueError(f"cannot read {part.strip()!r} of {when!r}: write an operator (<, <=, "
                             f">, >=) and a number, LLN, ULN, BASE or k x ULN, e.g. {_FORMS}")
        ref = found["ref"] or found["bare"]
        if ref is not None and ref not in REFERENCES:
            raise ValueError(f"unknown reference {ref!r} in {when!r} (known: "
                             f"{', '.join(REFERENCES)})")
        if found["value"] is not None:
            checks.append(Check(found["op"], float(found["value"])))
        else:
            times = float(found["times"]) if found["times"] else 1.0
            if not 0 < times < float("inf"):
                raise ValueError(f"the multiple of {ref} must be positive in {when!r}")
            checks.append(Check(found["op"], times, ref))
    return tuple(checks)


Problems = list[tuple[TablePath, str]]


def _read(table: object) -> tuple[dict[str, dict[str, Criteria]], Problems]:
    """The table parsed per direction key, and its problems as ``(path, message)``."""
    problems: Problems = []
    parsed: dict[str, dict[str, Criteria]] = {"low": {}, "high": {}}
    if not isinstance(table, Mapping) or not table:
        return parsed, [((), "must be a mapping with 'low' and/or 'high'")]
    for direction, params in table.items():
        if direction not in parsed:
            problems.append(((str(direction),), f"unknown direction {direction!r} (known: low, "
                                                "high)"))
            continue
        if not isinstance(params, Mapping):
            problems.append(((direction,), "must map parameter codes to {term, unit, grades}"))
            continue
        for param, spec in params.items():
            at: TablePath = (direction, str(param))
            found = _read_parameter(spec, at, problems)
            if found is not None:
                parsed[direction][str(param)] = found
    return parsed, problems


def _read_parameter(spec: object, at: TablePath, problems: Problems) -> Criteria | None:
    if not isinstance(spec, Mapping):
        problems.append((at, "must be a mapping {term, unit, grades}"))
        return None
    before = len(problems)
    unknown = sorted(str(key) for key in spec if key not in ("term", "unit", "grades"))
    missing = [key for key in ("term", "unit", "grades") if key not in spec]
    if unknown:
        problems.append(((*at, unknown[0]), f"unknown key(s) {', '.join(unknown)} (known: term, "
                                            "unit, grades)"))
    if missing:
        problems.append((at, f"missing key(s) {', '.join(missing)}"))
    for key in ("term", "unit"):
        if key in spec and (not isinstance(spec[key], str) or not spec[key].strip()):
            problems.append(((*at, key), "must be a non-empty text"))
    grades = spec.get("grades")
    entries: list[Entry] = []
    if "grades" in spec and not isinstance(grades, list):
        problems.append(((*at, "grades"), "must be a list of {grade, when} ([] for a term "
                                          "never graded)"))
    elif isinstance(grades, list):
        for index, item in enumerate(grades):
            entry = _read_entry(item, (*at, "grades", index), problems)
            if entry is not None:
                entries.append(entry)
    if len(problems) > before:
        return None
    return Criteria(spec["term"].strip(), spec["unit"].strip(), tuple(entries))


def _read_entry(item: object, at: TablePath, problems: Problems) -> Entry | None:
    if not isinstance(item, Mapping) or set(item) != {"grade", "when"}:
        keys = sorted(map(str, item)) if isinstance(item, Mapping) else type(item).__name__
        problems.append((at, f"must be {{grade: G, when: CHECK}}, found {keys}"))
        return None
    grade = item["grade"]
    if isinstance(grade, bool) or not isinstance(grade, int) or not 0 <= grade <= MAX_GRADE:
        problems.append(((*at, "grade"), f"grade must be a whole number 0-{MAX_GRADE}, found "
                                         f"{grade!r}"))
        return None
    try:
        checks = parse_when(item["when"])
    except ValueError as exc:
        problems.append(((*at, "when"), str(exc)))
        return None
    return Entry(grade, checks, item["when"].strip())


def criteria_problems(table: object) -> Problems:
    """Every problem of a criteria table as ``(path, message)``, e.g.
    ``(("high", "CREAT", "grades", 3, "when"), "unknown reference 'ULNN' ...")``."""
    return _read(table)[1]


def read_criteria(table: object) -> dict[str, dict[str, Criteria]]:
    """The criteria table parsed, ``{"low": {PARAMCD: Criteria}, "high": {...}}``; a
    ``ValueError`` listing every malformed entry (by direction, parameter and position)."""
    parsed, problems = _read(table)
    if problems:
        raise ValueError("toxicity criteria: " + "; ".join(
            f"{_where(path)}: {message}" if path else message for path, message in problems))
    return parsed


def _where(path: TablePath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def round_significant(values: np.ndarray | float, digits: int = 15) -> np.ndarray:
    """Values rounded to ``digits`` significant digits (NaN, infinities and 0 kept)."""
    x = np.array(values, dtype="float64", ndmin=1)
    keep = np.isfinite(x) & (x != 0)
    if not keep.any():
        return x
    kept = x[keep]
    magnitude = np.abs(kept)
    exponent = np.floor(np.log10(magnitude)).astype(np.int64)
    exponent += magnitude >= 10.0 ** (exponent + 1)  # log10 is off by one next to a power of ten
    exponent -= magnitude < 10.0 ** exponent
    decimals = digits - 1 - exponent
    for d in pd.unique(decimals):  # one pass per order of magnitude, not per record (hashed,
        # not sorted: the order of the passes does not matter)
        rows = decimals == d
        kept[rows] = np.round(kept[rows], int(d))
    x[keep] = kept
    return x


def _numbers(df: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[column]).to_numpy(dtype="float64", na_value=np.nan)


@derivation("derive_var_atoxgr_dir")
def derive_var_atoxgr_dir(
    df: pd.DataFrame,
    new_var: str,
    tox_description_var: str,
    criteria: Mapping[str, Any],
    direction: str,
    param_var: str = "PARAMCD",
    value_var: str = "AVAL",
    lln: str | None = "ANRLO",
    uln: str | None = "ANRHI",
    base: str | None = "BASE",
    unit_var: str | None = None,
    signif_digits: int = 15,
) -> pd.DataFrame:
    """Add the toxicity grade of one direction and its term from a criteria table.

    ``criteria`` (e.g. ``{study: toxicity_grading.table}``) maps ``low`` and ``high`` to
    parameter codes, each ``{term, unit, grades}``; ``grades`` lists ``{grade: G, when: CHECK}``
    tried in order, the first that holds giving the grade. A CHECK is ``< 1.5``, ``< LLN``,
    ``> 3 x ULN``, ``> 1.5 x BASE``, or checks joined by ``and`` (``<= ULN and <= BASE``);
    LLN, ULN and BASE are the columns ``lln``, ``uln`` and ``base`` (None: not used).
    ``direction`` is ``"L"`` (``low``) or ``"H"`` (``high``).

    ``new_var``: the grade as text ``"0"``..; ``""`` when the value is missing, no entry holds
    (a check whose reference is missing never holds), the record's ``unit_var`` differs from
    the criteria's ``unit`` (one data-issue entry per parameter and unit), or the parameter
    has no criteria in that direction. Both sides are rounded to ``signif_digits``
    significant digits before comparing, a multiple computed first. ``tox_description_var``:
    the ``term`` on every record of a parameter with criteria in that direction, graded or
    not. A malformed table is a ValueError naming each bad entry.
    """
    require_vars(df, "derive_var_atoxgr_dir", param_var=param_var, value_var=value_var,
                 lln=lln, uln=uln, base=base, unit_var=unit_var)
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'L' or 'H', not {direction!r}")
    if isinstance(signif_digits, bool) or not isinstance(signif_digits, int) \
            or not 1 <= signif_digits <= 17:
        raise ValueError(f"signif_digits must be a whole number 1-17, not {signif_digits!r}")
    table = read_criteria(criteria)[DIRECTIONS[direction]]
    columns = {"LLN": lln, "ULN": uln, "BASE": base}
    for param, crit in table.items():
        for index, entry in enumerate(crit.grades):
            for check in entry.checks:
                if check.ref is not None and columns[check.ref] is None:
                    raise ValueError(f"toxicity criteria {DIRECTIONS[direction]}.{param}.grades"
                                     f"[{index}] {entry.when!r} uses {check.ref}, but the "
                                     f"argument {check.ref.lower()} is None")

    params = list(table)
    row = positions(text(df[param_var]), pd.Series(params, dtype="str"))
    value = round_significant(_numbers(df, value_var), signif_digits)
    refs = {name: _numbers(df, column) for name, column in columns.items()}
    if unit_var is not None:
        unit_codes, units = encode(arrow_text(df[unit_var]))
        unit_names = units.to_pylist()
    grade = np.full(len(df), -1, dtype=np.int64)
    order = np.argsort(row, kind="stable")  # the records of each parameter, in one sort
    bounds = np.searchsorted(row[order], np.arange(len(params) + 1))
    for k, param in enumerate(params):  # a loop over the table's parameters and entries
        crit = table[param]
        rows = order[bounds[k]:bounds[k + 1]]
        rows = rows[~np.isnan(value[rows])]
        if unit_var is not None:
            other = np.array([unit != crit.unit for unit in unit_names], dtype=bool)
            other = other[unit_codes[rows]]
            _report_units(df, rows[other], unit_codes[rows[other]], unit_names, unit_var, param,
                          crit, DIRECTIONS[direction])
            rows = rows[~other]
        aval = value[rows]
        open_ = np.ones(len(rows), dtype=bool)
        for entry in crit.grades:
            holds = open_.copy()
            for check in entry.checks:
                if check.ref is None:
                    cut = round_significant(check.value, signif_digits)
                else:  # a missing reference gives a NaN cut: the comparison is False
                    cut = round_significant(check.value * refs[check.ref][rows], signif_digits)
                holds &= _OPERATORS[check.op](aval, cut)
            grade[rows[holds]] = entry.grade
            open_ &= ~holds

    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    names = [str(g) for g in range(MAX_GRADE + 1)] + [""]
    out[new_var] = labels(names, np.where(grade >= 0, grade, len(names) - 1), df.index)
    terms = [table[param].term for param in params] + [""]
    out[tox_description_var] = labels(terms, np.where(row >= 0, row, len(params)), df.index)
    return out


def _report_units(df: pd.DataFrame, rows: np.ndarray, codes: np.ndarray, unit_names: list[str],
                  unit_var: str, param: str, crit: Criteria, direction: str) -> None:
    """One data-issue entry per unit of ``param`` other than its criteria's, at the first
    subject's record (a whole parameter in another unit is one entry, not one per record)."""
    for code in np.unique(codes):
        these = rows[codes == code]
        issues.report_summary(df.iloc[these], column=unit_var, values=unit_names[code] or "(missing)",
                              severity="warning",
                              rule=f"{param} in unit {unit_names[code]!r}, its toxicity criteria "
                                   f"({direction}: {crit.term}) in {crit.unit!r}: not graded "
                                   "({count} records with a value)")


@derivation("derive_var_atoxgr")
def derive_var_atoxgr(
    df: pd.DataFrame,
    lowgrade: str = "ATOXGRL",
    highgrade: str = "ATOXGRH",
    lowdesc: str = "ATOXDSCL",
    highdesc: str = "ATOXDSCH",
    new_var: str = "ATOXGR",
) -> pd.DataFrame:
    """Add the overall toxicity grade from the low and high grades.

    In this order: both grades missing -> ``""``; low grade >= 1 -> ``"-"`` + low grade
    (``"-2"``); high grade >= 1 -> the high grade; high ``"0"`` and (low ``"0"`` or no low
    term ``lowdesc``) -> ``"0"``; low ``"0"`` and (high ``"0"`` or no high term) -> ``"0"``;
    otherwise ``""``. Grades are text ``"0"``.. with ``""`` for missing.
    """
    require_vars(df, "derive_var_atoxgr", lowgrade=lowgrade, highgrade=highgrade,
                 lowdesc=lowdesc, highdesc=highdesc)
    low, high = _grades(df, lowgrade), _grades(df, highgrade)
    no_low = _empty(df[lowdesc])
    no_high = _empty(df[highdesc])
    overall = np.select(
        [np.isnan(low) & np.isnan(high), low >= 1, high >= 1,
         (high == 0) & ((low == 0) | no_low), (low == 0) & ((high == 0) | no_high)],
        [np.nan, -low, high, 0.0, 0.0], default=np.nan)
    found = np.unique(overall[~np.isnan(overall)]).astype(np.int64)
    names = [str(g) for g in found] + [""]
    codes = np.searchsorted(found, np.nan_to_num(overall, nan=0).astype(np.int64))
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = labels(names, np.where(np.isnan(overall), len(found), codes), df.index)
    return out


def _empty(values: pd.Series) -> np.ndarray:
    """Whether each value is missing or blank text."""
    return pc.equal(arrow_text(values), "").to_numpy(zero_copy_only=False)


def _grades(df: pd.DataFrame, column: str) -> np.ndarray:
    """A grade column (text ``"0"``.., ``""`` missing) as numbers; a ValueError on other text."""
    codes, distinct = encode(arrow_text(df[column]))
    values = distinct.to_pylist()
    bad = [v for v in values if v and not (v.isdigit() and int(v) <= MAX_GRADE)]
    if bad:
        raise ValueError(f"{column}: grades must be whole numbers 0-{MAX_GRADE} or empty, found "
                         f"{bad[0]!r}")
    return np.array([float(v) if v else np.nan for v in values], dtype="float64")[codes]
