"""Record-level derivations and flags (admiral style): one job per function, whole columns only.

Shared conventions:

* ``by_vars``: list of grouping columns (missing values form their own group).
* ``order``: list of sort keys, each a column name (ascending) or a pair ``(name, "desc")`` /
  ``[name, "desc"]`` (YAML). Missing values (NaN, NaT, and with ``blank_last`` the blank text
  ``""``) sort last in both directions, as in dplyr after admiral's ``convert_blanks_to_na``;
  ``"desc"`` reverses the non-missing values only. Text sorts by character code (``"B" < "a"``).
  Rows still tied keep their input order.
* ``filter``: None (all rows), a boolean Series with the frame's index, a boolean array, or an
  expression of the spec language (:mod:`itp_adam.spec.expr`, text or compiled); missing counts as
  False.
* Every function returns a new frame with the new columns added, rows in input order.
"""

from __future__ import annotations

import operator as op
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from .columns import (arrow_array, arrow_text, as_str, group_codes, key_ranks, order_of_ranks,
                      row_positions, run_edges, spread_text)
from .dates import _distinct_text, _text, _to_days
from ..spec.expr import Expression, compile_expression
from ..spec.registry import derivation
from .checks import require_vars

Filter = pd.Series | np.ndarray | str | Expression | None
OrderKey = str | Sequence[str]

_OPERATORS = {">=": op.ge, ">": op.gt, "<=": op.le, "<": op.lt, "==": op.eq, "!=": op.ne}
_RESULT = r"^(?P<comparator>[<>])?\s*(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))$"


def filter_mask(df: pd.DataFrame, filter: Filter, values: Mapping[str, object] | None = None) -> np.ndarray:
    """Resolve a ``filter`` argument (see module doc) to a boolean array over ``df``'s rows;
    ``@name`` in an expression is taken from ``values``."""
    if filter is None:
        return np.ones(len(df), dtype=bool)
    if isinstance(filter, str):
        filter = compile_expression(filter)
    if isinstance(filter, Expression):
        return filter.mask(df, values)
    if isinstance(filter, pd.Series):
        if not filter.index.equals(df.index):
            raise ValueError("filter Series must have the same index as the data frame")
        return filter.fillna(False).to_numpy(dtype=bool)
    mask = np.asarray(filter, dtype=bool)
    if mask.shape != (len(df),):
        raise ValueError(f"filter has shape {mask.shape}, expected ({len(df)},)")
    return mask


def text_select(conditions: Sequence[np.ndarray], choices: Sequence[str], default: str,
                index: pd.Index) -> pd.Series:
    """``np.select`` for text: a ``str`` column holding, per row, the choice of the first true
    condition (else ``default``). Built by taking from the few labels (pyarrow), not from a
    per-row array of strings, which pandas would convert value by value."""
    import pyarrow as pa

    codes = np.select(list(conditions), list(range(len(choices))), default=len(choices))
    labels = pa.array([*map(str, choices), str(default)], type=pa.large_string())
    return pd.Series(pd.array(labels.take(pa.array(codes.astype(np.int32))), dtype="str"),
                     index=index)


