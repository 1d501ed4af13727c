"""Analysis visit windows: assign records to analysis visits by study day (SAP "Analysis visits")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from .core import Filter, filter_mask
from ..spec.registry import derivation
from .checks import require_vars


class Window(BaseModel):
    """One analysis visit window: days ``lo`` to ``hi`` inclusive, with its target day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    avisit: str
    avisitn: float
    target: float
    lo: float
    hi: float


WindowLike = Window | Mapping[str, object]


@derivation("check_windows")
def check_windows(windows: Iterable[WindowLike]) -> list[Window]:
    """Validate windows (mappings from a spec are accepted) and return them sorted by ``lo``.

    Raises ValueError naming the window when ``lo > hi``, when the target lies outside
    ``[lo, hi]``, or when two windows overlap (bounds are inclusive, so ``hi`` of one must be
    below ``lo`` of the next). Gaps between windows are allowed.
    """
    checked = sorted(
        (w if isinstance(w, Window) else Window.model_validate(w) for w in windows),
        key=lambda w: w.lo,
    )
    for w in checked:
        if w.lo > w.hi:
            raise ValueError(f"window {w.avisit!r}: lo {w.lo:g} is after hi {w.hi:g}")
        if not w.lo <= w.target <= w.hi:
            raise ValueError(
                f"window {w.avisit!r}: target {w.target:g} is outside [{w.lo:g}, {w.hi:g}]"
            )
    for before, after in zip(checked, checked[1:]):
        if after.lo <= before.hi:
            raise ValueError(f"windows {before.avisit!r} and {after.avisit!r} overlap")
    return checked


@derivation("derive_vars_window")
def derive_vars_window(
    df: pd.DataFrame,
    day_var: str,
    windows: Iterable[WindowLike],
    *,
    filter: Filter = None,
) -> pd.DataFrame:
    """Add AVISIT, AVISITN, AWTARGET, AWLO, AWHI from the window containing ``day_var``.

    SAP: post-baseline records are placed by study day whatever their nominal label. Rows
    whose day is missing or in no window, or that fail ``filter`` (e.g. ``ADY >= 2``), get
    ``""`` / NaN. Windows are checked with :func:`check_windows` first.
    """
    require_vars(df, "derive_vars_window", day_var=day_var)
    checked = check_windows(windows)
    # One row per window plus a trailing all-missing row, which position -1 ("no window") picks.
    table = pd.DataFrame(
        {
            "AVISIT": pd.Series([w.avisit for w in checked] + [""], dtype="str"),
            "AVISITN": [w.avisitn for w in checked] + [np.nan],
            "AWTARGET": [w.target for w in checked] + [np.nan],
            "AWLO": [w.lo for w in checked] + [np.nan],
            "AWHI": [w.hi for w in checked] + [np.nan],
        }
    )
    position = np.full(len(df), -1)
    if checked:
        intervals = pd.IntervalIndex.from_arrays(table["AWLO"][:-1], table["AWHI"][:-1], closed="both")
        position = intervals.get_indexer(pd.to_numeric(df[day_var]).to_numpy(dtype="float64"))
    position = np.where(filter_mask(df, filter), position, -1)
    picked = table.iloc[position]
    out = df.copy(deep=False)  # copy-on-write: adding columns leaves df as it was
    for name in table.columns:
        out[name] = pd.Series(picked[name].to_numpy(), index=df.index, dtype=table[name].dtype)
    return out
