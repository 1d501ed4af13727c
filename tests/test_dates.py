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
    iso_date_parts,
    iso_date_range,
    iso_datetime,
    known_iso,
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


def test_study_day_of_iso_text_counts_complete_dates_only() -> None:
    """SDTM --DY from ISO 8601 text (SV, SE): a time is dropped, dates with and without a time
    mix in one column (once a ValueError: pandas took the first value's format for all), and a
    partial date has no study day (once taken as the 1st of its month or year)."""
    df = pd.DataFrame({
        "RFSTDTC": pd.Series(["2024-03-10T08:00", "2024-03-10", "2024-03-10", "2024-03-10",
                              "2024-03", "", None, "2024-03-10"], dtype="str"),
        "SVSTDTC": pd.Series(["2024-03-10", "2024-03-12T23:59", "2024-03", "2024", "2024-03-10",
                              "2024-03-10", "2024-03-10", "2024-03-08T10:00"], dtype="str"),
    })
    got = derive_var_dy(df, "SVSTDY", "RFSTDTC", "SVSTDTC")["SVSTDY"].tolist()
    # by hand: 1 (same day), 3 (12th - 10th + 1), partial / missing -> none, -2 (8th - 10th)
    assert got[:2] == [1.0, 3.0] and got[7] == -2.0
    assert all(np.isnan(v) for v in got[2:7])
    # the same texts in object columns (a frame built by hand in Python) count the same way
    as_objects = df.astype(object).where(df.notna(), None)
    again = derive_var_dy(as_objects, "SVSTDY", "RFSTDTC", "SVSTDTC")["SVSTDY"].tolist()
    assert again[:2] == [1.0, 3.0] and again[7] == -2.0 and all(np.isnan(v) for v in again[2:7])


def test_a_date_that_is_not_a_day_of_the_calendar_is_named() -> None:
    """A derivation called from Python on unchecked text: the column and the value are named
    (pandas' own message, 'day is out of range for month', named neither)."""
    df = pd.DataFrame({"RFSTDTC": pd.Series(["2024-03-10"] * 3, dtype="str"),
                       "SVSTDTC": pd.Series(["2024-03-11", "2024-02-30", "2024-13"], dtype="str")})
    with pytest.raises(ValueError, match=r"^SVSTDTC: '2024-02-30' is not a day of the calendar"):
        derive_var_dy(df, "SVSTDY", "RFSTDTC", "SVSTDTC")  # 2024-13 is partial: no study day
    with pytest.raises(ValueError, match=r"^SVSTDTC: '2024-02-30' .*; 2 such value\(s\)\)$"):
        iso_date_range(df["SVSTDTC"])  # 2024-13 -> its first day, 2024-13-01: none either


def test_a_bound_date_that_is_not_a_day_of_the_calendar_is_named() -> None:
    """An ISO text bound counts by its complete dates; an impossible one stops the derivation
    with its name and value, not a silent 'no bound' (which would leave the start uncapped)."""
    df = pd.DataFrame({"AESTDTC": ["2024-03", "2024-03"], "AEENDTC": ["2024-03-05", "2024-02-30"]})
    with pytest.raises(ValueError, match=r"^AEENDTC: '2024-02-30' is not a day of the calendar"):
        derive_vars_dt(df, "AST", "AESTDTC", date_imputation="first", max_dates=["AEENDTC"])
    ok = derive_vars_dt(df.iloc[:1], "AST", "AESTDTC", date_imputation="last",
                        max_dates=["AEENDTC"])
    assert ok["ASTDT"].tolist() == [ts("2024-03-05")]  # 31 March capped at the end 5 March


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


def test_iso_date_parts_of_iso_and_raw_dates() -> None:
    # ISO text keeps its first ten characters (a partial date as it is); a raw date is
    # converted (a partial one truncated, a bad one ""); four digits first means ASCII digits:
    # Arabic-Indic ones are neither ISO nor a raw date
    assert iso_date_parts(["2024-11-03T08:30", "03 NOV 2024", "UN NOV 2024", "UN UNK 2019",
                           "2024-11", "", "31 FEB 2024", "\u0661\u0662\u0663\u0664-01-01"]) == [
        "2024-11-03", "2024-11-03", "2024-11", "2019", "2024-11", "", "", ""]
    # complete_dates counts only the complete ones (it read the Arabic-Indic year as 1234)
    assert complete_dates(pd.Series(["03 NOV 2024", "\u0661\u0662\u0663\u0664-01-01"],
                                    dtype="str")).tolist() == [ts("2024-11-03"), pd.NaT]


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