def text_is_in(values: pd.Series, allowed: pd.Series | Sequence[str]) -> np.ndarray:
    """Whether each text value is one of ``allowed`` (missing: never), as a boolean array.
    pyarrow's hash lookup: pandas' ``Series.isin`` takes ~0.7 s for 100,000 values against
    100,000 allowed ones, this takes ~0.01 s."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(pd.Series(values).astype("str").array).cast(pa.large_string())
    wanted = pa.array(pd.Series(allowed).astype("str").dropna().drop_duplicates().array)
    found = pc.is_in(text, value_set=wanted.cast(pa.large_string()))  # null -> False
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def _order_keys(order: Sequence[OrderKey]) -> list[tuple[str, bool]]:
    """Parse ``order`` into ``(column, ascending)`` pairs."""
    keys = []
    for key in order:
        if isinstance(key, str):
            keys.append((key, True))
            continue
        name, direction = key
        if direction not in ("asc", "desc"):
            raise ValueError(f"sort direction of {name!r} must be 'asc' or 'desc', not {direction!r}")
        keys.append((name, direction == "asc"))
    return keys


def _is_text(values: pd.Series) -> bool:
    """Whether a column holds text: a ``str`` column, or an object column of strings."""
    if isinstance(values.dtype, pd.StringDtype):
        return True
    return values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _blank_as_missing(values: pd.Series) -> pd.Series:
    """A text column with ``""`` (and blanks only) as missing, so it sorts last; other columns
    are returned unchanged."""
    if not _is_text(values):
        return values
    array = arrow_array(values)
    blank = pc.equal(pc.utf8_trim_whitespace(array), "")
    return as_str(pc.if_else(blank, None, array), values.index)


def order_columns(df: pd.DataFrame, order: Sequence[OrderKey], blank_last: bool = True
                  ) -> list[tuple[pd.Series, bool]]:
    """``order`` (see module doc) as ``(column, ascending)`` sort keys for
    :func:`_select_extreme`; with ``blank_last`` a blank text value is missing (sorts last)."""
    keys = []
    for name, ascending in _order_keys(order):
        values = df[name]
        keys.append((_blank_as_missing(values) if blank_last else values, ascending))
    return keys


def round_signif(values: np.ndarray | pd.Series, digits: int = 15) -> np.ndarray:
    """Numbers rounded to ``digits`` significant digits (R's ``signif``; NaN stays NaN).

    Removes floating point noise before a value is compared with a limit (SAP 0.6: ``3 * 0.2``
    is ``0.6000000000000001``, rounded it equals ``0.6``)."""
    x = pd.to_numeric(pd.Series(values)).to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        magnitude = np.floor(np.log10(np.abs(x)))
        decimals = np.where(np.isfinite(magnitude), digits - 1 - magnitude, 0.0)
        scale = 10.0 ** decimals
        rounded = np.round(x * scale) / scale
    # 0, inf and values whose scaling overflows are kept as they are
    return np.where(np.isfinite(rounded) & (x != 0), rounded, x)


def _select_extreme(
    df: pd.DataFrame,
    by_vars: Sequence[str],
    sort_keys: Sequence[tuple[pd.Series | np.ndarray, bool]],
    candidates: np.ndarray,
    mode: str,
) -> np.ndarray:
    """Boolean array marking, per by-group, the first/last candidate row in ``sort_keys`` order."""
    if mode not in ("first", "last"):
        raise ValueError(f"mode must be 'first' or 'last', not {mode!r}")
    rows = np.flatnonzero(candidates)
    # candidates sorted by group, then by the keys (stable: ties keep the input order); keys
    # ranked on whole columns (text ranks are remembered per column) and taken by row
    groups = group_codes(df, by_vars)[rows]
    ranks = [(groups, int(groups.max(initial=-1)) + 1)]
    for values, ascending in sort_keys:
        codes, k = key_ranks(values if isinstance(values, pd.Series) else np.asarray(values),
                             ascending)
        ranks.append((codes[rows], k))
    order = order_of_ranks(ranks, len(rows))
    # the first (last) row of each group's run in that order
    chosen = run_edges(groups[order], mode)
    selected = np.zeros(len(df), dtype=bool)
    selected[rows[order[chosen]]] = True
    return selected


def _with_missing_text(values: pd.Series) -> pd.Series:
    """Text columns get ``""`` for missing (frame convention); other columns are unchanged."""
    return values.fillna("") if pd.api.types.is_string_dtype(values) else values


@derivation("derive_var_extreme_flag")
def derive_var_extreme_flag(
    df: pd.DataFrame,
    by_vars: Sequence[str],
    order: Sequence[OrderKey],
    new_var: str,
    mode: str = "last",
    filter: Filter = None,
    true_value: str = "Y",
    false_value: str = "",
    blank_last: bool = True,
) -> pd.DataFrame:
    """Flag the first or last record per by-group after sorting by ``order``.

    Only rows passing ``filter`` are candidates; they get ``true_value``/``false_value``.
    Rows outside the filter get ``""`` (as admiral's ``restrict_derivation`` leaves them NA).
    Missing by-values form groups of their own. Sorting follows SAP 0.5 (module doc): missing
    values last in both directions, ``[NAME, desc]`` reversing the others, text by character
    code, a blank text value missing (``blank_last=False``: ``""`` sorts as the smallest
    text instead); rows still tied keep their input order, so ``"last"`` takes the later row.
    """
    require_vars(df, "derive_var_extreme_flag", by_vars=by_vars, order=order)
    candidates = filter_mask(df, filter)
    keys = order_columns(df, order, blank_last)
    selected = _select_extreme(df, by_vars, keys, candidates, mode)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = text_select([selected, candidates], [true_value, false_value], "", df.index)
    return out


@derivation("derive_var_base")
def derive_var_base(
    df: pd.DataFrame,
    by_vars: Sequence[str],
    source_var: str = "AVAL",
    new_var: str = "BASE",
    flag_var: str = "ABLFL",
) -> pd.DataFrame:
    """Copy ``source_var`` of the group's ``flag_var == "Y"`` record to every record of the group.

    Every record of the by-group (before and after the baseline, flagged or not) gets the value
    of the group's flagged record: BASE from AVAL, and as well text variables (BASEC from
    AVALC, BNRIND from ANRIND, BTOXGR from ATOXGR) and dates, each keeping its type. Include
    ``BASETYPE`` in ``by_vars`` when the dataset has several baseline types. Missing by-values
    form groups of their own. Groups without a flagged record get missing (``""`` for text);
    two flagged records in a group is an error naming the groups.
    """
    require_vars(df, "derive_var_base", by_vars=by_vars, source_var=source_var, flag_var=flag_var)
    flagged = df.loc[df[flag_var].eq("Y").to_numpy(dtype=bool), [*by_vars, source_var]]
    duplicated = flagged.duplicated(list(by_vars))
    if duplicated.any():
        keys = flagged.loc[duplicated, list(by_vars)].drop_duplicates().head(5).to_dict("records")
        raise ValueError(f"more than one {flag_var} record per group for {keys}")
    # a left merge on integer codes: missing (NaN, with the merge's type) where no flagged record
    rows = row_positions(df, flagged, list(by_vars))
    base = flagged[source_var].reset_index(drop=True).reindex(rows)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    if _is_text(df[source_var]):  # text also when no group has a flagged record
        base = base.astype("str")
    out[new_var] = _with_missing_text(base).set_axis(df.index)
    return out


@derivation("derive_var_chg")
def derive_var_chg(
    df: pd.DataFrame, new_var: str = "CHG", aval: str = "AVAL", base: str = "BASE"
) -> pd.DataFrame:
    """Change from baseline: ``AVAL - BASE`` (NaN when either is missing)."""
    require_vars(df, "derive_var_chg", aval=aval, base=base)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = pd.to_numeric(df[aval]) - pd.to_numeric(df[base])
    return out


@derivation("derive_var_pchg")
def derive_var_pchg(
    df: pd.DataFrame, new_var: str = "PCHG", aval: str = "AVAL", base: str = "BASE"
) -> pd.DataFrame:
    """Percent change from baseline: ``100 * (AVAL - BASE) / BASE``; NaN when BASE is 0 or missing."""
    require_vars(df, "derive_var_pchg", aval=aval, base=base)
    value = pd.to_numeric(df[aval]).to_numpy(dtype="float64")
    baseline = pd.to_numeric(df[base]).to_numpy(dtype="float64")
    usable = ~np.isnan(baseline) & (baseline != 0)
    safe_base = np.where(usable, baseline, 1.0)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = np.where(usable, 100 * (value - baseline) / safe_base, np.nan)
    return out


@derivation("derive_var_baseline_flag")
def derive_var_baseline_flag(
    df: pd.DataFrame,
    by_vars: Sequence[str],
    date: str,
    ref_date: str,
    lookback_days: float,
    order: Sequence[OrderKey],
    new_var: str = "ABLFL",
    filter: Filter = None,
    source_var: str = "AVAL",
) -> pd.DataFrame:
    """Flag the baseline record: SAP "Baseline" rule.

    Per group, the last record with non-missing ``source_var`` dated on or before ``ref_date``
    and at most ``lookback_days`` before it (``ref - date <= lookback_days``). Several records
    on that date are ordered by ``order`` (e.g. ``["LBTIM", "LBSEQ"]``: latest time, then the
    last in sequence; a missing time ``""`` sorts before any ``"HH:MM"``, so a timed record
    beats an untimed one). The baseline record gets ``"Y"``, all others ``""``.
    """
    require_vars(df, "derive_var_baseline_flag",
                 by_vars=by_vars, date=date, ref_date=ref_date, order=order, source_var=source_var)
    days_before = _to_days(df[ref_date]) - _to_days(df[date])
    candidates = (
        filter_mask(df, filter)
        & df[source_var].notna().to_numpy(dtype=bool)
        & (days_before >= 0)
        & (days_before <= lookback_days)
    )
    # "" (an untimed sample) sorts before any "HH:MM" here, as documented above
    return derive_var_extreme_flag(
        df, by_vars, [date, *order], new_var, mode="last", filter=candidates, false_value="",
        blank_last=False,
    )


@derivation("derive_var_anl_flag")
def derive_var_anl_flag(
    df: pd.DataFrame,
    by_vars: Sequence[str],
    day_var: str,
    target_var: str,
    order_tiebreak: Sequence[OrderKey],
    new_var: str = "ANL01FL",
    filter: Filter = None,
    source_var: str = "AVAL",
) -> pd.DataFrame:
    """Flag the analysis record per group (SAP "Analysis record selection").

    Among rows with non-missing ``source_var``, ``day_var`` and ``target_var`` (and passing
    ``filter``): the one closest to the target day; equidistant days -> the later day; same
    day -> ``order_tiebreak``, e.g. ``[("LBTIM", "desc"), ("LBSEQ", "desc")]`` for the later
    time, then the higher sequence. The chosen row gets ``"Y"``, all others ``""``.
    """
    require_vars(df, "derive_var_anl_flag",
                 by_vars=by_vars, day_var=day_var, target_var=target_var, order_tiebreak=order_tiebreak, source_var=source_var)
    day = pd.to_numeric(df[day_var]).to_numpy(dtype="float64")
    target = pd.to_numeric(df[target_var]).to_numpy(dtype="float64")
    candidates = (
        filter_mask(df, filter)
        & df[source_var].notna().to_numpy(dtype=bool)
        & ~np.isnan(day)
        & ~np.isnan(target)
    )
    keys = [(np.abs(day - target), True), (day, False)]
    keys += [(df[name], ascending) for name, ascending in _order_keys(order_tiebreak)]
    selected = _select_extreme(df, by_vars, keys, candidates, mode="first")
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = text_select([selected], ["Y"], "", df.index)
    return out


@derivation("derive_var_crit_flag")
def derive_var_crit_flag(
    df: pd.DataFrame,
    source_var: str,
    threshold: float,
    crit_var: str,
    crit_label: str,
    flag_var: str,
    operator: str = ">=",
    filter: Filter = None,
    filter_values: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Add a criterion ``crit_var`` (= ``crit_label``) and its flag ``flag_var`` (SAP "Response").

    Evaluated rows - ``filter`` True and ``source_var`` non-missing - get the label and
    ``"Y"`` if ``source_var <operator> threshold`` else ``"N"``; other rows get ``""`` for both.
    ``@name`` in ``filter`` is taken from ``filter_values`` (e.g. the study's parameter code).
    """
    require_vars(df, "derive_var_crit_flag", source_var=source_var)
    if operator not in _OPERATORS:
        raise ValueError(f"operator must be one of {sorted(_OPERATORS)}, not {operator!r}")
    value = pd.to_numeric(df[source_var]).to_numpy(dtype="float64")
    evaluated = filter_mask(df, filter, filter_values) & ~np.isnan(value)
    met = _OPERATORS[operator](value, threshold)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[crit_var] = text_select([evaluated], [crit_label], "", df.index)
    out[flag_var] = text_select([evaluated & met, evaluated], ["Y", "N"], "", df.index)
    return out


def _lookup_table(rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """A list of mappings (a table written in YAML) as a frame; every row with the same keys."""
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence) or not rows or not all(
            isinstance(row, Mapping) for row in rows):
        raise ValueError("dataset_add must be a data frame or a non-empty list of mappings "
                         "(a lookup table), one per row")
    keys = list(rows[0])
    for number, row in enumerate(rows, start=1):
        if list(row) != keys:
            raise ValueError(f"dataset_add row {number} has keys {list(row)}; every row of a "
                             f"lookup table needs the keys of the first: {keys}")
    table = pd.DataFrame.from_records(list(rows), columns=keys)
    for name in keys:  # text columns as str ("" for a missing value), numbers as float64
        column = table[name]
        if all(isinstance(v, str) or v is None for v in column):
            table[name] = column.fillna("").astype("str")
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) or v is None for v in column):
            table[name] = pd.to_numeric(column).astype("float64")
    return table


