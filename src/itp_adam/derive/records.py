"""Derivations that add records to a BDS dataset (derived parameters, summaries, extreme
values) and number the records, as admiral's ``derive_param_computed``,
``derive_summary_records``, ``derive_extreme_records`` and ``derive_var_obs_number``.

Shared conventions (besides those of :mod:`itp_adam.derive.core`: ``by_vars``, ``order``,
``filter``):

* A function adding records returns the input records, unchanged and in their order,
  followed by the new records, with a fresh index ``0, 1, ...`` over all of them.
* A new record of ``derive_param_computed`` or ``derive_summary_records`` carries only the
  ``by_vars`` of its group, the computed value and what ``set_values`` names; every other
  variable is missing on it (``""`` for text, NaN, NaT), e.g. ``--SEQ`` (SAP 0.9). A record of
  ``derive_extreme_records`` is a copy of the chosen record with every variable.
* ``set_values`` maps a variable to its value on the new records: a constant (text, a number
  or a date) or ``{var: NAME}``, the value of variable ``NAME`` of the new record before
  ``set_values`` is applied (a by-variable; for ``derive_extreme_records`` any variable of the
  chosen record). A variable of ``df`` keeps its type: a text value for a numeric variable is
  an error naming it. A new variable is missing on the input records.
* Missing by-values are values of their own: a missing VSTPT matches a missing VSTPT.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from .checks import require_vars
from .columns import (arrow_text, first_positions, group_codes, key_ranks, labels, order_of_ranks,
                      row_positions, run_edges)
from .core import Filter, OrderKey, _is_text, _select_extreme, filter_mask, order_columns
from ..spec.expr import compile_expression
from ..spec.registry import derivation

SUMMARIES = ("mean", "median", "min", "max", "sum", "n")
"""The summaries ``derive_summary_records`` computes."""


# --------------------------------------------------------------------------------------------
# helpers


def _kind(values: pd.Series) -> str:
    """``text``, ``num``, ``date`` or ``other``: the kind a variable's values must keep."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return "date"
    if pd.api.types.is_bool_dtype(values.dtype):
        return "other"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return "num"
    return "text" if _is_text(values) else "other"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, (bool, np.bool_))


def _constant(fn: str, name: str, value: Any, n: int) -> pd.Series:
    """A ``set_values`` constant as a column of ``n`` values."""
    if isinstance(value, str):
        return labels([value], np.zeros(n, dtype=np.intp), pd.RangeIndex(n))
    if _is_number(value):
        return pd.Series(np.full(n, float(value)))
    if isinstance(value, (dt.date, np.datetime64)):
        return pd.Series(np.full(n, np.datetime64(pd.Timestamp(value), "ns")))
    raise ValueError(f"{fn}: set_values {name}: a value must be text, a number, a date or "
                     f"{{var: NAME}}, not {value!r}")


def _set_values(fn: str, new: pd.DataFrame, set_values: Mapping[str, Any] | None) -> pd.DataFrame:
    """``new`` with the ``set_values`` applied (``{var: NAME}`` read before any is set)."""
    if not set_values:
        return new
    if not isinstance(set_values, Mapping):
        raise ValueError(f"{fn}: set_values must be a mapping {{variable: value}}, not {set_values!r}")
    source = new
    new = new.reset_index(drop=True)
    for name, value in set_values.items():
        if isinstance(value, Mapping):
            if set(value) != {"var"}:
                raise ValueError(f"{fn}: set_values {name}: a value is a constant or {{var: NAME}}, "
                                 f"not {dict(value)!r}")
            if value["var"] not in source.columns:
                have = ", ".join(map(str, source.columns))
                raise ValueError(f"{fn}: set_values {name}: {{var: {value['var']}}} is not a "
                                 f"variable of the new records; they have: {have}")
            new[name] = source[value["var"]].to_numpy()
            if _is_text(source[value["var"]]):
                new[name] = new[name].astype("str")
        else:
            new[name] = _constant(fn, name, value, len(new))
    return new


def _missing_like(values: pd.Series, n: int) -> pd.Series:
    """``n`` missing values of the kind of ``values`` (``""``, NaN, NaT)."""
    kind = _kind(values)
    if kind == "text":
        return labels([""], np.zeros(n, dtype=np.intp), pd.RangeIndex(n))
    if kind == "date":
        return pd.Series(np.full(n, np.datetime64("NaT", "ns")))
    if kind == "num":
        return pd.Series(np.full(n, np.nan))
    return pd.Series([None] * n, dtype=object)


