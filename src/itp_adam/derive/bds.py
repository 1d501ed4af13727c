"""Per-record variables of a BDS dataset (ADLB, ADVS): on-treatment flag, reference range
indicator, shift from baseline; admiral's ``derive_var_ontrtfl``, ``derive_var_anrind`` and
``derive_var_shift``.

Each adds one variable to every record, from variables of the same record, on whole columns.
Dates are compared as days (a time of day is ignored); flags are ``"Y"`` or ``""``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .checks import require_vars
from .columns import TEXT, arrow_text, as_str, labels
from .core import Filter, filter_mask, round_signif, text_select
from .dates import _to_days
from .labs import normal_range_indicator
from ..spec.registry import derivation


@derivation("derive_var_ontrtfl")
def derive_var_ontrtfl(
    df: pd.DataFrame,
    new_var: str = "ONTRTFL",
    start_date: str = "ADT",
    ref_start_date: str = "TRTSDT",
    ref_end_date: str | None = "TRTEDT",
    ref_end_window: float = 0,
    filter_pre_timepoint: Filter = None,
    filter_values: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Flag the records on treatment: from the first dose to the end of treatment plus a window.

    ``new_var`` is ``"Y"`` when (SAP 3.4, admiral's ``derive_var_ontrtfl`` for one date):

    a. ``ref_start_date < start_date <= ref_end_date + ref_end_window`` (days), or
       ``ref_start_date < start_date`` with ``ref_end_date`` missing (or not given:
       ``ref_end_date: null``, no upper bound);
    b. ``start_date == ref_start_date`` and the record is not pre-dose: it fails
       ``filter_pre_timepoint`` (an expression, e.g. ``"AVISIT == 'Baseline'"``; a missing
       AVISIT does not equal ``'Baseline'``, so it counts as not pre-dose; no filter: every
       record of the first dose day is on treatment);
    c. ``start_date`` missing, ``ref_start_date`` present and the record not pre-dose.

    Otherwise ``""`` (also when ``ref_start_date`` is missing). ``@name`` in
    ``filter_pre_timepoint`` is taken from ``filter_values``.
    """
    require_vars(df, "derive_var_ontrtfl", start_date=start_date, ref_start_date=ref_start_date,
                 ref_end_date=ref_end_date)
    date = _to_days(df[start_date])
    ref_start = _to_days(df[ref_start_date])
    ref_end = _to_days(df[ref_end_date]) + float(ref_end_window) if ref_end_date is not None \
        else np.full(len(df), np.nan)
    pre = filter_mask(df, filter_pre_timepoint, filter_values) if filter_pre_timepoint is not None \
        else np.zeros(len(df), dtype=bool)
    after_start = (ref_start < date) & ((date <= ref_end) | np.isnan(ref_end))
    on_start_day = (date == ref_start) & ~pre
    undated = np.isnan(date) & ~np.isnan(ref_start) & ~pre
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = text_select([after_start | on_start_day | undated], ["Y"], "", df.index)
    return out


@derivation("derive_var_anrind")
def derive_var_anrind(
    df: pd.DataFrame,
    new_var: str = "ANRIND",
    value_var: str = "AVAL",
    low_var: str = "ANRLO",
    high_var: str = "ANRHI",
    signif_digits: int | None = 15,
) -> pd.DataFrame:
    """Reference range indicator: ``LOW``, ``NORMAL`` or ``HIGH`` against the normal range.

    With the value and both limits first rounded to ``signif_digits`` significant digits
    (SAP 0.6; ``null``: not rounded), ``new_var`` is ``NORMAL`` when ``low_var <= value_var
    <= high_var``, or the value is on the side of the one limit present that is normal; else
    ``LOW`` when below ``low_var``, ``HIGH`` when above ``high_var``; ``""`` when the value is
    missing or both limits are (SAP 3.4 ANRIND). The rule is that of SDTM's --NRIND
    (:func:`~itp_adam.derive.labs.normal_range_indicator`), applied to the rounded values.
    """
    require_vars(df, "derive_var_anrind", value_var=value_var, low_var=low_var, high_var=high_var)
    columns = {}
    for name, column in (("value", value_var), ("low", low_var), ("high", high_var)):
        values = pd.to_numeric(df[column]).to_numpy(dtype="float64", na_value=np.nan)
        columns[name] = values if signif_digits is None else round_signif(values, signif_digits)
    rounded = pd.DataFrame(columns, index=df.index)
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = normal_range_indicator(rounded, "value", "low", "high")
    return out


def _shift_text(values: pd.Series) -> pa.Array:
    """A variable as text for a shift: stripped, ``""`` for missing; numbers in their shortest
    form (``1.0`` -> ``"1"``), written once per distinct value."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        codes, distinct = pd.factorize(numbers, use_na_sentinel=False)
        written = np.char.mod("%.15g", np.asarray(distinct, dtype="float64")).astype(object)
        written[np.isnan(np.asarray(distinct, dtype="float64"))] = ""
        return arrow_text(labels(list(written), codes, values.index))
    return arrow_text(values)


@derivation("derive_var_shift")
def derive_var_shift(
    df: pd.DataFrame,
    new_var: str,
    from_var: str,
    to_var: str,
    missing_value: str = "NULL",
    sep_val: str = " to ",
    filter: Filter = None,
    filter_values: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Shift text ``"<from_var> to <to_var>"``, e.g. ``NORMAL to HIGH`` (SHIFT1, SHIFT2).

    ``new_var`` joins the two values with ``sep_val``, a missing (blank) value written
    ``missing_value``: ``NULL to NULL`` when both are missing (SAP 3.4 SHIFT1 from BNRIND to
    ANRIND). Numbers are written in their shortest form (``1.0`` -> ``1``). Only the records
    passing ``filter`` get a shift (SHIFT2: the graded parameters); the others get ``""``.
    ``@name`` in ``filter`` is taken from ``filter_values``.
    """
    require_vars(df, "derive_var_shift", from_var=from_var, to_var=to_var)
    rows = filter_mask(df, filter, filter_values)
    parts = []
    for name in (from_var, to_var):
        text = _shift_text(df[name])
        parts.append(pc.if_else(pc.equal(text, ""), pa.scalar(missing_value, TEXT), text))
    shift = pc.binary_join_element_wise(*parts, pa.scalar(sep_val, TEXT))
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    out[new_var] = as_str(pc.if_else(pa.array(rows), shift, pa.scalar("", TEXT)), df.index)
    return out
