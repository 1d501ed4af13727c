"""ADaM derivations that the study's ADaM specs call by name, beyond the core library.

Each does one job on whole columns and follows the library's conventions (``by_vars``,
``order``, ``filter``/``filter_add``, names of new variables as arguments; see
:mod:`itp_adam.derive.core`). Conditions are expressions of the spec language
(:mod:`itp_adam.spec.expr`) over the frame's variables; a name written ``@name`` in a condition is
taken from the keyword arguments, so a spec can pass a study parameter (``soc: {study:
ae_terms.soc}``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .core import (
    Filter,
    OrderKey,
    _order_keys,
    derive_var_baseline_flag,
    filter_mask,
    parse_result,
    text_select,
)
from .columns import arrow_array, as_str, row_positions, spread_text
from .dates import _distinct_text
from ..spec.expr import compile_expression
from ..spec.registry import derivation
from .checks import require_vars


def _condition(df: pd.DataFrame, condition: str, values: Mapping[str, Any]) -> np.ndarray:
    """Evaluate ``condition`` over ``df``, ``@name`` taken from ``values``; missing -> False."""
    return compile_expression(condition).mask(df, values)


@derivation("compute")
def compute(df: pd.DataFrame, expression: str, **values: Any) -> pd.Series:
    """One value per record, computed by an expression of the spec language.

    One value per record, computed by ``expression`` of the spec language (a variable
    source), e.g. ``{derivation: compute, args: {expression: "round(AVAL / ANRHI, 2)"}}``;
    ``@name`` is taken from the other arguments."""
    return compile_expression(expression).evaluate(df, values)


@derivation("derive_var_result_value")
def derive_var_result_value(df: pd.DataFrame, source_var: str, new_var: str = "AVAL") -> pd.DataFrame:
    """Numeric analysis value from a standardised character result.

    Numeric analysis value from a standardised character result (SAP "Laboratory
    standardisation"): ``"12.5"`` -> 12.5; ``"<5"``/``">5"`` -> 5 (N, already in the standard
    unit); text (``CLUMPED``) or blank -> NaN, so such a record never counts as an assessment."""
    require_vars(df, "derive_var_result_value", source_var=source_var)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = parse_result(df[source_var])["value"].to_numpy()
    return out


@derivation("derive_var_flag")
def derive_var_flag(df: pd.DataFrame, new_var: str, condition: str, true_value: str = "Y",
                    false_value: str = "N", **values: Any) -> pd.DataFrame:
    """Flag ``new_var`` with ``true_value`` where ``condition`` holds, else ``false_value``.

    ``new_var`` = ``true_value`` where ``condition`` holds, else ``false_value``
    (e.g. an analysis set: ``SAFFL == 'Y' and BASE == BASE``, NaN never equals itself)."""
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    held = _condition(df, condition, values)
    out[new_var] = text_select([held], [true_value], false_value, df.index)
    return out


@derivation("derive_var_case")
def derive_var_case(df: pd.DataFrame, new_var: str, cases: Sequence[Mapping[str, Any]],
                    default: Any = "", **values: Any) -> pd.DataFrame:
    """Set ``new_var`` from the first case whose condition holds (CASE WHEN).

    ``new_var`` from the first case whose ``when`` condition holds: ``cases`` is a list of
    ``{when: condition, value: v}`` where ``v`` is a literal or ``{var: NAME}`` (that
    variable's value); rows matching no case get ``default`` (SQL CASE WHEN, dplyr case_when).

    ``new_var`` keeps the type of its values: numbers (literals or numeric variables) give a
    float column, text a text column, dates (date variables) a date column. ``""`` (also the
    default ``default``) and null are the missing value of that type: ``""`` in text, NaN,
    NaT. Values of two types in one list (text and a number) are an error naming ``new_var``.
    ``@name`` in a condition is taken from the other arguments."""
    choices = [case["value"] for case in cases] + [default]
    kind = _case_kind(df, new_var, choices)
    held = [_condition(df, case["when"], values) for case in cases]
    # per row, the number of its first case that holds (len(cases): none, the default)
    choice = np.select(held, list(range(len(cases))), default=len(cases)) if cases \
        else np.zeros(len(df), dtype=np.int64)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    if kind == "text":
        result = pa.nulls(len(df), type=pa.large_string())
        for number, value in enumerate(choices):
            rows = pa.array(choice == number)
            result = pc.if_else(rows, _case_text(df, value), result)
        out[new_var] = as_str(pc.fill_null(result, ""), df.index)
        return out
    missing = np.datetime64("NaT", "ns") if kind == "date" else np.nan
    result = np.full(len(df), missing, dtype="datetime64[ns]" if kind == "date" else "float64")
    for number, value in enumerate(choices):
        rows = choice == number
        result[rows] = _case_array(df, value, kind, missing)[rows]
    out[new_var] = pd.Series(result, index=df.index)
    return out


def _is_missing_literal(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "") or \
        (isinstance(value, float) and np.isnan(value))


def _case_kind(df: pd.DataFrame, new_var: str, choices: Sequence[Any]) -> str:
    """The type of ``derive_var_case``'s values: ``text``, ``num`` or ``date`` (an error when
    they mix types)."""
    kinds: dict[str, Any] = {}
    for number, value in enumerate(choices):
        if isinstance(value, Mapping):
            if set(value) != {"var"}:
                raise ValueError(f"derive_var_case: {new_var}: a value is a literal or "
                                 f"{{var: NAME}}, not {dict(value)!r}")
            argument = "default" if number == len(choices) - 1 else "cases"
            require_vars(df, "derive_var_case", **{argument: value["var"]})
            column = df[value["var"]]
            numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
            kind = "date" if pd.api.types.is_datetime64_any_dtype(column) else \
                "num" if numeric else "text"
        elif _is_missing_literal(value):
            continue
        elif isinstance(value, str):
            kind = "text"
        elif isinstance(value, (int, float, np.integer, np.floating)) \
                and not isinstance(value, (bool, np.bool_)):
            kind = "num"
        elif isinstance(value, (dt.date, np.datetime64)):
            kind = "date"
        else:
            raise ValueError(f"derive_var_case: {new_var}: a value must be text, a number or "
                             f"{{var: NAME}}, not {value!r}")
        kinds.setdefault(kind, value)
    if len(kinds) > 1:
        shown = ", ".join(f"{kind} ({value!r})" for kind, value in kinds.items())
        raise ValueError(f"derive_var_case: the values of {new_var} mix types: {shown}; "
                         "give values of one type")
    return next(iter(kinds), "text")


def _case_text(df: pd.DataFrame, value: Any) -> Any:
    """A text value of ``derive_var_case``: a pyarrow scalar or array."""
    if isinstance(value, Mapping):
        return arrow_array(df[value["var"]])
    return pa.scalar(None if _is_missing_literal(value) else value, type=pa.large_string())


def _case_array(df: pd.DataFrame, value: Any, kind: str, missing: Any) -> np.ndarray:
    """A number or date value of ``derive_var_case`` as one value per row."""
    if isinstance(value, Mapping):
        column = df[value["var"]]
        if kind == "date":
            return column.to_numpy(dtype="datetime64[ns]")
        return column.to_numpy(dtype="float64", na_value=np.nan)
    if _is_missing_literal(value):
        return np.full(len(df), missing)
    if kind == "date":
        return np.full(len(df), np.datetime64(pd.Timestamp(value), "ns"))
    return np.full(len(df), float(value))


@derivation("derive_vars_assign")
def derive_vars_assign(df: pd.DataFrame, filter: Filter, values: Mapping[str, Any]) -> pd.DataFrame:
    """Set variables to given values on the rows passing ``filter``.

    Set each variable of ``values`` to its value on the rows passing ``filter``, leaving the
    other rows as they are (e.g. the baseline record's AVISIT = Baseline, AVISITN = 0). The
    values are constants; a value computed from other variables, missing outside the filter,
    is :func:`derive_vars_compute`'s job."""
    rows = filter_mask(df, filter)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    for name, value in values.items():
        column = out[name] if name in out else pd.Series("" if isinstance(value, str) else np.nan,
                                                         index=df.index)
        out[name] = column.mask(rows, value)
    return out


@derivation("derive_vars_compute")
def derive_vars_compute(df: pd.DataFrame, expressions: Mapping[str, str], filter: Filter = None,
                        filter_values: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Add variables computed by expressions on the records passing ``filter``.

    ``expressions`` maps each new variable to an expression of the spec language, e.g.
    ``{CHG: "AVAL - BASE", PCHG: "100 * CHG / abs(BASE)"}`` with ``filter: "AVISITN > 0"``,
    or ``{TRTDURD: "TRTEDT - TRTSDT + 1"}``. The variables are computed in the order written,
    so a later expression can use an earlier one. Each keeps the type its expression gives
    (number, date or text); records outside ``filter`` (evaluated once, on the input) get the
    missing value of that type (NaN, NaT, ``""``); a variable already in ``df`` is replaced.
    Arithmetic with a missing value, division by zero and overflow give missing. A condition
    is refused (a flag is :func:`derive_var_flag`'s job). ``@name`` in the expressions and the
    filter is taken from ``filter_values``. One value per record as a variable source is
    :func:`compute`; constants on some records of an existing variable are
    :func:`derive_vars_assign`.
    """
    rows = filter_mask(df, filter, filter_values)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    for name, expression in expressions.items():
        value = compile_expression(expression).evaluate(out, filter_values)
        if pd.api.types.is_bool_dtype(value):
            raise ValueError(f"derive_vars_compute: {name} = {expression!r} is a condition, not a "
                             "value; flag it with derive_var_flag")
        if pd.api.types.is_string_dtype(value):
            out[name] = value.where(rows, "")
        else:
            out[name] = value.where(rows)  # NaN or NaT outside the filter
    return out


@derivation("derive_vars_cut")
def derive_vars_cut(df: pd.DataFrame, source_var: str, cuts: Sequence[float], labels: Sequence[str],
                    new_var: str, new_var_n: str | None = None) -> pd.DataFrame:
    """Categorise a numeric variable at increasing cut points.

    Categorise ``source_var`` into ``labels`` at the increasing ``cuts``; a value equal to a
    cut belongs to the category below it (SAP "Disease phase": <= 3, > 3 and <= 12, > 12).
    ``new_var_n`` gets the category number 1, 2, ...; a missing value gets ``""`` and NaN."""
    require_vars(df, "derive_vars_cut", source_var=source_var)
    if len(labels) != len(cuts) + 1:
        raise ValueError(f"{len(cuts)} cuts need {len(cuts) + 1} labels, got {len(labels)}")
    value = pd.to_numeric(df[source_var]).to_numpy(dtype="float64")
    number = np.searchsorted(np.asarray(cuts, dtype="float64"), value, side="left")
    known = ~np.isnan(value)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    names = np.asarray(list(labels), dtype=object)
    out[new_var] = pd.Series(np.where(known, names[np.minimum(number, len(cuts))], ""),
                             index=df.index, dtype="str")
    if new_var_n is not None:
        out[new_var_n] = np.where(known, number + 1.0, np.nan)
    return out


@derivation("derive_var_merged_exist_flag")
def derive_var_merged_exist_flag(df: pd.DataFrame, dataset_add: pd.DataFrame, by_vars: Sequence[str],
                                 new_var: str, filter_add: Filter = None, true_value: str = "Y",
                                 false_value: str = "N") -> pd.DataFrame:
    """Flag the records whose by-group has a record in ``dataset_add``.

    ``true_value`` when ``dataset_add`` has a record passing ``filter_add`` for the by-group
    (e.g. SAFFL: a dosing record with dose > 0), else ``false_value``."""
    require_vars(df, "derive_var_merged_exist_flag", by_vars=by_vars)
    require_vars(dataset_add, "derive_var_merged_exist_flag", frame="dataset_add", by_vars=by_vars)
    keys = dataset_add.loc[filter_mask(dataset_add, filter_add), list(by_vars)].drop_duplicates()
    found = df[list(by_vars)].merge(keys.assign(_found=True), on=list(by_vars), how="left")["_found"]
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = pd.Series(np.where(found.fillna(False).to_numpy(dtype=bool), true_value, false_value),
                             index=df.index, dtype="str")
    return out


@derivation("derive_var_merged_baseline")
def derive_var_merged_baseline(df: pd.DataFrame, dataset_add: pd.DataFrame, by_vars: Sequence[str],
                               source_var: str, date: str, ref_date: str, lookback_days: float,
                               order: Sequence[OrderKey], new_var: str,
                               filter_add: Filter = None) -> pd.DataFrame:
    """Subject-level baseline value from a findings dataset (an ADSL baseline variable).

    The SAP "Baseline" rule, by the same function as ADLB's ABLFL
    (:func:`~itp_adam.derive.core.derive_var_baseline_flag`): among ``dataset_add`` records
    passing ``filter_add`` with a numeric ``source_var`` (``"<5"`` counts as 5, text never),
    the last dated (ISO ``date``, date part) on or before ``ref_date`` of ``df`` and at most
    ``lookback_days`` before it, ties by ``order``. Its value becomes ``new_var``.
    """
    require_vars(df, "derive_var_merged_baseline", by_vars=by_vars, ref_date=ref_date)
    require_vars(dataset_add, "derive_var_merged_baseline", frame="dataset_add",
                 by_vars=by_vars, source_var=source_var, date=date, order=order)
    if ref_date in dataset_add:
        raise ValueError(f"dataset_add already has a column {ref_date}")
    # only the columns the rule reads are taken (not every column of a findings dataset)
    wanted = [*by_vars, source_var, date, *(name for name, _ in _order_keys(order))]
    add = dataset_add.loc[filter_mask(dataset_add, filter_add),
                          [name for name in dict.fromkeys(wanted) if name in dataset_add]]
    # the records of subjects in df (an inner merge: records in order), with df's ref_date
    refs = df[[*by_vars, ref_date]].drop_duplicates(list(by_vars))
    found = row_positions(add, refs, list(by_vars))
    work = add[found >= 0].reset_index(drop=True)
    work[ref_date] = refs[ref_date].iloc[found[found >= 0]].to_numpy()
    work["_value"] = parse_result(work[source_var])["value"].to_numpy()
    # the date part of ISO ``date`` read once per distinct value
    codes, days = _distinct_text(pc.utf8_slice_codeunits(arrow_array(work[date]), 0, 10))
    work["_date"] = pd.to_datetime(days, format="%Y-%m-%d", errors="coerce").to_numpy()[codes]
    flagged = derive_var_baseline_flag(work, by_vars, "_date", ref_date, lookback_days, order,
                                       new_var="_base", source_var="_value")
    chosen = flagged.loc[flagged["_base"].eq("Y").to_numpy(dtype=bool), [*by_vars, "_value"]]
    rows = row_positions(df, chosen, list(by_vars))  # one chosen record per group
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = np.append(chosen["_value"].to_numpy(dtype="float64"), np.nan)[rows]
    return out


@derivation("map_values")
def map_values(df: pd.DataFrame, source_var: str, mapping: Mapping[str, Any], default: Any = "") -> pd.Series:
    """Look up each value of ``source_var`` in ``mapping`` (e.g. PARAMCD -> PARAM).

    The value of ``source_var`` looked up in ``mapping`` (e.g. PARAMCD -> PARAM); ``default``
    where it is not listed. Returns one value per record (a variable source)."""
    require_vars(df, "map_values", source_var=source_var)
    codes, distinct = pd.factorize(df[source_var], use_na_sentinel=False)  # once per value
    looked_up = pd.Series(distinct, dtype=object).map(dict(mapping)).fillna(default)
    # all text: a str column by pyarrow take; all numbers: a float column (no object column
    # of one Python object per record); else the objects themselves
    if all(isinstance(value, str) for value in looked_up):
        return spread_text(looked_up.to_numpy(dtype=object), codes, df.index)
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in looked_up):
        return pd.Series(looked_up.to_numpy(dtype="float64")[codes], index=df.index)
    return pd.Series(looked_up.to_numpy(dtype=object)[codes], index=df.index)