@derivation("derive_vars_merged")
def derive_vars_merged(
    df: pd.DataFrame,
    dataset_add: pd.DataFrame | Sequence[Mapping[str, object]],
    by_vars: Sequence[str],
    new_vars: Sequence[str] | Mapping[str, str],
    filter_add: Filter = None,
    order: Sequence[OrderKey] | None = None,
    mode: str | None = None,
    filter_values: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Left-join variables of ``dataset_add`` onto ``df`` by ``by_vars`` (e.g. ADSL onto ADLB).

    ``new_vars`` is a list of names, or a mapping ``{new name: name in dataset_add}``.
    ``filter_add`` restricts ``dataset_add`` first; with ``order`` and ``mode`` (``first`` or
    ``last``) one record per by-group is taken, as admiral's ``derive_vars_merged`` (e.g. the
    first dosing record with dose > 0 gives TRTSDT). Unmatched rows get ``""`` (text) or
    NaN/NaT. Raises ValueError when ``dataset_add`` still has duplicate keys or a new variable
    already exists in ``df``. ``dataset_add`` may also be a lookup table written in the specs,
    a list of mappings with the same keys (``{study: lab_parameters}``: PARAMCD, PARAM and
    PARAMN per LBTESTCD), so a table of the plan is written once and read like the plan.
    """
    require_vars(df, "derive_vars_merged", by_vars=by_vars)
    if not isinstance(dataset_add, pd.DataFrame):
        dataset_add = _lookup_table(dataset_add)
    sources = new_vars.values() if isinstance(new_vars, Mapping) else new_vars
    require_vars(dataset_add, "derive_vars_merged", frame="dataset_add", by_vars=by_vars,
                 order=order, new_vars=sources)
    renames = dict(new_vars) if isinstance(new_vars, Mapping) else {name: name for name in new_vars}
    existing = sorted(set(renames) & set(df.columns))
    if existing:
        raise ValueError(f"variables already in the data frame: {existing}")
    dataset_add = dataset_add[filter_mask(dataset_add, filter_add, filter_values)]
    if (order is None) != (mode is None):
        raise ValueError("order and mode go together: give both or neither")
    if order is not None:
        keys = [(dataset_add[name], ascending) for name, ascending in _order_keys(order)]
        picked = _select_extreme(dataset_add, by_vars, keys, np.ones(len(dataset_add), bool), mode)
        dataset_add = dataset_add[picked]
    duplicated = dataset_add.duplicated(list(by_vars))
    if duplicated.any():
        keys = dataset_add.loc[duplicated, list(by_vars)].drop_duplicates().head(5).to_dict("records")
        raise ValueError(f"dataset_add has duplicate keys {list(by_vars)}: {keys}")
    add = dataset_add[list(by_vars)].copy(deep=False)
    for new_name, source in renames.items():
        add[new_name] = dataset_add[source]
    merged = df[list(by_vars)].reset_index(drop=True).merge(add, on=list(by_vars), how="left")
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    for new_name in renames:
        out[new_name] = _with_missing_text(merged[new_name]).set_axis(df.index)
    return out


@derivation("convert_units")
def convert_units(
    df: pd.DataFrame,
    value_var: str,
    unit_var: str,
    factors: Mapping[str, float] | Mapping[str, Mapping[str, float]],
    new_var: str,
    *,
    param_var: str | None = None,
    unknown_var: str | None = None,
    digits: int | None = None,
) -> pd.DataFrame:
    """Convert ``value_var`` to the standard unit: ``new_var = value * factor[unit]``.

    ``factors`` is ``{unit: factor}``, or with ``param_var`` a per-test table
    ``{test: {unit: factor}}`` (SAP "Laboratory standardisation", e.g.
    ``{"Hemoglobin": {"g/L": 1, "g/dL": 10}}``), since a unit such as ``U/L`` may be
    valid for one test and not another. Units match after stripping blanks. A non-missing
    value whose (test,) unit has no factor gets NaN; ``unknown_var`` (if given) adds a
    boolean column marking those rows for the data-issues report. ``digits`` rounds the
    result, removing binary noise such as ``0.1 * 3``.
    """
    require_vars(df, "convert_units", value_var=value_var, unit_var=unit_var, param_var=param_var)
    units = _text(df[unit_var]).reset_index(drop=True)
    if param_var is None:
        if any(isinstance(factor, Mapping) for factor in factors.values()):
            raise ValueError("a per-test factor table needs param_var")
        factor = units.map({unit.strip(): float(value) for unit, value in factors.items()})
    else:
        table = pd.DataFrame(
            [
                (test, unit.strip(), float(value))
                for test, by_unit in factors.items()
                for unit, value in by_unit.items()
            ],
            columns=["__test", "__unit", "__factor"],
        ).astype({"__test": "str", "__unit": "str"})
        keys = pd.DataFrame({"__test": _text(df[param_var]).reset_index(drop=True), "__unit": units})
        factor = keys.merge(table, on=["__test", "__unit"], how="left", validate="many_to_one")[
            "__factor"
        ]
    value = pd.to_numeric(df[value_var]).to_numpy(dtype="float64")
    converted = value * factor.to_numpy(dtype="float64")
    if digits is not None:
        converted = np.round(converted, digits)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = converted
    if unknown_var is not None:
        out[unknown_var] = ~np.isnan(value) & factor.isna().to_numpy(dtype=bool)
    return out


@derivation("derive_var_trtemfl")
def derive_var_trtemfl(
    df: pd.DataFrame,
    start_date: str,
    trt_start: str,
    trt_end: str | None = None,
    end_window_days: float | None = None,
    new_var: str = "TRTEMFL",
    end_date: str | None = None,
    start_missing: str = "emergent",
) -> pd.DataFrame:
    """Treatment-emergent flag: event start within the treatment period plus a window.

    ``new_var`` is ``"Y"`` or ``""``, decided by the first rule that applies (admiral's
    ``derive_var_trtemfl``; dates are compared as days, a time of day is ignored):

    1. ``trt_start`` missing (not treated): ``""``;
    2. ``end_date`` given and the event ended before ``trt_start``: ``""``;
    3. ``start_date`` missing: ``"Y"`` with ``start_missing="emergent"`` (the default, as
       admiral: assuming the event emergent is the conservative choice), ``""`` with
       ``start_missing="not_emergent"`` (such an event is listed for review, not counted);
    4. start on or after ``trt_start`` and, when ``trt_end`` is given, on or before
       ``trt_end + end_window_days`` or ``trt_end`` missing (treatment still running): ``"Y"``;
    5. otherwise ``""``.

    ``trt_end`` and ``end_window_days`` go together (without them there is no upper bound).
    E.g. TRTSDT missing -> ``""``; AENDT < TRTSDT -> ``""``; ASTDT missing -> ``"Y"``;
    ASTDT >= TRTSDT and (TRTEDT missing or ASTDT <= TRTEDT + 30) -> ``"Y"``:
    ``derive_var_trtemfl(adae, "ASTDT", "TRTSDT", "TRTEDT", 30, end_date="AENDT")``.
    """
    require_vars(df, "derive_var_trtemfl", start_date=start_date, trt_start=trt_start,
                 trt_end=trt_end, end_date=end_date)
    if start_missing not in ("emergent", "not_emergent"):
        raise ValueError("derive_var_trtemfl: start_missing must be 'emergent' or 'not_emergent', "
                         f"not {start_missing!r}")
    if (trt_end is None) != (end_window_days is None):
        raise ValueError("derive_var_trtemfl: trt_end and end_window_days go together: give both "
                         "or neither")
    start = _to_days(df[start_date])
    treated_from = _to_days(df[trt_start])
    if trt_end is None:
        within = np.ones(len(df), dtype=bool)
    else:
        upper = _to_days(df[trt_end]) + float(end_window_days)
        within = (start <= upper) | np.isnan(upper)
    not_treated = np.isnan(treated_from)
    ended_before = np.zeros(len(df), dtype=bool) if end_date is None \
        else _to_days(df[end_date]) < treated_from  # NaN: False
    unknown_start = np.isnan(start)
    emergent = (start >= treated_from) & within
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = text_select(
        [not_treated | ended_before, unknown_start, emergent],
        ["", "Y" if start_missing == "emergent" else "", "Y"], "", df.index)
    return out


@derivation("parse_result")
def parse_result(values: pd.Series) -> pd.DataFrame:
    """Split reported results into ``value`` (float), ``comparator`` and ``is_text``.

    SAP "Laboratory standardisation": ``"12"`` -> 12; ``"<5"`` -> 5 with ``"<"`` (``">"``
    likewise); a text result such as ``"CLUMPED"`` -> NaN with ``is_text`` True; blank -> NaN,
    ``""``, not text. Same index as ``values``.
    """
    # parsed once per distinct result (a few thousand even in 3M records), then taken back
    codes, distinct = _distinct_text(arrow_text(values))
    parts = distinct.str.extract(_RESULT)
    number = parts["number"]
    is_text = distinct.ne("").to_numpy(dtype=bool) & number.isna().to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "value": pd.to_numeric(number).to_numpy(dtype="float64", na_value=np.nan)[codes],
            "comparator": spread_text(parts["comparator"].fillna("").astype("str").to_numpy(
                dtype=object), codes, values.index),
            "is_text": is_text[codes],
        },
        index=values.index,
    )
