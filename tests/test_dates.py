"""Hand-worked tests of itp_adam.derive.dates (SAP "Dates")."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itp_adam.derive.dates import (
    complete_dates,
    compute_duration,
    derive_var_dy,
    derive_vars_dt,
    iso_date_range,
    iso_datetime,
    raw_date_to_iso,
)

CUTOFF = dt.date(2025, 4, 14)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def dates(*texts: str | None) -> pd.Series:
    return pd.to_datetime(pd.Series(list(texts), dtype=object))


# --- raw_date_to_iso -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "iso", "invalid"),
    [
        ("03 NOV 2024", "2024-11-03", False),
        ("UN NOV 2024", "2024-11", False),  # unknown day: truncated to year-month
        ("UN UNK 2019", "2019", False),  # unknown day and month: year only
        ("", "", False),  # blank: unknown, not an error
        ("   ", "", False),
        (" 29 feb 2024 ", "2024-02-29", False),  # blanks and lower case; 2024 is a leap year
        ("29 FEB 2023", "", True),  # 2023 is not a leap year
        ("31 FEB 2024", "", True),  # impossible date
        ("2024-02-03", "", True),  # wrong pattern
        ("03 XYZ 2024", "", True),  # unknown month name
        ("03 UNK 2024", "", True),  # known day with unknown month
        ("3 NOV 2024", "", True),  # the day needs two digits (DD)
        ("UN NOV", "", True),  # no year
    ],
)
def test_raw_date_to_iso(raw: str, iso: str, invalid: bool) -> None:
    result, bad = raw_date_to_iso(pd.Series([raw]))
    assert result.tolist() == [iso]
    assert bad.tolist() == [invalid]


def test_raw_date_to_iso_keeps_index_and_treats_none_as_blank() -> None:
    values = pd.Series(["01 JAN 2025", None], index=[10, 20], dtype=object)
    iso, invalid = raw_date_to_iso(values)
    assert iso.index.tolist() == [10, 20]
    assert iso.tolist() == ["2025-01-01", ""]
    assert invalid.tolist() == [False, False]


def test_iso_datetime_appends_time_only_to_complete_dates() -> None:
    result = iso_datetime(
        pd.Series(["2024-11-03", "2024-11", "2019", "", "2024-11-04"]),
        pd.Series(["08:30", "08:30", "08:30", "08:30", ""]),
    )
    assert result.tolist() == ["2024-11-03T08:30", "2024-11", "2019", "", "2024-11-04"]


# --- derive_vars_dt --------------------------------------------------------------------------


def test_diagnosis_imputation_day_15_and_month_day_07_01() -> None:
    df = pd.DataFrame({"DIAGDTC": ["2023-05", "2019", "2022-08-09", "", "2024-02"]})
    out = derive_vars_dt(df, "DIAG", "DIAGDTC", date_imputation="07-01", day_imputation=15)
    assert out["DIAGDT"].tolist() == [
        ts("2023-05-15"),  # missing day -> 15th
        ts("2019-07-01"),  # missing month and day -> 01 JUL
        ts("2022-08-09"),  # complete: kept
        pd.NaT,  # blank: no year, nothing to impute
        ts("2024-02-15"),
    ]
    assert out["DIAGDTF"].tolist() == ["D", "M", "", "", "D"]
    assert pd.api.types.is_datetime64_any_dtype(out["DIAGDT"])


def test_ae_start_imputed_to_first_dose_when_known_parts_match() -> None:
    df = pd.DataFrame(
        {
            "AESTDTC": ["2024-03", "2024", "2024-04", "2023", "2024-02", "2024-03-02"],
            "TRTSDT": dates(*["2024-03-10"] * 6),
        }
    )
    out = derive_vars_dt(df, "AST", "AESTDTC", date_imputation="first", min_dates=["TRTSDT"])
    assert out["ASTDT"].tolist() == [
        ts("2024-03-10"),  # March 2024 = first dose month/year -> first dose date
        ts("2024-03-10"),  # 2024 = first dose year -> first dose date
        ts("2024-04-01"),  # April: first dose not in April -> 1st of month
        ts("2023-01-01"),  # 2023 -> 01 JAN
        ts("2024-02-01"),  # February, before first dose -> 1st
        ts("2024-03-02"),  # complete dates never change, even before the first dose
    ]
    # a min-date adjustment keeps the flag of the level imputed
    assert out["ASTDTF"].tolist() == ["D", "M", "D", "M", "D", ""]


def test_ae_start_never_after_own_complete_end() -> None:
    df = pd.DataFrame(
        {
            "AESTDTC": ["2024-03", "2024", "2024-03", "2024-03"],
            "AEENDTC": ["2024-03-05", "2024-02-20T10:00", "2024-03", ""],
            "TRTSDT": dates(*["2024-03-10"] * 4),
        }
    )
    out = derive_vars_dt(
        df, "AST", "AESTDTC", date_imputation="first", min_dates=["TRTSDT"], max_dates=["AEENDTC"]
    )
    assert out["ASTDT"].tolist() == [
        ts("2024-03-05"),  # first dose 03-10 would be after the end 03-05 -> capped at the end
        ts("2024-02-20"),  # year only: 03-10 capped by the complete end 02-20 (time ignored)
        ts("2024-03-10"),  # partial end "2024-03" is not a complete end: no cap
        ts("2024-03-10"),  # no end
    ]
    assert out["ASTDTF"].tolist() == ["D", "M", "D", "D"]


def test_ae_end_last_day_capped_at_cutoff() -> None:
    df = pd.DataFrame(
        {"AEENDTC": ["2025-04", "2025", "2024-02", "2023-02", "2024", "2025-04-20", "2024-11"]}
    )
    out = derive_vars_dt(df, "AEN", "AEENDTC", date_imputation="last", max_dates=[CUTOFF])
    assert out["AENDT"].tolist() == [
        ts("2025-04-14"),  # 30 APR 2025 is after the cut-off 14 APR 2025 -> cut-off
        ts("2025-04-14"),  # 31 DEC 2025 -> cut-off
        ts("2024-02-29"),  # leap year: February has 29 days
        ts("2023-02-28"),
        ts("2024-12-31"),  # 31 DEC, before the cut-off
        ts("2025-04-20"),  # complete: never changed by max_dates
        ts("2024-11-30"),
    ]
    assert out["AENDTF"].tolist() == ["D", "M", "D", "D", "M", "", "D"]


def test_max_date_column_of_datetimes() -> None:
    df = pd.DataFrame({"DTC": ["2025-04"], "CUT": dates("2025-04-14")})
    out = derive_vars_dt(df, "X", "DTC", date_imputation="last", max_dates=["CUT"])
    assert out["XDT"].tolist() == [ts("2025-04-14")]  # 04-30 capped at 04-14


def test_no_imputation_and_day_only_imputation() -> None:
    df = pd.DataFrame({"DTC": ["2024-03", "2024", "2024-03-05T08:30", "nonsense", "2024-13"]})
    none = derive_vars_dt(df, "A", "DTC")
    assert none["ADT"].tolist() == [pd.NaT, pd.NaT, ts("2024-03-05"), pd.NaT, pd.NaT]
    assert none["ADTF"].tolist() == ["", "", "", "", ""]
    day_only = derive_vars_dt(df, "B", "DTC", day_imputation="first", flag_imputation=False)
    assert day_only["BDT"].tolist() == [ts("2024-03-01"), pd.NaT, ts("2024-03-05"), pd.NaT, pd.NaT]
    assert "BDTF" not in day_only.columns


def test_day_number_imputation_clipped_to_month_length() -> None:
    df = pd.DataFrame({"DTC": ["2024-04", "2023-02", "2024-02"]})
    out = derive_vars_dt(df, "A", "DTC", day_imputation=31)
    # April has 30 days; Feb 2023 28; Feb 2024 29
    assert out["ADT"].tolist() == [ts("2024-04-30"), ts("2023-02-28"), ts("2024-02-29")]


def test_mm_dd_rule_gives_its_day_to_year_month_dates_as_admiral() -> None:
    df = pd.DataFrame({"DTC": ["2024-05", "2024"]})
    out = derive_vars_dt(df, "A", "DTC", date_imputation="06-15")
    assert out["ADT"].tolist() == [ts("2024-05-15"), ts("2024-06-15")]


@pytest.mark.parametrize("rule", ["13-01", "02-30", "middle", "7-1"])
def test_invalid_date_imputation_rule(rule: str) -> None:
    with pytest.raises(ValueError, match="date_imputation"):
        derive_vars_dt(pd.DataFrame({"DTC": ["2024"]}), "A", "DTC", date_imputation=rule)


def test_invalid_day_imputation_rule() -> None:
    with pytest.raises(ValueError, match="day_imputation"):
        derive_vars_dt(pd.DataFrame({"DTC": ["2024-01"]}), "A", "DTC", day_imputation=32)


def test_derive_vars_dt_keeps_input_and_row_order() -> None:
    df = pd.DataFrame({"DTC": ["2024-03", "2024-01-02"]}, index=[7, 3])
    out = derive_vars_dt(df, "A", "DTC", date_imputation="first")
    assert list(df.columns) == ["DTC"]  # input not mutated
    assert out.index.tolist() == [7, 3]
    assert out["ADT"].tolist() == [ts("2024-03-01"), ts("2024-01-02")]


# --- derive_var_dy ---------------------------------------------------------------------------


def test_study_day_has_no_day_zero() -> None:
    df = pd.DataFrame(
        {
            "TRTSDT": dates(*["2024-03-10"] * 6),
            "ADT": dates("2024-03-09", "2024-03-10", "2024-03-11", "2024-02-28", "2025-03-10", None),
        }
    )
    out = derive_var_dy(df, "ADY", "TRTSDT", "ADT")
    assert out["ADY"].tolist()[:5] == [
        -1,  # 03-09 - 03-10 = -1 (before: no +1)
        1,  # 03-10 - 03-10 + 1 = 1
        2,  # 1 + 1
        -11,  # 2024 leap: Feb 28 -> Feb 29 -> Mar 1 .. Mar 10 = 1 + 1 + 9 = 11 days before
        366,  # 03-10-2024 -> 03-10-2025 spans no Feb 29 (Feb 2025 has 28): 365 + 1
    ]
    assert np.isnan(out["ADY"].iloc[5])


def test_study_day_across_leap_day() -> None:
    df = pd.DataFrame({"REF": dates("2024-02-20"), "D": dates("2024-03-01")})
    # Feb 20 -> Feb 29 = 9 days, -> Mar 1 = 10 days; + 1 = 11
    assert derive_var_dy(df, "DY", "REF", "D")["DY"].tolist() == [11]


@settings(max_examples=60, deadline=None)
@given(ref=st.dates(dt.date(2000, 1, 1), dt.date(2040, 1, 1)), offset=st.integers(-800, 800))
def test_study_day_never_zero(ref: dt.date, offset: int) -> None:
    day = ref + dt.timedelta(days=offset)
    df = pd.DataFrame({"REF": dates(ref.isoformat()), "D": dates(day.isoformat())})
    study_day = derive_var_dy(df, "DY", "REF", "D")["DY"].iloc[0]
    assert study_day != 0
    assert study_day == (offset + 1 if offset >= 0 else offset)


# --- compute_duration ------------------------------------------------------------------------


def test_treatment_duration_days_and_months() -> None:
    df = pd.DataFrame({"TRTSDT": dates("2024-01-01", None), "TRTEDT": dates("2024-12-31", "2024-12-31")})
    days = compute_duration(df, "TRTDURD", "TRTSDT", "TRTEDT")
    assert days["TRTDURD"].iloc[0] == 366  # 2024 is a leap year: 365 + 1
    assert np.isnan(days["TRTDURD"].iloc[1])
    months = compute_duration(df, "TRTDURM", "TRTSDT", "TRTEDT", unit="months")
    assert months["TRTDURM"].iloc[0] == pytest.approx(12.024640657)  # 366 / 30.4375


def test_itp_duration_in_months_without_add_one() -> None:
    df = pd.DataFrame({"DIAGDT": dates("2024-01-15"), "TRTSDT": dates("2024-04-15")})
    out = compute_duration(df, "ITPDURM", "DIAGDT", "TRTSDT", unit="months", add_one=False)
    # Jan 15 -> Apr 15 = 16 (rest of Jan) + 29 (Feb 2024) + 31 (Mar) + 15 = 91 days
    # 91 / 30.4375 = 2.98973 months (<= 3: newly diagnosed)
    assert out["ITPDURM"].iloc[0] == pytest.approx(2.989733059)


def test_compute_duration_rejects_unknown_unit() -> None:
    df = pd.DataFrame({"A": dates("2024-01-01"), "B": dates("2024-01-02")})
    with pytest.raises(ValueError, match="unit"):
        compute_duration(df, "D", "A", "B", unit="weeks")


# Dates are parsed once per distinct value, ISO text with a time by its date part: the time
# must still be well formed for derive_vars_dt, and anything else keeps its old meaning.


def test_derive_vars_dt_reads_the_date_of_well_formed_times_only() -> None:
    dtc = pd.Series(["2024-11-03T08:30", "2024-11-03T08:30:15.5", " 2024-11-03T09:00 ",
                     "2024-11-03T", "2024-11-03T8:3x", "2024-11-03 08:30", "2024-02-30T10:00",
                     "2024-11T10:00", "2024-11", None, "2024-11-03xyz"], dtype="str")
    out = derive_vars_dt(pd.DataFrame({"DTC": dtc}), "A", "DTC", date_imputation="first")
    day, nat = ts("2024-11-03"), pd.NaT
    assert out["ADT"].tolist() == [day, day, day, day, nat, nat, nat, nat, ts("2024-11-01"),
                                   nat, nat]
    assert out["ADTF"].tolist() == ["", "", "", "", "", "", "", "", "D", "", ""]


def test_complete_dates_take_the_first_ten_characters_of_iso_text() -> None:
    values = pd.Series(["2024-11-03T08:30", "2024-11-03xyz", " 03 nov 2024 ", "UN NOV 2024",
                        "2024-11", "", None, "2024-11-04"], dtype="str")
    day = ts("2024-11-03")
    assert complete_dates(values).tolist() == [day, day, day, pd.NaT, pd.NaT, pd.NaT, pd.NaT,
                                               ts("2024-11-04")]


def test_derive_vars_dt_of_repeated_values_and_blank_variants_keep_each_rows_date() -> None:
    dtc = pd.Series(["2024-11", " 2024-11", "2024-11-03T08:30", None, "2024-11 ", "",
                     "2024-11-03T09:00", "2024-11"], index=[7, 6, 5, 4, 3, 2, 1, 0], dtype="str")
    out = derive_vars_dt(pd.DataFrame({"DTC": dtc}), "A", "DTC", date_imputation="last")
    nov30, nov3, nat = ts("2024-11-30"), ts("2024-11-03"), pd.NaT
    assert out["ADT"].tolist() == [nov30, nov30, nov3, nat, nov30, nat, nov3, nov30]
    assert out["ADTF"].tolist() == ["D", "D", "", "", "D", "", "", "D"]


def test_complete_dates_of_repeated_values_and_blank_variants_keep_each_rows_date() -> None:
    values = pd.Series(["03 NOV 2024", " 03 NOV 2024", None, "03 NOV 2024 ", "", "  ",
                        "2024-11-04T10:00", "2024-11-04", None, "03 NOV 2024"],
                       index=[5, 4, 3, 2, 1, 0, 10, 11, 12, 13], dtype="str")
    nov3, nov4, nat = ts("2024-11-03"), ts("2024-11-04"), pd.NaT
    got = complete_dates(values)
    assert got.index.tolist() == values.index.tolist()
    assert got.tolist() == [nov3, nov3, nat, nov3, nat, nat, nov4, nov4, nat, nov3]
    # the same column read twice (its codes remembered) gives the same dates
    assert complete_dates(values).tolist() == got.tolist()


def test_iso_date_range_of_partial_dates_with_times_and_blanks() -> None:
    earliest, latest = iso_date_range(pd.Series(["2024-02", "2024", "2024-11-03T08:30", "", None],
                                                index=[9, 8, 7, 6, 5], dtype="str"))
    assert earliest.index.tolist() == [9, 8, 7, 6, 5]
    assert earliest.tolist()[:3] == [ts("2024-02-01"), ts("2024-01-01"), ts("2024-11-03")]
    assert latest.tolist()[:3] == [ts("2024-02-29"), ts("2024-12-31"), ts("2024-11-03")]
    assert earliest.iloc[3:].isna().all() and latest.iloc[3:].isna().all()


def test_iso_datetime_strips_the_time_and_skips_missing_times() -> None:
    out = iso_datetime(pd.Series(["2024-11-03", "2024-11-03", " 2024-11-04 "], dtype="str"),
                       pd.Series([" 08:30 ", None, "09:00"], dtype="str"))
    assert out.tolist() == ["2024-11-03T08:30", "2024-11-03", "2024-11-04T09:00"]