def _append(fn: str, df: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``df`` followed by the records ``new`` (index 0, 1, ...). A variable that only one of
    them has is missing on the other's records (text: ``""``); a variable of both must have
    one kind of values (text, number, date)."""
    for name in new.columns:
        if name in df.columns and len(new):
            have, give = _kind(df[name]), _kind(new[name])
            if "other" not in (have, give) and have != give and not new[name].isna().all():
                raise ValueError(f"{fn}: variable {name} holds {have} values in the dataset; the "
                                 f"new records give {give} values")
    if not len(new):  # no record to add: the new variables only, the old types kept
        out = df.reset_index(drop=True)
        for name in new.columns:
            if name not in out.columns:
                out[name] = _missing_like(new[name], len(out)).to_numpy()
                if _kind(new[name]) == "text":
                    out[name] = out[name].astype("str")
        return out
    out = pd.concat([df.reset_index(drop=True), new.reset_index(drop=True)], ignore_index=True)
    old = np.arange(len(out)) < len(df)
    for name in out.columns:
        only_old, only_new = name not in new.columns, name not in df.columns
        if (only_old or only_new) and _kind(out[name]) == "text":
            absent = ~old if only_old else old
            out[name] = out[name].mask(absent & out[name].isna().to_numpy(dtype=bool), "")
    return out


def _first_duplicate(fn: str, frame: pd.DataFrame, keys: Sequence[str], what: str) -> None:
    """Raise naming the first key of ``frame`` held by two rows (missing equals missing)."""
    duplicated = frame.duplicated(list(keys), keep=False).to_numpy(dtype=bool)
    if duplicated.any():
        groups = frame.loc[duplicated, list(keys)].drop_duplicates().head(3).to_dict("records")
        raise ValueError(f"{fn}: more than one {what} record in a by-group; the first: "
                         + "; ".join(map(str, groups)))


# --------------------------------------------------------------------------------------------
# records


@derivation("derive_param_computed")
def derive_param_computed(
    df: pd.DataFrame,
    by_vars: Sequence[str],
    parameters: Sequence[str],
    expression: str,
    set_values: Mapping[str, Any],
    param_var: str = "PARAMCD",
    value_var: str = "AVAL",
    new_var: str = "AVAL",
    filter: Filter = None,
    constant_parameters: Sequence[str] | None = None,
    constant_by_vars: Sequence[str] | None = None,
    skip_existing: bool = False,
    filter_values: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Add a record computed from other parameters for each by-group having all of them.

    Source records are those passing ``filter`` (e.g. ``"not_missing(AVAL)"``); a source record
    counts whatever its ``value_var``. For each group of ``by_vars`` with a source record of
    every parameter in ``parameters`` (``param_var`` values), one record is added whose
    ``new_var`` is ``expression``, evaluated with each parameter's ``value_var`` as a variable
    named after the parameter (the by-variables can be used too), e.g. ``parameters: [SYSBP,
    DIABP]``, ``expression: "(2 * DIABP + SYSBP) / 3"``, ``set_values: {PARAMCD: MAP}``. The
    value may be missing (``"WEIGHT / (HEIGHT / 100) ** 2"`` with HEIGHT 0); the record is
    still added. ``constant_parameters`` (e.g. ``[HEIGHT]``, measured once) are matched by
    ``constant_by_vars`` only (e.g. ``[USUBJID]``, a subset of ``by_vars``), as admiral's.
    With ``skip_existing``, no record is added to a by-group that already has a record of the
    target parameter (``set_values[param_var]``; any record of ``df``, whatever its filter and
    value): e.g. BASO from BASOLE x WBC only where no BASO was reported. Two source records of
    one parameter in a by-group are an error naming the group (as admiral), since which one
    to use is a rule the spec must state, e.g. by ``filter``. ``@name`` in ``filter`` and
    ``expression`` is taken from ``filter_values``. New records: see the module doc.
    """
    fn = "derive_param_computed"
    require_vars(df, fn, by_vars=by_vars, param_var=param_var, value_var=value_var,
                 constant_by_vars=constant_by_vars)
    parameters = list(parameters)
    constants = list(constant_parameters or [])
    if not parameters:
        raise ValueError(f"{fn}: parameters must name at least one parameter")
    if constants and not constant_by_vars:
        raise ValueError(f"{fn}: constant_parameters need constant_by_vars (e.g. [USUBJID])")
    if constant_by_vars and not set(constant_by_vars) <= set(by_vars):
        raise ValueError(f"{fn}: constant_by_vars {list(constant_by_vars)} must be among by_vars "
                         f"{list(by_vars)}")
    clash = sorted(set(parameters + constants) & set(by_vars))
    if clash or len(set(parameters + constants)) < len(parameters + constants):
        raise ValueError(f"{fn}: each parameter must be named once and not be a by-variable "
                         f"({clash or parameters + constants})")
    if skip_existing and not isinstance((set_values or {}).get(param_var), str):
        raise ValueError(f"{fn}: skip_existing needs the target parameter as set_values "
                         f"{{{param_var}: CODE}}")
    source = filter_mask(df, filter, filter_values)
    codes = arrow_text(df[param_var])  # stripped, "" for missing

    def records(parameter: str, keys: Sequence[str]) -> pd.DataFrame:
        rows = source & pc.equal(codes, parameter).to_numpy(zero_copy_only=False)
        frame = df.loc[rows, [*keys, value_var]].reset_index(drop=True)
        _first_duplicate(fn, frame, keys, f"{param_var} {parameter}")
        return frame

    first, *others = parameters
    wide = records(first, by_vars).rename(columns={value_var: first})
    for parameter, keys in [(p, list(by_vars)) for p in others] + \
            [(p, list(constant_by_vars or [])) for p in constants]:
        frame = records(parameter, keys)
        found = row_positions(wide, frame, keys)  # an inner join: missing matches missing
        wide = wide[found >= 0].reset_index(drop=True)
        wide[parameter] = frame[value_var].to_numpy()[found[found >= 0]]
    if skip_existing:
        target = pc.equal(codes, set_values[param_var]).to_numpy(zero_copy_only=False)
        existing = df.loc[target, list(by_vars)]
        wide = wide[row_positions(wide, existing, by_vars) < 0].reset_index(drop=True)
    value = compile_expression(expression).evaluate(wide, filter_values)
    new = wide[list(by_vars)].copy()
    new[new_var] = value.to_numpy()
    if pd.api.types.is_string_dtype(value):
        new[new_var] = new[new_var].astype("str")
    return _append(fn, df, _set_values(fn, new, set_values))


@derivation("derive_summary_records")
def derive_summary_records(
    df: pd.DataFrame,
    by_vars: Sequence[str],
    set_values: Mapping[str, Any],
    analysis_var: str = "AVAL",
    summary: str = "mean",
    filter: Filter = None,
    new_var: str | None = None,
    filter_values: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Add one record per by-group holding a summary of its records (e.g. an average).

    The records passing ``filter`` are grouped by ``by_vars`` (missing by-values form groups
    of their own); each group gives one record whose ``new_var`` (default ``analysis_var``)
    is the ``summary`` of the group's ``analysis_var``: ``mean``, ``median``, ``min``, ``max``,
    ``sum`` (numbers; ``min``/``max`` also dates) or ``n``, the number of non-missing values.
    Missing values are left out; a group of missing values only gives missing (``n``: 0).
    A group of one record gives that record's value. E.g. SAP 4.4: ``by_vars: [STUDYID,
    USUBJID, PARAMCD, AVISIT, AVISITN, ADT, ADY]``, ``filter: "not_missing(AVAL)"``,
    ``set_values: {DTYPE: AVERAGE}``. New records follow the groups' first appearance; see
    the module doc.
    """
    fn = "derive_summary_records"
    require_vars(df, fn, by_vars=by_vars, analysis_var=analysis_var)
    if summary not in SUMMARIES:
        raise ValueError(f"{fn}: summary must be one of {', '.join(SUMMARIES)}, not {summary!r}")
    rows = df.loc[filter_mask(df, filter, filter_values)]
    values = rows[analysis_var]
    if pd.api.types.is_datetime64_any_dtype(values):
        if summary not in ("min", "max", "n"):
            raise ValueError(f"{fn}: the {summary} of dates ({analysis_var}) is not computed; "
                             "min, max or n")
    elif not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise ValueError(f"{fn}: {analysis_var} must hold numbers (or dates for min, max, n)")
    codes = group_codes(rows, by_vars)
    grouped = pd.Series(values.to_numpy(), index=codes).groupby(level=0, sort=True)
    if summary == "n":
        result = grouped.count().astype("float64")
    elif summary == "sum":
        result = grouped.sum(min_count=1)
    else:
        result = getattr(grouped, summary)()
    new = rows[list(by_vars)].iloc[first_positions(codes)].reset_index(drop=True)
    new[new_var or analysis_var] = result.to_numpy()
    return _append(fn, df, _set_values(fn, new, set_values))


@derivation("derive_extreme_records")
def derive_extreme_records(
    df: pd.DataFrame,
    by_vars: Sequence[str],
    order: Sequence[OrderKey],
    set_values: Mapping[str, Any],
    mode: str = "last",
    filter: Filter = None,
    blank_last: bool = True,
    filter_values: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Add, per by-group, a copy of its first or last record in ``order`` (extreme values).

    Among the records passing ``filter``, per group of ``by_vars`` (missing by-values form
    groups of their own), the first (``mode: first``) or last (``last``) record after sorting
    by ``order`` is copied with every variable; then ``set_values`` overwrites some of them.
    Sorting follows SAP 0.5 (:mod:`itp_adam.derive.core`): missing values last in both
    directions, ``[NAME, desc]`` reversing the others, text by character code, a blank text
    value missing (``blank_last: false``: ``""`` sorts as the smallest text); records still
    tied keep their input order. E.g. SAP 3.5 MAXIMUM: ``filter: "ONTRTFL == 'Y' and
    not_missing(AVAL)"``, ``order: [[AVAL, desc], ADT, AVISITN, LBSEQ]``, ``mode: first``,
    ``set_values: {AVISIT: POST-BASELINE MAXIMUM, AVISITN: 9998, DTYPE: MAXIMUM}``. Nothing
    else is recomputed on the copies. They follow the input order of the chosen records.
    """
    fn = "derive_extreme_records"
    require_vars(df, fn, by_vars=by_vars, order=order)
    candidates = filter_mask(df, filter, filter_values)
    chosen = _select_extreme(df, by_vars, order_columns(df, order, blank_last), candidates, mode)
    new = df.loc[chosen].reset_index(drop=True)
    return _append(fn, df, _set_values(fn, new, set_values))


@derivation("derive_var_obs_number")
def derive_var_obs_number(
    df: pd.DataFrame,
    by_vars: Sequence[str],
    order: Sequence[OrderKey],
    new_var: str = "ASEQ",
    check_unique: bool = True,
    blank_last: bool = True,
) -> pd.DataFrame:
    """Number the records 1, 2, ... within each by-group in ``order`` (e.g. ASEQ).

    Missing by-values form groups of their own (every record gets a number). Sorting
    follows SAP 0.5 (:mod:`itp_adam.derive.core`): missing values last in both directions,
    ``[NAME, desc]`` reversing the others, text by character code, a blank text value missing
    (``blank_last: false``: ``""`` sorts as the smallest text). With ``check_unique`` two
    records of a group with equal values of every ``order`` variable (missing equal to
    missing) are an error naming the group and the values, since their numbers would depend
    on the input order; without it such records keep their input order. The numbers are a
    float column; records keep their order. E.g. SAP 3.5: ``by_vars: [USUBJID]``,
    ``order: [PARAMCD, ADT, AVISITN, VISITNUM]``.
    """
    fn = "derive_var_obs_number"
    require_vars(df, fn, by_vars=by_vars, order=order)
    groups = group_codes(df, by_vars)
    keys = [key_ranks(values if isinstance(values, pd.Series) else np.asarray(values), ascending)
            for values, ascending in order_columns(df, order, blank_last)]
    ranks = [(groups, int(groups.max(initial=-1)) + 1), *keys]
    ordered = order_of_ranks(ranks, len(df))
    sorted_groups = groups[ordered]
    if check_unique and len(df) > 1:
        tied = sorted_groups[1:] == sorted_groups[:-1]
        for codes, _ in keys:
            tied &= codes[ordered][1:] == codes[ordered][:-1]
        if tied.any():
            names = [*by_vars, *(name if isinstance(name, str) else name[0] for name in order)]
            first = ordered[np.flatnonzero(tied)[:3]]
            shown = "; ".join(str(record) for record in df[names].iloc[first].to_dict("records"))
            raise ValueError(f"{fn}: {new_var}: the order {list(order)} is not unique within the "
                             f"by-group {list(by_vars)}; two or more records have: {shown}")
    starts = np.flatnonzero(run_edges(sorted_groups))
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(df)]))
    numbers = np.empty(len(df), dtype="float64")
    numbers[ordered] = np.arange(len(df)) - run_start + 1
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = pd.Series(numbers, index=df.index)
    return out