# --- compute_duration: admiral's add_one, and the plain end - start + 1 --------------------


def test_add_one_only_to_non_negative_durations_as_admiral() -> None:
    df = pd.DataFrame({"ASTDT": dates("2024-03-10", "2024-03-10", "2024-03-10", "2024-03-10"),
                       "AENDT": dates("2024-03-05", "2024-03-09", "2024-03-10", "2024-03-12")})
    admiral = compute_duration(df, "ADURN", "ASTDT", "AENDT")
    # 5 days before: -5 (nothing added); 1 day before: -1; same day: 0 + 1; 2 days after: 2 + 1
    assert admiral["ADURN"].tolist() == [-5, -1, 1, 3]
    plain = compute_duration(df, "ADURN", "ASTDT", "AENDT", add_one_if_negative=True)
    assert plain["ADURN"].tolist() == [-4, 0, 1, 3]  # AENDT - ASTDT + 1 whatever the sign
    none = compute_duration(df, "ADURN", "ASTDT", "AENDT", add_one=False)
    assert none["ADURN"].tolist() == [-5, -1, 0, 2]
    # add_one=False wins: add_one_if_negative only says where the one is added
    assert compute_duration(df, "D", "ASTDT", "AENDT", add_one=False,
                            add_one_if_negative=True)["D"].tolist() == [-5, -1, 0, 2]


def test_add_one_in_months_counts_the_day_before_dividing() -> None:
    df = pd.DataFrame({"S": dates("2024-03-10", "2024-03-10", None),
                       "E": dates("2024-03-05", "2024-04-09", "2024-04-09")})
    out = compute_duration(df, "M", "S", "E", unit="months", days_per_month=30.4375)
    # -5 days: nothing added, -5 / 30.4375; 30 days + 1 = 31 -> 31 / 30.4375
    assert out["M"].iloc[0] == pytest.approx(-5 / 30.4375)
    assert out["M"].iloc[1] == pytest.approx(31 / 30.4375)
    assert np.isnan(out["M"].iloc[2])


# --- derive_vars_dt: min_dates / max_dates (SAP ADAE ASTDT, AENDT) ----------------------------


def test_end_imputed_last_but_not_after_death_or_end_of_study_in_its_period() -> None:
    df = pd.DataFrame({
        "AEENDTC": ["2014-05", "2014-05", "2014", "2014-05", "2014-05-28", ""],
        "DTHDT": dates("2014-05-20", "2014-06-02", None, None, "2014-05-20", "2014-05-20"),
        "EOSDT": dates("2014-05-25", "2014-06-10", "2014-06-01", "2014-05-31", "2014-05-25",
                       "2014-05-25"),
    })
    out = derive_vars_dt(df, "AEN", "AEENDTC", date_imputation="last",
                         max_dates=["DTHDT", "EOSDT"])
    assert out["AENDT"].tolist() == [
        ts("2014-05-20"),  # both in May: 31 May lowered to the earlier, the death 20 May
        ts("2014-05-31"),  # both in June, outside the month May: 31 May
        ts("2014-06-01"),  # year 2014: 31 Dec lowered to the end of study 1 Jun
        ts("2014-05-31"),  # end of study on the last day: no change
        ts("2014-05-28"),  # complete: never changed (after death is kept as collected)
        pd.NaT,
    ]
    # the flag follows the shape of AEENDTC, also where a bound gave the date
    assert out["AENDTF"].tolist() == ["D", "D", "M", "D", "", ""]


def test_a_bound_naming_a_missing_column_names_the_argument() -> None:
    from itp_adam.derive.checks import MissingVariable

    df = pd.DataFrame({"DTC": ["2024-03"], "TRTSDT": dates("2024-03-10")})
    with pytest.raises(MissingVariable, match=r"variable TRTSDTX \(argument min_dates\)"):
        derive_vars_dt(df, "A", "DTC", date_imputation="first", min_dates=["TRTSDTX"])


# --- derive_vars_dtm ---------------------------------------------------------------------------

DTC = ["2024-03-05T08:30:15", "2024-03-05T08:30", "2024-03-05T08", "2024-03-05", "2024-03",
       "2024", "", "2024-03-05T24:00", "2024-02-30T10:00", "2024-03T10:00", " 2024-03-05T08 "]


