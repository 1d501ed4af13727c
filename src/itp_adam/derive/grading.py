"""Laboratory toxicity grades relative to the upper limit of normal (SAP "Laboratory toxicity grades")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .columns import distinct_rows, labels, positions
from .dates import _text
from ..spec.registry import derivation
from .checks import require_vars


def _cut_matrix(grading: Mapping[str, Sequence[float]]) -> np.ndarray:
    """One row of ULN multiples per parameter, padded with +inf (a bound never exceeded)."""
    width = max((len(cuts) for cuts in grading.values()), default=0)
    matrix = np.full((len(grading), width), np.inf)
    for row, (param, cuts) in enumerate(grading.items()):
        if any(b <= a for a, b in zip(cuts, cuts[1:])) or any(c <= 0 for c in cuts):
            raise ValueError(f"grading of {param!r} must be positive and increasing: {list(cuts)}")
        matrix[row, : len(cuts)] = cuts
    return matrix


@derivation("derive_var_atoxgr")
def derive_var_atoxgr(
    df: pd.DataFrame,
    value_var: str,
    uln_var: str,
    param_var: str,
    grading: Mapping[str, Sequence[float]],
    new_var: str = "ATOXGR",
) -> pd.DataFrame:
    """Add the toxicity grade ``new_var`` from the value's multiple of the ULN.

    ``grading`` gives per parameter the increasing ULN multiples that bound grades 1, 2, ...
    (SAP, CTCAE v5.0: ALT/AST ``[1, 3, 5, 20]``, BILI ``[1, 1.5, 3, 10]``). The grade is
    the number of bounds the value exceeds: ``<= 1 x ULN`` -> 0, ``> 1 to 3 x ULN`` -> 1, ...,
    ``> 20 x ULN`` -> 4. A value equal to a bound (within floating-point rounding) takes the
    lower grade, as CTCAE's "> k x ULN" reads.

    The grade is character ``"0"``.. (CDISC ``ATOXGR`` is Char); ``""`` when the value or
    ULN is missing, the ULN is not positive, or the parameter has no grading.
    """
    require_vars(df, "derive_var_atoxgr", value_var=value_var, uln_var=uln_var, param_var=param_var)
    # graded once per distinct (value, ULN, parameter), then taken back by code
    codes, distinct = distinct_rows(df, [value_var, uln_var, param_var])
    row = positions(_text(distinct[param_var]), pd.Series(list(grading), dtype="str"))
    value = pd.to_numeric(distinct[value_var]).to_numpy(dtype="float64")
    uln = pd.to_numeric(distinct[uln_var]).to_numpy(dtype="float64")
    gradable = (row >= 0) & ~np.isnan(value) & ~np.isnan(uln) & (np.nan_to_num(uln) > 0)

    bounds = _cut_matrix(grading)[np.where(gradable, row, 0)] if grading else np.empty((len(row), 0))
    limits = bounds * np.where(gradable, uln, 1.0)[:, None]
    value_col = np.where(gradable, value, 0.0)[:, None]
    exceeded = (value_col > limits) & ~np.isclose(value_col, limits, rtol=1e-9, atol=0.0)
    grade = exceeded.sum(axis=1)

    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    names = [str(number) for number in range(bounds.shape[1] + 1)] + [""]  # "" not gradable
    out[new_var] = labels(names, np.where(gradable, grade, len(names) - 1)[codes], df.index)
    return out
