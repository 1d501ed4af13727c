"""Per-record BDS variables (itp_adam.derive.bds), with hand-worked values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from itp_adam.derive.bds import derive_var_anrind, derive_var_ontrtfl, derive_var_shift
from itp_adam.derive.checks import MissingVariable

NAN = np.nan


def dates(*values: str | None) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype=object))


# --- derive_var_ontrtfl ----------------------------------------------------------------------


@pytest.fixture
def records() -> pd.DataFrame:
    """First dose 2024-01-10, last dose 2024-03-10 unless said otherwise."""
    rows = [
        # ADT, AVISIT, TRTSDT, TRTEDT
        ("2024-01-09", "Baseline", "2024-01-10", "2024-03-10"),  # 0 before the first dose
        ("2024-01-10", "Baseline", "2024-01-10", "2024-03-10"),  # 1 dose day, pre-dose visit
        ("2024-01-10", "Week 2", "2024-01-10", "2024-03-10"),  # 2 dose day, not Baseline
        ("2024-01-10", "", "2024-01-10", "2024-03-10"),  # 3 dose day, AVISIT missing
        ("2024-03-10", "Week 8", "2024-01-10", "2024-03-10"),  # 4 the last dose day
        ("2024-03-11", "Week 9", "2024-01-10", "2024-03-10"),  # 5 the day after
        (None, "Week 4", "2024-01-10", "2024-03-10"),  # 6 no date
        (None, "Baseline", "2024-01-10", "2024-03-10"),  # 7 no date, Baseline
        ("2024-05-01", "Week 16", "2024-01-10", None),  # 8 treatment end unknown
        ("2024-01-11", "Week 1", None, None),  # 9 never treated
        (None, "Week 1", None, None),  # 10 never treated, no date
    ]
    df = pd.DataFrame(rows, columns=["ADT", "AVISIT", "TRTSDT", "TRTEDT"])
    for name in ("ADT", "TRTSDT", "TRTEDT"):
        df[name] = pd.to_datetime(df[name])
    df["AVISIT"] = df["AVISIT"].astype("str")
    return df


def test_ontrtfl_sap_rule(records):
    out = derive_var_ontrtfl(records, filter_pre_timepoint="AVISIT == 'Baseline'")
    # (a) 4 (= TRTEDT), 8 (no TRTEDT); (b) 2, 3 (missing AVISIT is not Baseline); (c) 6
    assert out["ONTRTFL"].tolist() == ["", "", "Y", "Y", "Y", "", "Y", "", "Y", "", ""]
    assert "ONTRTFL" not in records


def test_ontrtfl_window_no_pre_timepoint_and_no_end(records):
    window = derive_var_ontrtfl(records, new_var="F", filter_pre_timepoint="AVISIT == 'Baseline'",
                                ref_end_window=1)
    assert window["F"].tolist()[5] == "Y"  # 2024-03-11 <= 2024-03-10 + 1
    every = derive_var_ontrtfl(records)  # no pre-dose filter: the dose day and undated too
    assert every["ONTRTFL"].tolist() == ["", "Y", "Y", "Y", "Y", "", "Y", "Y", "Y", "", ""]
    open_end = derive_var_ontrtfl(records, ref_end_date=None,
                                  filter_pre_timepoint="AVISIT == 'Baseline'")
    assert open_end["ONTRTFL"].tolist() == ["", "", "Y", "Y", "Y", "Y", "Y", "", "Y", "", ""]
    with pytest.raises(MissingVariable, match="derive_var_ontrtfl: variable TRTEDTX"):
        derive_var_ontrtfl(records, ref_end_date="TRTEDTX")


# --- derive_var_anrind -----------------------------------------------------------------------


def test_anrind_rule_with_rounding_to_15_significant_digits():
    df = pd.DataFrame({
        "AVAL": [5.0, 3.0, 7.0, 2.0, 2.0, 4.0, NAN, 4.0, 0.1 + 0.2, 0.3, 3 * 0.2],
        "ANRLO": [3.5, 3.5, NAN, NAN, 3.0, 3.0, 3.0, NAN, 0.1, 0.1 * 3, 0.1],
        "ANRHI": [6.0, 6.0, 6.0, 6.0, NAN, NAN, 6.0, NAN, 0.3, 1.0, 0.6],
    })
    out = derive_var_anrind(df)
    # 0 inside; 1 below; 2 above the only limit; 3 under the only (high) limit: NORMAL; 4 below
    # the only (low) limit; 5 above it: NORMAL; 6 no value; 7 no limit; 8 0.30000000000000004
    # vs ANRHI 0.3 and 10 0.6000000000000001 vs 0.6: equal once rounded; 9 0.3 vs ANRLO
    # 0.30000000000000004: equal once rounded
    assert out["ANRIND"].tolist() == ["NORMAL", "LOW", "HIGH", "NORMAL", "LOW", "NORMAL", "", "",
                                      "NORMAL", "NORMAL", "NORMAL"]
    raw = derive_var_anrind(df, new_var="RAW", signif_digits=None)
    assert raw["RAW"].tolist()[8:] == ["HIGH", "LOW", "HIGH"]  # the floating point noise
    assert str(out["ANRIND"].dtype) == "str"


def test_anrind_other_variables():
    df = pd.DataFrame({"X": [1.0, 9.0], "L": [2.0, 2.0], "H": [8.0, 8.0]})
    out = derive_var_anrind(df, new_var="XIND", value_var="X", low_var="L", high_var="H")
    assert out["XIND"].tolist() == ["LOW", "HIGH"]
    with pytest.raises(MissingVariable, match="argument low_var"):
        derive_var_anrind(df, value_var="X")


# --- derive_var_shift ------------------------------------------------------------------------


def test_shift_with_null_for_missing_and_a_filter():
    df = pd.DataFrame({
        "PARAMCD": ["ALT", "ALT", "ALT", "HGB", "ALT"],
        "BNRIND": pd.Series(["NORMAL", "", None, "LOW", " HIGH "], dtype="str"),
        "ANRIND": pd.Series(["HIGH", "", "LOW", "LOW", "HIGH"], dtype="str"),
        "BTOXGRN": [0.0, NAN, 1.0, 2.0, 4.0],
        "ATOXGRN": [-1.0, NAN, NAN, 2.5, 4.0],
    })
    out = derive_var_shift(df, "SHIFT1", "BNRIND", "ANRIND")
    assert out["SHIFT1"].tolist() == ["NORMAL to HIGH", "NULL to NULL", "NULL to LOW",
                                      "LOW to LOW", "HIGH to HIGH"]
    out = derive_var_shift(df, "SHIFT2", "BTOXGRN", "ATOXGRN", filter="PARAMCD == 'ALT'",
                           missing_value="MISSING", sep_val=" -> ")
    # numbers in their shortest form; HGB is outside the filter
    assert out["SHIFT2"].tolist() == ["0 -> -1", "MISSING -> MISSING", "1 -> MISSING", "",
                                      "4 -> 4"]