def dtm(df: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    from itp_adam.derive.dates import derive_vars_dtm

    return derive_vars_dtm(df, "AST", "DTC", **kwargs)


def test_dtm_first_imputes_00_00_00_and_flags_the_highest_part_imputed() -> None:
    out = dtm(pd.DataFrame({"DTC": DTC}), highest_imputation="M")
    nat = pd.NaT
    assert out["ASTDTM"].tolist() == [
        ts("2024-03-05 08:30:15"),  # complete: kept
        ts("2024-03-05 08:30:00"),  # seconds imputed
        ts("2024-03-05 08:00:00"),  # minutes and seconds
        ts("2024-03-05 00:00:00"),  # no time: hour, minutes, seconds
        ts("2024-03-01 00:00:00"),  # day and time
        ts("2024-01-01 00:00:00"),  # month, day and time
        nat,  # blank: the year is missing, higher than M
        nat,  # hour 24 is not a time
        nat,  # 30 Feb is not a date
        nat,  # a time needs a complete date
        ts("2024-03-05 08:00:00"),  # surrounding blanks ignored
    ]
    assert out["ASTDTF"].tolist() == ["", "", "", "", "D", "M", "", "", "", "", ""]
    assert out["ASTTMF"].tolist() == ["", "S", "M", "H", "H", "H", "", "", "", "", "M"]
    assert out["ASTDTM"].dtype == "datetime64[us]"


def test_dtm_last_imputes_23_59_59_and_the_last_day() -> None:
    out = dtm(pd.DataFrame({"DTC": DTC[:6]}), highest_imputation="M", date_imputation="last",
              time_imputation="last")
    assert out["ASTDTM"].tolist() == [
        ts("2024-03-05 08:30:15"), ts("2024-03-05 08:30:59"), ts("2024-03-05 08:59:59"),
        ts("2024-03-05 23:59:59"), ts("2024-03-31 23:59:59"), ts("2024-12-31 23:59:59")]


def test_dtm_explicit_time_fills_only_the_missing_parts() -> None:
    out = dtm(pd.DataFrame({"DTC": ["2024-03-05T08", "2024-03-05", "2024-03-05T08:30"]}),
              time_imputation="12:34:56")
    assert out["ASTDTM"].tolist() == [ts("2024-03-05 08:34:56"), ts("2024-03-05 12:34:56"),
                                      ts("2024-03-05 08:30:56")]


@pytest.mark.parametrize(("highest", "present"), [
    # which of DTC[:6] (complete, no seconds, hour only, date only, YYYY-MM, YYYY) get a value
    ("n", [True, False, False, False, False, False]),
    ("s", [True, True, False, False, False, False]),
    ("m", [True, True, True, False, False, False]),
    ("h", [True, True, True, True, False, False]),
    ("D", [True, True, True, True, True, False]),
    ("M", [True, True, True, True, True, True]),
])
def test_dtm_highest_imputation_level(highest: str, present: list[bool]) -> None:
    out = dtm(pd.DataFrame({"DTC": DTC[:6]}), highest_imputation=highest)
    assert out["ASTDTM"].notna().tolist() == present
    # auto: the date flag only when a date part may be imputed, the time flag unless "n"
    assert ("ASTDTF" in out) == (highest in ("D", "M"))
    assert ("ASTTMF" in out) == (highest != "n")


def test_dtm_day_level_takes_a_day_number() -> None:
    out = dtm(pd.DataFrame({"DTC": ["2024-02", "2024"]}), highest_imputation="D",
              date_imputation="15")
    assert out["ASTDTM"].tolist() == [ts("2024-02-15 00:00:00"), pd.NaT]
    assert out["ASTDTF"].tolist() == ["D", ""]


def test_dtm_flag_imputation_and_ignore_seconds_flag() -> None:
    df = pd.DataFrame({"DTC": ["2024-03-05T08:30", "2024-03"]})
    assert list(dtm(df, highest_imputation="M", flag_imputation="none").columns) == ["DTC", "ASTDTM"]
    assert list(dtm(df, flag_imputation="date").columns) == ["DTC", "ASTDTM", "ASTDTF"]
    assert list(dtm(df, flag_imputation="both").columns) == ["DTC", "ASTDTM", "ASTDTF", "ASTTMF"]
    assert dtm(df, highest_imputation="M")["ASTTMF"].tolist() == ["S", "H"]
    assert dtm(df, highest_imputation="M", ignore_seconds_flag=True)["ASTTMF"].tolist() == ["", "H"]


def test_dtm_start_raised_to_first_dose_in_its_period_flags_keep_the_shape() -> None:
    """SAP ADAE ASTDTM: AESTDTC imputed first, TRTSDT when it lies in the partial period."""
    df = pd.DataFrame({"DTC": ["2014-03", "2014", "2014-04", "2014-03-02", ""],
                       "TRTSDT": dates(*["2014-03-10"] * 5)})
    out = dtm(df, highest_imputation="M", min_dates=["TRTSDT"])
    assert out["ASTDTM"].tolist() == [ts("2014-03-10"), ts("2014-03-10"), ts("2014-04-01"),
                                      ts("2014-03-02"), pd.NaT]  # all at 00:00:00
    assert out["ASTDTF"].tolist() == ["D", "M", "D", "", ""]
    assert out["ASTTMF"].tolist() == ["H", "H", "H", "H", ""]


def test_dtm_datetime_bound_counts_within_the_hour_or_day_the_value_could_be() -> None:
    df = pd.DataFrame({"DTC": ["2014-03-10", "2014-03-10T07", "2014-03-10T08", "2014-03",
                               "2014-03-10T08:20"],
                       "TRTSDTM": pd.to_datetime(["2014-03-10 08:15:00"] * 5)})
    out = dtm(df, highest_imputation="M", min_dates=["TRTSDTM"])
    assert out["ASTDTM"].tolist() == [
        ts("2014-03-10 08:15:00"),  # the whole day is possible: raised to the dose time
        ts("2014-03-10 07:00:00"),  # 07:00-07:59:59 does not hold 08:15
        ts("2014-03-10 08:15:00"),  # 08:00-08:59:59 does
        ts("2014-03-10 08:15:00"),
        ts("2014-03-10 08:20:00"),  # 08:20:00-08:20:59: 08:15 not in it
    ]
    # the highest time part missing in DTC or changed by the bound
    assert out["ASTTMF"].tolist() == ["H", "M", "M", "H", "S"]


def test_dtm_end_lowered_to_date_bounds_at_23_59_59() -> None:
    """SAP ADAE AENDTM: imputed last, not after DTHDT or EOSDT within the partial period."""
    df = pd.DataFrame({"DTC": ["2014-05", "2014", "2014-05", "2014-05-03", "2014-05-20T10:00"],
                       "DTHDT": dates("2014-05-20", None, "2014-06-02", "2014-05-01", "2014-05-20"),
                       "EOSDT": dates("2014-05-25", "2014-06-01", None, None, None)})
    out = dtm(df, highest_imputation="M", date_imputation="last", time_imputation="last",
              max_dates=["DTHDT", "EOSDT"])
    assert out["ASTDTM"].tolist() == [
        ts("2014-05-20 23:59:59"),  # the earlier of the two dates in May
        ts("2014-06-01 23:59:59"),
        ts("2014-05-31 23:59:59"),  # death in June: outside May
        ts("2014-05-03 23:59:59"),  # a date bound on another day: no effect
        ts("2014-05-20 10:00:59"),  # seconds last; 20 May 23:59:59 is not in 10:00:00-10:00:59
    ]
    assert out["ASTDTF"].tolist() == ["D", "M", "D", "", ""]
    assert out["ASTTMF"].tolist() == ["H", "H", "H", "H", "S"]


def test_dtm_literal_datetime_and_date_bounds() -> None:
    df = pd.DataFrame({"DTC": ["2014-05", "2014-05-10T12", "2014-05-10"]})
    out = dtm(df, highest_imputation="M", date_imputation="last", time_imputation="last",
              max_dates=[dt.datetime(2014, 5, 10, 12, 0)])
    assert out["ASTDTM"].tolist() == [ts("2014-05-10 12:00:00"), ts("2014-05-10 12:00:00"),
                                      ts("2014-05-10 12:00:00")]
    assert out["ASTTMF"].tolist() == ["H", "M", "H"]
    by_date = dtm(df, highest_imputation="M", date_imputation="last", time_imputation="last",
                  max_dates=[dt.date(2014, 5, 10)])  # a date: up to 23:59:59 of its day
    assert by_date["ASTDTM"].tolist() == [ts("2014-05-10 23:59:59"), ts("2014-05-10 12:59:59"),
                                          ts("2014-05-10 23:59:59")]


def test_dtm_year_level_imputes_a_blank_value_from_the_bounds_alone() -> None:
    df = pd.DataFrame({"DTC": ["", "", "2014-05"],
                       "A": dates("2014-01-05", None, "2014-05-07"),
                       "B": dates("2014-02-01", None, "2014-06-01")})
    out = dtm(df, highest_imputation="Y", min_dates=["A", "B"])
    # the latest min date (B); no min date: missing; 2014-05: only A lies in May
    assert out["ASTDTM"].tolist() == [ts("2014-02-01"), pd.NaT, ts("2014-05-07")]
    assert out["ASTDTF"].tolist() == ["Y", "", "D"]
    assert out["ASTTMF"].tolist() == ["H", "", "H"]
    with pytest.raises(ValueError, match="needs min_dates"):
        dtm(df, highest_imputation="Y")
    with pytest.raises(ValueError, match="'first' or 'last'"):
        dtm(df, highest_imputation="Y", date_imputation="mid", min_dates=["A"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"highest_imputation": "X"}, "highest_imputation"),
    ({"time_imputation": "24:00:00"}, "time_imputation"),
    ({"time_imputation": "8:00"}, "time_imputation"),
    ({"flag_imputation": "yes"}, "flag_imputation"),
    ({"highest_imputation": "M", "date_imputation": "13-01"}, "date_imputation"),
])
def test_dtm_invalid_rules(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dtm(pd.DataFrame({"DTC": ["2024"]}), **kwargs)


def test_dtm_keeps_input_index_and_reads_each_distinct_value_once() -> None:
    df = pd.DataFrame({"DTC": pd.Series(["2024-03", None, "2024-03", "2024-03-05T08:00"],
                                        index=[9, 4, 7, 1], dtype="str")})
    out = dtm(df, highest_imputation="M")
    assert list(df.columns) == ["DTC"]  # input not mutated
    assert out.index.tolist() == [9, 4, 7, 1]
    assert out["ASTDTM"].tolist() == [ts("2024-03-01"), pd.NaT, ts("2024-03-01"),
                                      ts("2024-03-05 08:00")]
    assert out["ASTTMF"].tolist() == ["H", "", "H", "S"]


def test_a_component_not_known_is_read_as_a_truncation():
    """SDTMIG writes a component not known in the middle as a hyphen; the date derivations
    read what is known before it, as admiral's imputation does by default (preserve = FALSE):
    2003---15 is 2003 (the day without its month is not used), 2003-12-15T-:15 is 2003-12-15,
    and --12-15 (no year) is blank. Worked out by hand from the truncated values."""
    import pyarrow as pa

    from itp_adam.derive.dates import derive_vars_dtm

    values = ["2003---15", "2003", "--12-15", "2003-12-15T-:15", "2003-12-15T13:-:17", "2024-03"]
    assert known_iso(pa.array(values, pa.large_string())).to_pylist() == [
        "2003", "2003", "", "2003-12-15", "2003-12-15T13", "2024-03"]
    dtc = pd.Series(values, name="AESTDTC")
    assert complete_dates(dtc).tolist()[:5] == [pd.NaT, pd.NaT, pd.NaT, ts("2003-12-15"),
                                                ts("2003-12-15")]
    earliest, latest = iso_date_range(dtc)
    assert earliest.tolist()[:3] == [ts("2003-01-01"), ts("2003-01-01"), pd.NaT]
    assert latest.tolist()[:3] == [ts("2003-12-31"), ts("2003-12-31"), pd.NaT]
    frame = pd.DataFrame({"AESTDTC": dtc})
    first = derive_vars_dt(frame, "AST", "AESTDTC", date_imputation="first")
    assert first["ASTDT"].tolist() == [ts("2003-01-01"), ts("2003-01-01"), pd.NaT,
                                       ts("2003-12-15"), ts("2003-12-15"), ts("2024-03-01")]
    assert first["ASTDTF"].tolist() == ["M", "M", "", "", "", "D"]
    last = derive_vars_dt(frame, "AEN", "AESTDTC", date_imputation="last", day_imputation="last")
    assert last["AENDT"].tolist()[:2] == [ts("2003-12-31"), ts("2003-12-31")]
    timed = derive_vars_dtm(frame, "AST", "AESTDTC", highest_imputation="M")
    assert timed["ASTDTM"].tolist()[3:5] == [ts("2003-12-15T00:00:00"), ts("2003-12-15T13:00:00")]
    assert timed["ASTTMF"].tolist()[3:5] == ["H", "M"]
